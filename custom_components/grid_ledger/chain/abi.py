"""The contract ABI, read once at import time (Home Assistant imports integrations off its loop)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from eth_utils.abi import event_abi_to_log_topic, function_abi_to_4byte_selector

ABI_DIR = Path(__file__).resolve().parent.parent / "abi"
ABI_NAMES = ("GridLedger.json", "IGridLedger.json")

ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": name,
        "stateMutability": "view",
        "inputs": inputs,
        "outputs": [{"name": "", "type": output}],
    }
    for name, inputs, output in (
        ("symbol", [], "string"),
        ("decimals", [], "uint8"),
        ("balanceOf", [{"name": "account", "type": "address"}], "uint256"),
    )
]


def load_abi(directory: Path = ABI_DIR) -> list[dict[str, Any]]:
    """The Grid Ledger ABI: a bare list, or a Foundry artifact with an `abi` key."""
    for name in ABI_NAMES:
        path = directory / name
        if path.exists():
            data = json.loads(path.read_text())
            abi: list[dict[str, Any]] = data["abi"] if isinstance(data, dict) else data
            return abi
    raise FileNotFoundError(f"no Grid Ledger ABI in {directory}")


def error_table(abi: list[dict[str, Any]]) -> dict[bytes, dict[str, Any]]:
    """Custom errors by 4-byte selector."""
    return {
        function_abi_to_4byte_selector(cast(Any, item)): item
        for item in abi
        if item["type"] == "error"
    }


def event_table(abi: list[dict[str, Any]]) -> dict[bytes, str]:
    """Event names by topic 0."""
    return {
        event_abi_to_log_topic(cast(Any, item)): item["name"]
        for item in abi
        if item["type"] == "event"
    }


GRID_LEDGER_ABI = load_abi()
ERRORS = error_table(GRID_LEDGER_ABI)
EVENTS = event_table(GRID_LEDGER_ABI)
