"""Build, run and drive the host-platform meter simulator (esphome_configs/simulator.yaml).

Plain helpers without pytest, so fixtures, other test areas and benchmarks share them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
import fcntl
import os
from pathlib import Path
import signal
import socket
import subprocess
import time

from aioesphomeapi import APIClient, EntityInfo, EntityState, LogLevel, UserService
from aioesphomeapi.api_pb2 import SubscribeLogsResponse

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "esphome_configs"
SIMULATOR_YAML = CONFIG_DIR / "simulator.yaml"
DEFAULT_ESPHOME = REPO_ROOT / ".venv-esphome" / "bin" / "esphome"

# The build the tests use: a name of its own keeps its build directory and prefs file apart
# from a demo build of the same YAML, and short times keep the fail-safe tests quick.
TEST_NAME = "grid-ledger-sim-test"
TEST_SUBSTITUTIONS: dict[str, str] = {
    "name": TEST_NAME,
    "ha_absent_timeout_seconds": "4",
    "warning_window_seconds": "30",
    "permit_check_interval": "1s",
    "warning_blink_interval": "250ms",
    # Solar stays off by default; the day starts mid-morning, as a prosumer demo would.
    "sim_start_hour": "9",
}
CHECK_INTERVAL_S = 1.0
HA_ABSENT_TIMEOUT_S = 4.0
WARNING_WINDOW_S = 30

PORT_ENV = "GRID_LEDGER_API_PORT"
PREFDIR_ENV = "ESPHOME_PREFDIR"


def esphome_executable() -> Path:
    """ESPHome lives in its own venv: $ESPHOME, else the repo's .venv-esphome."""
    path = Path(os.environ.get("ESPHOME", DEFAULT_ESPHOME))
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"ESPHome not found at {path}: run `make` (creates .venv-esphome) or set ESPHOME"
        )
    return path


def program_path(name: str, config_dir: Path = CONFIG_DIR) -> Path:
    return config_dir / ".esphome" / "build" / name / ".pioenvs" / name / "program"


@dataclass(frozen=True)
class SimulatorBuild:
    program: Path
    seconds: float


def compile_simulator(
    substitutions: dict[str, str] | None = None,
    *,
    clean: bool = False,
    config: Path = SIMULATOR_YAML,
) -> SimulatorBuild:
    """Compile a host-platform YAML, simulator.yaml unless told, (offline) into
    <its folder>/.esphome/build/<name>/.

    A file lock serialises concurrent sessions; ninja makes a repeated build cheap.
    """
    subs = dict(TEST_SUBSTITUTIONS if substitutions is None else substitutions)
    name = subs.get("name", "grid-ledger-sim")
    config_dir = config.parent
    build_dir = config_dir / ".esphome" / "build" / name
    lock_path = config_dir / ".esphome" / f"{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    args = [str(esphome_executable())]
    for key, value in subs.items():
        args += ["-s", key, value]
    args += ["compile", str(config)]
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if clean and build_dir.exists():
            subprocess.run(["rm", "-rf", str(build_dir)], check=True)
        start = time.monotonic()
        result = subprocess.run(
            args, cwd=config_dir, capture_output=True, text=True, check=False, timeout=900
        )
        seconds = time.monotonic() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"esphome compile failed ({result.returncode}):\n{result.stdout[-4000:]}"
            f"\n{result.stderr[-4000:]}"
        )
    return SimulatorBuild(program_path(name, config_dir), seconds)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SimulatorProcess:
    """One running simulator, stopped by its PID."""

    program: Path
    prefdir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 15.0) -> None:
        env = dict(os.environ, **{PORT_ENV: str(self.port), PREFDIR_ENV: str(self.prefdir)})
        self.prefdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.program)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"simulator exited early:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"simulator did not listen on {self.port}:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """SIGTERM is a clean shutdown (prefs flushed); SIGKILL is a power cut."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        self.process = None

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def running_simulator(program: Path, workdir: Path) -> Iterator[SimulatorProcess]:
    sim = SimulatorProcess(program, workdir / "prefs", workdir / "simulator.log")
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def parse_permit_until(text: str) -> int | None:
    """The "Permit until" text sensor: ISO 8601 UTC, empty when no permit is known."""
    return int(datetime.fromisoformat(text).timestamp()) if text else None


class SimulatorClient:
    """An API client standing in for Home Assistant.

    With `subscribe=True` it subscribes to states, which is what the meter counts as
    "Home Assistant connected"; without it, it only reads the log stream.
    """

    def __init__(self, port: int, *, subscribe: bool = True) -> None:
        self._client = APIClient("127.0.0.1", port, None)
        self._subscribe = subscribe
        self._by_object_id: dict[str, EntityInfo] = {}
        self._services: dict[str, UserService] = {}
        self.states: dict[int, EntityState] = {}
        self.logs: list[str] = []
        self._unsubscribe_logs: Callable[[], None] | None = None

    async def connect(self) -> SimulatorClient:
        await self._client.connect(login=True)
        entities, services = await self._client.list_entities_services()
        self._by_object_id = {entity.object_id: entity for entity in entities}
        self._services = {service.name: service for service in services}
        self._unsubscribe_logs = self._client.subscribe_logs(
            self._on_log, log_level=LogLevel.LOG_LEVEL_DEBUG
        )
        if self._subscribe:
            self._client.subscribe_states(self._on_state)
        return self

    async def disconnect(self) -> None:
        if self._unsubscribe_logs is not None:
            self._unsubscribe_logs()
            self._unsubscribe_logs = None
        await self._client.disconnect()

    async def __aenter__(self) -> SimulatorClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    def _on_state(self, state: EntityState) -> None:
        self.states[state.key] = state

    def _on_log(self, message: SubscribeLogsResponse) -> None:
        self.logs.append(message.message.decode(errors="replace"))

    def key(self, object_id: str) -> int:
        return self._by_object_id[object_id].key

    def entity_ids(self) -> set[str]:
        return set(self._by_object_id)

    def service(self, name: str) -> UserService:
        return self._services[name]

    def value(self, object_id: str) -> object:
        state = self.states.get(self.key(object_id))
        return None if state is None else getattr(state, "state", None)

    async def wait_for(
        self, predicate: Callable[[], bool], within: float, what: str = "condition"
    ) -> float:
        """Wait until predicate() holds; returns the monotonic time it first held."""
        deadline = time.monotonic() + within
        while True:
            if predicate():
                return time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not hold within {within} s")
            await asyncio.sleep(0.02)

    async def wait_value(self, object_id: str, expected: object, within: float = 5.0) -> float:
        return await self.wait_for(
            lambda: self.value(object_id) == expected,
            within,
            f"{object_id} == {expected!r} (is {self.value(object_id)!r})",
        )

    async def wait_log(self, fragment: str, within: float) -> float:
        start = len(self.logs)
        return await self.wait_for(
            lambda: any(fragment in line for line in self.logs[start:]), within, repr(fragment)
        )

    async def execute(self, action: str, **args: float | int | str | bool) -> None:
        await self._client.execute_service(self.service(action), args)

    async def set_permit_until(self, epoch: int) -> None:
        await self._client.execute_service(self.service("set_permit_until"), {"until": epoch})

    def switch_relay(self, on: bool) -> None:
        self._client.switch_command(self.key("relay"), on)

    def select_policy(self, policy: str) -> None:
        self._client.select_command(self.key("fail-safe_policy"), policy)

    def set_load_factor(self, factor: float) -> None:
        self._client.number_command(self.key("simulated_load_factor"), factor)

    def set_solar(self, peak_w: float, day_seconds: float) -> None:
        """Switch the simulated PV on (peak > 0) and compress a day into day_seconds."""
        self._client.number_command(self.key("simulated_day_length"), day_seconds)
        self._client.number_command(self.key("simulated_pv_peak"), peak_w)
