"""Every custom error the ledger declares reaches the household as a sentence saying what to do."""

from __future__ import annotations

import json
from pathlib import Path
import re

import pytest

from custom_components.grid_ledger.chain import RevertedError
from custom_components.grid_ledger.const import DOMAIN
from custom_components.grid_ledger.contract_errors import (
    CONTRACT_ERRORS,
    PLACEHOLDERS,
    UNKNOWN,
    contract_error,
)

COMPONENT = Path(__file__).resolve().parents[2] / "custom_components" / "grid_ledger"
EXCEPTIONS = json.loads((COMPONENT / "translations" / "en.json").read_text())["exceptions"]
LEDGER_ABIS = ("GridLedger.json", "IGridLedger.json", "EnergyAuction.json", "Settlement.json")


def declared_errors() -> dict[str, list[str]]:
    """Every declared error's argument names."""
    errors: dict[str, list[str]] = {}
    for name in LEDGER_ABIS:
        abi = json.loads((COMPONENT / "abi" / name).read_text())
        for item in abi:
            if item["type"] == "error":
                errors[item["name"]] = [arg["name"] for arg in item["inputs"]]
    return errors


def test_every_ledger_error_has_a_translation() -> None:
    declared = declared_errors()
    assert "FutureReading" in declared
    assert set(declared) - set(CONTRACT_ERRORS) == set(), "errors without a sentence"
    for name, key in CONTRACT_ERRORS.items():
        message = EXCEPTIONS[key]["message"]
        named = set(re.findall(r"{(\w+)}", message))
        if (fill := PLACEHOLDERS.get(name)) is not None:  # filled from the error's arguments
            assert named == set(fill(dict.fromkeys(declared[name], 0), 0, "ETH")), name
        else:
            assert not named, f"{name}: raised without placeholders"
        assert message.endswith("."), name
    assert set(CONTRACT_ERRORS) - set(declared) == set(), "sentences for errors the ABI lacks"


@pytest.mark.parametrize(
    ("name", "key", "placeholders"),
    [
        ("FutureReading", "contract_future_reading", None),
        ("AccessControlUnauthorizedAccount", "contract_not_allowed", None),
        ("Panic", UNKNOWN, {"error": "Panic"}),  # not declared: named in the sentence
    ],
)
def test_a_revert_becomes_its_translation(
    name: str, key: str, placeholders: dict[str, str] | None
) -> None:
    err = contract_error(RevertedError(name, {"code": 1}))
    assert (err.translation_domain, err.translation_key) == (DOMAIN, key)
    assert err.translation_placeholders == placeholders
