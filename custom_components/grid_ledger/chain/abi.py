"""The contract ABI, read once at import time (Home Assistant imports integrations off its loop)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from eth_utils.abi import event_abi_to_log_topic, function_abi_to_4byte_selector

ABI_DIR = Path(__file__).resolve().parent.parent / "abi"
ABI_NAMES = ("GridLedger.json", "IGridLedger.json")

# The ERC-20 functions the client reads and payments call (with ERC-2612 `nonces` and
# `DOMAIN_SEPARATOR`, answered only by tokens that take permits).
ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": name,
        "stateMutability": mutability,
        "inputs": [{"name": arg, "type": kind} for arg, kind in inputs],
        "outputs": [{"name": "", "type": output}],
    }
    for name, mutability, inputs, output in (
        ("symbol", "view", [], "string"),
        ("decimals", "view", [], "uint8"),
        ("balanceOf", "view", [("account", "address")], "uint256"),
        ("allowance", "view", [("owner", "address"), ("spender", "address")], "uint256"),
        ("approve", "nonpayable", [("spender", "address"), ("value", "uint256")], "bool"),
        ("nonces", "view", [("owner", "address")], "uint256"),
        ("DOMAIN_SEPARATOR", "view", [], "bytes32"),
    )
]

# OpenZeppelin's ERC-20 errors (IERC6093): the token's reverts surface through the ledger's calls.
ERC20_ERRORS: dict[bytes, dict[str, Any]] = {
    function_abi_to_4byte_selector(cast(Any, item)): item
    for item in (
        {
            "type": "error",
            "name": name,
            "inputs": [{"name": arg, "type": kind} for arg, kind in inputs],
        }
        for name, inputs in (
            (
                "ERC20InsufficientBalance",
                [("sender", "address"), ("balance", "uint256"), ("needed", "uint256")],
            ),
            (
                "ERC20InsufficientAllowance",
                [("spender", "address"), ("allowance", "uint256"), ("needed", "uint256")],
            ),
        )
    )
}


def load_abi(directory: Path = ABI_DIR, names: tuple[str, ...] = ABI_NAMES) -> list[dict[str, Any]]:
    """A contract's ABI (the Grid Ledger's unless `names` says otherwise): a bare list, or a
    Foundry artifact with an `abi` key."""
    for name in names:
        path = directory / name
        if path.exists():
            data = json.loads(path.read_text())
            abi: list[dict[str, Any]] = data["abi"] if isinstance(data, dict) else data
            return abi
    raise FileNotFoundError(f"no ABI {names} in {directory}")


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
# The energy market beside the ledger (`EnergyAuction`): its address is the household's option.
AUCTION_ABI = load_abi(names=("EnergyAuction.json",))
# The settlement beside the ledger (`Settlement`): its address is a feeder entry's option.
SETTLEMENT_ABI = load_abi(names=("Settlement.json",))
# The ledger's own errors last, so they win a shared selector; a token's errors surface
# through the ledger's, the auction's and the settlement's calls.
ERRORS = {
    **ERC20_ERRORS,
    **error_table(SETTLEMENT_ABI),
    **error_table(AUCTION_ABI),
    **error_table(GRID_LEDGER_ABI),
}
EVENTS = event_table(GRID_LEDGER_ABI)
AUCTION_EVENTS = event_table(AUCTION_ABI)
SETTLEMENT_EVENTS = event_table(SETTLEMENT_ABI)
GRID_LEDGER_FUNCTIONS = frozenset(
    str(item["name"]) for item in GRID_LEDGER_ABI if item["type"] == "function"
)
