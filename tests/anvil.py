"""A real anvil node on a free loopback port, started and stopped by PID.

Shared by the pytest fixtures, the benchmarks and the demo, so there is one way to run a chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any
import urllib.request

REPO = Path(__file__).resolve().parent.parent
ANVIL = REPO / "node_modules" / ".bin" / "anvil"


def free_port() -> int:
    """Return a loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Anvil:
    """One anvil process; `accounts` are (address, private key hex) pairs, funded."""

    port: int = field(default_factory=free_port)
    block_time: float | None = None
    state_path: Path | None = None
    extra_args: tuple[str, ...] = ()
    chain_id: int = 31337
    accounts: list[tuple[str, str]] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    _config_dir: tempfile.TemporaryDirectory[str] | None = None
    _stderr_path: Path = Path()
    _request_id: int = 0

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> Anvil:
        self._config_dir = tempfile.TemporaryDirectory(prefix="anvil-")
        config_out = Path(self._config_dir.name) / "config.json"
        args = [
            str(ANVIL),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--config-out",
            str(config_out),
            *self.extra_args,
        ]
        if self.block_time is not None:
            args += ["--block-time", str(self.block_time)]
        if self.state_path is not None:
            args += ["--state", str(self.state_path)]
        # stderr goes to a file: an unread pipe could fill up and stall the node.
        self._stderr_path = Path(self._config_dir.name) / "stderr.log"
        with self._stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
            )
        try:
            self._wait_ready(config_out, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, config_out: Path, timeout: float) -> None:
        """Wait for the RPC to answer and for anvil to have written its accounts in full."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self._stderr_path.read_text(errors="replace")
                raise RuntimeError(f"anvil exited with {self.process.returncode}: {err}")
            try:
                config = json.loads(config_out.read_text())
                self.rpc("eth_chainId")
            except (OSError, ValueError):  # not listening yet, or config half written
                time.sleep(0.05)
                continue
            self.accounts = list(
                zip(config["available_accounts"], config["private_keys"], strict=True)
            )
            return
        raise TimeoutError(f"anvil did not answer on {self.rpc_url} within {timeout} s")

    def stop(self) -> None:
        """Stop by PID (the process group anvil leads), never by name."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if self._config_dir is not None:
            self._config_dir.cleanup()
            self._config_dir = None

    def rpc(self, method: str, *params: Any) -> Any:
        """One synchronous JSON-RPC call; raises RuntimeError on an RPC error."""
        self._request_id += 1
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self._request_id, "method": method, "params": list(params)}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback http only
            self.rpc_url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            reply = json.loads(response.read())
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> bool:
        return bool(self.rpc("evm_revert", snapshot_id))

    def increase_time(self, seconds: int) -> None:
        """Move chain time forward and mine a block at the new time."""
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")

    def timestamp(self) -> int:
        return int(self.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
