"""Export the ABIs the integration uses to custom_components/grid_ledger/abi/.

GridLedger serves its producer accounts and its extension's functions through `fallback`, and the
extension its views the same way, so its ABI is the four merged. The energy token, the energy
auction and the settlement have their own.
Entries are sorted and printed with a fixed layout so a diff shows only real changes.

    python contracts/script/export_abi.py          # build and write
    python contracts/script/export_abi.py --check  # build and fail if the files differ
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

CONTRACTS = Path(__file__).resolve().parent.parent
REPO = CONTRACTS.parent
OUT = CONTRACTS / "out"
ABI_DIR = REPO / "custom_components" / "grid_ledger" / "abi"
FORGE = REPO / "node_modules" / ".bin" / "forge"

# Exported file name -> contracts whose ABIs it merges (the first one's constructor is kept).
EXPORTS: dict[str, tuple[str, ...]] = {
    "GridLedger.json": (
        "GridLedger",
        "GridLedgerProducers",
        "GridLedgerExtension",
        "GridLedgerFeedersAndViews",
    ),
    "IGridLedger.json": ("IGridLedger",),
    "IGridLedgerProducers.json": ("IGridLedgerProducers",),
    "EnergyToken.json": ("EnergyToken",),
    "EnergyAuction.json": ("EnergyAuction",),
    "Settlement.json": ("Settlement",),
    "TestStablecoin.json": ("TestStablecoin",),
}
_KIND_ORDER = {"constructor": 0, "fallback": 1, "receive": 2, "function": 3, "event": 4, "error": 5}


def _signature(entry: dict[str, Any]) -> str:
    def kind(param: dict[str, Any]) -> str:
        if param["type"].startswith("tuple"):
            inner = ",".join(kind(c) for c in param["components"])
            return f"({inner}){param['type'][5:]}"
        return str(param["type"])

    inputs = ",".join(kind(p) for p in entry.get("inputs", []))
    return f"{entry['type']} {entry.get('name', '')}({inputs})"


def _load(name: str) -> list[dict[str, Any]]:
    path = OUT / f"{name}.sol" / f"{name}.json"
    abi: list[dict[str, Any]] = json.loads(path.read_text())["abi"]
    return abi


def merged_abi(names: tuple[str, ...]) -> list[dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(names):
        for entry in _load(name):
            if index > 0 and entry["type"] == "constructor":
                continue
            entries.setdefault(_signature(entry), entry)
    return sorted(
        entries.values(), key=lambda e: (_KIND_ORDER[e["type"]], e.get("name", ""), _signature(e))
    )


def render(abi: list[dict[str, Any]]) -> str:
    return json.dumps(abi, indent=2, sort_keys=True) + "\n"


def expected() -> dict[str, str]:
    """File name -> the content it must have, from the compiled contracts."""
    return {file: render(merged_abi(names)) for file, names in EXPORTS.items()}


def build() -> None:
    """Compile the contracts only (not tests and scripts: faster on a cold cache)."""
    subprocess.run(  # noqa: S603 - fixed executable from node_modules
        [str(FORGE), "build", "--skip", "test", "--skip", "script"],
        cwd=CONTRACTS,
        check=True,
        capture_output=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the exported files differ")
    args = parser.parse_args()
    build()
    stale = []
    for file, content in expected().items():
        path = ABI_DIR / file
        if args.check:
            if not path.exists() or path.read_text() != content:
                stale.append(file)
        else:
            ABI_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    if stale:
        print(f"ABI out of date: {', '.join(stale)}; run python contracts/script/export_abi.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
