"""The demo stack: anvil, the contracts deployed by the operator's forge scripts, the ESPHome
meter simulator and Home Assistant with Grid Ledger, all on loopback and all stopped by PID.

`python -m tests.demo` runs it until Ctrl-C. State (the chain, the keys, HA's config) lives in
`.demo/`, so a second start resumes where the first one stopped.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import secrets
import socket
import subprocess
import time
from typing import Any

from eth_account import Account

from tests.anvil import REPO, Anvil, free_port
from tests.demo.home_assistant import HomeAssistant
from tests.esphome.simulator import SimulatorProcess, compile_simulator

DEMO_DIR = REPO / ".demo"
CONTRACTS = REPO / "contracts"
FORGE = REPO / "node_modules" / ".bin" / "forge"
CAST = REPO / "node_modules" / ".bin" / "cast"
DEPLOYMENT_FILE = "deployments/demo.json"

HA_CURRENCY = "USD"  # what the test dollars stand for on the Energy dashboard
HA_USER = {"name": "Demo household", "username": "demo", "password": "grid-ledger-demo"}

# A billing cycle scaled to minutes, coherent with the household's options below: a bill is due
# a payment window after its period ends, and the permit ends a grace later. The shortest warning
# lead Home Assistant offers (5 minutes) is shorter than window + grace, so no warning comes
# before a bill is due; only an unpaid bill (2 minutes after its due date) warns.
PERIOD_LENGTH = 240
PAYMENT_WINDOW = 240
GRACE = 180
WARNING_LEAD_MINUTES = 5
READING_INTERVAL_MINUTES = 1
SPENDING_CAP = 5.0  # test dollars per period: the simulated load costs about 2 cents a period
BLOCK_TIME = 2  # seconds: the chain mines blocks on its own, as a real one does
HISTORY_HOURS = 7 * 24  # the Energy dashboard's week view, full from the start
FEEDER_ID = 1
METER_ID = 1
TARIFF_ID = 1
PRICE_PER_KWH = 300_000  # 0.30 test-dollars (6 decimals)
STABLECOIN_FOR_HOUSEHOLD = 500 * 10**6


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves do: a port held only by closed connections is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def timeline(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


@dataclass
class DemoKeys:
    """The demo's keys, made once and kept in .demo/keys.json (git-ignored, mode 600)."""

    household_wallet: str
    meter: str
    feeder: str

    @classmethod
    def load_or_create(cls, path: Path) -> DemoKeys:
        if path.exists():
            return cls(**json.loads(path.read_text()))
        keys = cls(*(f"0x{secrets.token_hex(32)}" for _ in range(3)))
        path.write_text(json.dumps(keys.__dict__))
        path.chmod(0o600)
        return keys

    def address(self, which: str) -> str:
        return str(Account.from_key(getattr(self, which)).address)


@dataclass
class DemoStack:
    """Everything the demo runs; `start()` brings it up, `stop()` tears it down by PID."""

    anvil_port: int = int(os.environ.get("DEMO_ANVIL_PORT", "8545"))
    ha_port: int = int(os.environ.get("DEMO_HA_PORT", "8123"))
    meter_port: int = int(os.environ.get("DEMO_METER_PORT", "6053"))
    state_dir: Path = DEMO_DIR
    deployment_file: str = DEPLOYMENT_FILE
    period_length: int = PERIOD_LENGTH
    payment_window: int = PAYMENT_WINDOW
    grace: int = GRACE
    genesis: int | None = None  # start of period 1; None: the chain's time at deployment
    anvil: Anvil | None = None
    meter: SimulatorProcess | None = None
    hass: HomeAssistant | None = None
    deployment: dict[str, Any] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)

    @classmethod
    def beside_others(
        cls,
        state_dir: Path,
        name: str,
        period_length: int = PERIOD_LENGTH,
        payment_window: int = PAYMENT_WINDOW,
        grace: int = GRACE,
    ) -> DemoStack:
        """A stack that runs beside any other (tests, the scenario): free ports, its own state
        folder and deployment file."""
        return cls(
            anvil_port=free_port(),
            ha_port=free_port(),
            meter_port=free_port(),
            state_dir=state_dir,
            deployment_file=f"deployments/{name}.json",
            period_length=period_length,
            payment_window=payment_window,
            grace=grace,
        )

    def start(self, keys: DemoKeys) -> None:
        """Chain, meter and Home Assistant, then the operator's deployment: period 1 starts
        once everything is up, so the first reading lands early in it."""
        self.start_chain()
        self.start_meter()
        self.start_home_assistant()
        self.deploy(keys)

    # ------------------------------------------------------------------ the chain

    def start_chain(self) -> None:
        self.state_dir.mkdir(exist_ok=True)
        self.anvil = Anvil(
            port=self.anvil_port, block_time=BLOCK_TIME, state_path=self.state_dir / "chain.json"
        )
        self.anvil.start()
        self._stack.callback(self.anvil.stop)
        timeline(f"anvil chain {self.anvil.chain_id} on {self.anvil.rpc_url}")

    def forge_script(self, script: str, **env: str | int) -> None:
        assert self.anvil is not None
        operator_key = self.anvil.accounts[0][1]
        subprocess.run(
            [
                str(FORGE),
                "script",
                f"script/{script}.s.sol",
                "--rpc-url",
                self.anvil.rpc_url,
                "--private-key",
                operator_key,
                "--broadcast",
                "--slow",
            ],
            cwd=CONTRACTS,
            env={
                **os.environ,
                "DEPLOYMENTS_PATH": self.deployment_file,
                **{k: str(v) for k, v in env.items()},
            },
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def cast_send(self, to: str, *call: str, value: str | None = None) -> None:
        """`cast send` from the operator: a call (signature, arguments) or a plain transfer."""
        assert self.anvil is not None
        command = [str(CAST), "send", "--rpc-url", self.anvil.rpc_url, "--private-key"]
        command += [self.anvil.accounts[0][1], to, *call]
        if value is not None:
            command += ["--value", value]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    def cast_call(self, to: str, signature: str, *args: str) -> int:
        """A view call that returns one integer, e.g. `amountDue(uint32)(uint256)`."""
        assert self.anvil is not None
        command = [str(CAST), "call", "--rpc-url", self.anvil.rpc_url, to, signature, *args]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return int(output.split()[0])

    def deploy(self, keys: DemoKeys) -> None:
        """Deploy and register as an operator would, unless the kept chain already has it."""
        assert self.anvil is not None
        path = CONTRACTS / self.deployment_file
        if path.exists():
            deployment = json.loads(path.read_text())
            code = self.anvil.rpc("eth_getCode", deployment["gridLedger"], "latest")
            if code not in ("0x", "0x0"):
                self.deployment = deployment
                timeline(f"GridLedger already at {deployment['gridLedger']} (kept chain)")
                return
        if self.genesis is None:  # period 1 starts with the demo
            self.genesis = self.anvil.timestamp()
        self.forge_script(
            "Deploy",
            PAYMENT="token",
            PERIOD_LENGTH=self.period_length,
            PAYMENT_WINDOW=self.payment_window,
            GRACE=self.grace,
            GENESIS=self.genesis,
        )
        self.deployment = json.loads(path.read_text())
        timeline(f"GridLedger deployed at {self.deployment['gridLedger']}")
        self.forge_script("SetTariff", TARIFF_ID=TARIFF_ID, PRICE_PER_KWH=PRICE_PER_KWH)
        self.forge_script(
            "RegisterFeeder", FEEDER_ID=FEEDER_ID, FEEDER_SIGNER=keys.address("feeder")
        )
        self.forge_script(
            "RegisterMeter",
            METER_ID=METER_ID,
            METER_SIGNER=keys.address("meter"),
            PAYER=keys.address("household_wallet"),
            FEEDER_ID=FEEDER_ID,
            TARIFF_ID=TARIFF_ID,
        )
        timeline(f"feeder {FEEDER_ID} and meter {METER_ID} registered, tariff {TARIFF_ID}")
        wallet = keys.address("household_wallet")
        self.cast_send(wallet, value="1ether")
        self.cast_send(
            self.deployment["paymentToken"],
            "mint(address,uint256)",
            wallet,
            str(STABLECOIN_FOR_HOUSEHOLD),
        )
        timeline(f"household wallet {wallet} funded: 1 ETH for gas, 500 test dollars")

    # ------------------------------------------------------------------ the meter

    def start_meter(self) -> None:
        # The meter's own warning indication runs as long before a trip as the household's.
        build = compile_simulator(
            {"name": "grid-ledger-sim", "warning_window_seconds": str(WARNING_LEAD_MINUTES * 60)}
        )
        timeline(f"meter firmware compiled in {build.seconds:.1f} s")
        self.meter = SimulatorProcess(
            program=build.program,
            prefdir=self.state_dir / "meter",
            log_path=self.state_dir / "meter.log",
            port=self.meter_port,
        )
        self.meter.start()
        self._stack.callback(self.meter.stop)
        timeline(f"ESPHome meter simulator serving its API on 127.0.0.1:{self.meter_port}")

    # ------------------------------------------------------------------ Home Assistant

    def start_home_assistant(self) -> None:
        config_dir = self.state_dir / "homeassistant"
        write_ha_config(config_dir, self.ha_port)
        self.hass = HomeAssistant(config_dir, self.ha_port)
        self._stack.callback(self.hass.stop)
        self.hass.start()
        self.hass.onboard(**HA_USER)
        timeline(f"Home Assistant up on {self.hass.url}")

    def check_ports(self) -> None:
        busy = [p for p in (self.anvil_port, self.ha_port, self.meter_port) if not port_is_free(p)]
        if busy:
            raise SystemExit(
                f"ports {busy} are in use; set DEMO_ANVIL_PORT, DEMO_HA_PORT or DEMO_METER_PORT"
            )

    def stop(self) -> None:
        self._stack.close()
        timeline("stopped: Home Assistant, meter simulator and anvil")


def write_ha_config(config_dir: Path, port: int) -> None:
    """A Home Assistant config folder with only what the demo shows, and our integration."""
    config_dir.mkdir(parents=True, exist_ok=True)
    link = config_dir / "custom_components"
    if not link.exists():
        link.symlink_to(REPO / "custom_components", target_is_directory=True)
    (config_dir / "configuration.yaml").write_text(
        f"""\
homeassistant:
  name: Grid Ledger demo
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: {HA_CURRENCY}
  country: NL
http:
  server_host: 127.0.0.1
  server_port: {port}
frontend:
api:
config:
energy:
history:
logbook:
logger:
  default: warning
  logs:
    custom_components.grid_ledger: info
lovelace:
  dashboards:
    grid-ledger:
      mode: yaml
      filename: grid_ledger_dashboard.yaml
      title: Grid Ledger
      icon: mdi:transmission-tower
      show_in_sidebar: true
"""
    )
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        # The demo has no internet: skip the onboarding step that adds weather, radio and
        # text-to-speech integrations; the owner is still created through onboarding.
        onboarding.write_text(
            json.dumps(
                {
                    "version": 4,
                    "minor_version": 1,
                    "key": "onboarding",
                    "data": {"done": ["core_config"]},
                }
            )
        )
