"""The ABI files the integration ships stay in sync with the compiled contracts."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

from tests.anvil import REPO

EXPORT = REPO / "contracts" / "script" / "export_abi.py"
ABI_DIR = REPO / "custom_components" / "grid_ledger" / "abi"


def _functions(path: Path) -> set[tuple[str, str]]:
    abi = json.loads(path.read_text())
    return {
        (entry["name"], ",".join(p["type"] for p in entry["inputs"]))
        for entry in abi
        if entry["type"] == "function"
    }


def test_abi_files_match_compiled_contracts() -> None:
    """`forge build` output equals the checked-in ABI JSON (regenerate with the script)."""
    result = subprocess.run(
        [sys.executable, str(EXPORT), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ledger_abi_serves_whole_interface() -> None:
    """Every IGridLedger and IGridLedgerProducers function is in the deployed ledger's ABI (all modules)."""
    interface = _functions(ABI_DIR / "IGridLedger.json") | _functions(ABI_DIR / "IGridLedgerProducers.json")
    ledger = _functions(ABI_DIR / "GridLedger.json")
    assert interface, "interface ABI is empty"
    assert interface <= ledger, sorted(interface - ledger)


def test_abi_files_are_plain_arrays() -> None:
    names = ("GridLedger.json", "IGridLedger.json", "IGridLedgerProducers.json", "EnergyToken.json")
    for name in (*names, "TestStablecoin.json"):
        data = json.loads((ABI_DIR / name).read_text())
        assert isinstance(data, list)
        assert all("type" in entry for entry in data)
