"""The shared anvil node is a real chain that tests can move through time."""

from __future__ import annotations

import os

import pytest

from tests.anvil import Anvil


@pytest.mark.usefixtures("socket_enabled")
def test_anvil_serves_funded_accounts(anvil: Anvil) -> None:
    assert int(anvil.rpc("eth_chainId"), 16) == 31337
    assert len(anvil.accounts) == 10
    address, key = anvil.accounts[0]
    assert key.startswith("0x")
    assert len(key) == 66
    assert int(anvil.rpc("eth_getBalance", address, "latest"), 16) > 10**21


@pytest.mark.usefixtures("socket_enabled")
def test_anvil_time_travel_and_snapshots(anvil: Anvil) -> None:
    snapshot = anvil.snapshot()
    before = anvil.timestamp()
    anvil.increase_time(3600)
    assert anvil.timestamp() >= before + 3600
    assert anvil.revert(snapshot)
    assert anvil.timestamp() < before + 3600


@pytest.mark.usefixtures("socket_enabled")
def test_anvil_stops_by_pid() -> None:
    node = Anvil().start()
    pid = node.process.pid if node.process else 0
    node.stop()
    assert node.process is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
