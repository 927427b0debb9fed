"""Every user-facing string the integration refers to exists in translations/en.json."""

from __future__ import annotations

from dataclasses import asdict
import json
from pathlib import Path
import re

import yaml

from custom_components.grid_ledger.contract_errors import CONTRACT_ERRORS, UNKNOWN
from custom_components.grid_ledger.readings import REGISTERS, SOURCE_ISSUES
from custom_components.grid_ledger.services import (
    PAYMENT_ERRORS,
    READING_ERRORS,
    SETTLEMENT_ERRORS,
    TOKEN_ERRORS,
)

COMPONENT = Path(__file__).resolve().parents[2] / "custom_components" / "grid_ledger"
EN = json.loads((COMPONENT / "translations" / "en.json").read_text())
ICONS = json.loads((COMPONENT / "icons.json").read_text())
PLATFORMS = ("sensor", "binary_sensor", "button")


def _keys(module: str) -> set[str]:
    return set(re.findall(r'translation_key="(\w+)"', (COMPONENT / module).read_text()))


def test_entity_names_and_icons() -> None:
    for platform in PLATFORMS:
        keys = _keys(f"{platform}.py")
        assert keys
        assert keys == set(EN["entity"][platform]), platform
        assert set(ICONS["entity"][platform]) <= keys


def test_exceptions() -> None:
    """Every exception key the code raises exists, and every one that exists is raised."""
    modules = (
        "__init__.py",
        "coordinator.py",
        "market.py",
        "readings.py",
        "services.py",
        "settlement.py",
    )
    used = set().union(*(_keys(module) for module in modules))
    services = (COMPONENT / "services.py").read_text()
    used |= set(re.findall(r'\bkey\b[^=\n]*= (?:\w+, )?"(\w+)"', services))
    for keys in (
        READING_ERRORS,
        PAYMENT_ERRORS,
        TOKEN_ERRORS,
        SETTLEMENT_ERRORS,
    ):  # the chain's failures, per action
        used |= set(asdict(keys).values())
    used |= set(SOURCE_ISSUES)  # the source's problems: an error now, an issue if they stay
    used |= {kind.backwards for kind in REGISTERS.values()}  # a register that went backwards
    used |= {*CONTRACT_ERRORS.values(), UNKNOWN}
    assert used == set(EN["exceptions"])


def test_flow_errors_and_issues() -> None:
    flow = (COMPONENT / "config_flow.py").read_text()
    errors = set(re.findall(r'(?:CONF_\w+|"base"): "(\w+)"', flow))
    errors |= set(re.findall(r'errors\[\w+\] = "(\w+)"', flow))
    assert errors == set(EN["config"]["error"])
    issues = set(
        re.findall(r'^ISSUE_\w+: Final = "(\w+)"', (COMPONENT / "const.py").read_text(), re.M)
    )
    assert issues == set(EN["issues"])


def test_services() -> None:
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    for name, service in services.items():
        assert set(service["fields"]) == set(EN["services"][name]["fields"])
        assert name in ICONS["services"]
