"""Every blueprint loads with Home Assistant's blueprint machinery and follows our habits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.components.blueprint import Blueprint
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
from homeassistant.util import yaml as yaml_util
import pytest

from .conftest import BLUEPRINT_FILES, BLUEPRINTS

SOURCE = "https://github.com/grid-ledger/grid-ledger/blob/main/blueprints/automation/grid_ledger/"
STEP_KEYS = {
    "action",
    "choose",
    "condition",
    "delay",
    "event",
    "if",
    "parallel",
    "repeat",
    "sequence",
    "stop",
    "trigger",
    "variables",
    "wait_for_trigger",
    "wait_template",
}


def _load(name: str) -> Blueprint:
    data = yaml_util.load_yaml_dict(BLUEPRINTS / name)
    return Blueprint(data, expected_domain="automation", schema=AUTOMATION_BLUEPRINT_SCHEMA)


def test_the_seven_blueprints_are_there() -> None:
    assert BLUEPRINT_FILES == [
        "announce_trip_and_restore.yaml",
        "approve_payment.yaml",
        "feeder_loss_alert.yaml",
        "low_credit_warning.yaml",
        "notify_before_trip.yaml",
        "notify_when_outbid.yaml",
        "sell_surplus.yaml",
    ]


async def test_home_assistant_loads_every_blueprint(hass: HomeAssistant, config_dir: Path) -> None:
    loaded = await async_get_blueprints(hass).async_get_blueprints()
    assert sorted(loaded) == [f"grid_ledger/{name}" for name in BLUEPRINT_FILES]
    for path, blueprint in loaded.items():
        assert isinstance(blueprint, Blueprint), f"{path}: {blueprint}"
        # Requirements of this Home Assistant version are met (min_version).
        assert blueprint.validate() is None


@pytest.mark.parametrize("name", BLUEPRINT_FILES)
def test_metadata(name: str) -> None:
    metadata = _load(name).metadata
    assert metadata["source_url"] == SOURCE + name
    assert metadata["homeassistant"] == {"min_version": "2026.2.0"}
    assert metadata["name"].startswith("Grid Ledger: ")
    assert "**" in metadata["description"]  # Markdown


@pytest.mark.parametrize("name", BLUEPRINT_FILES)
def test_inputs_are_in_sections_with_valid_selectors_and_defaults(name: str) -> None:
    blueprint = _load(name)
    sections = blueprint.metadata["input"]
    assert all("input" in section and "icon" in section for section in sections.values())
    assert blueprint.inputs
    for key, spec in blueprint.inputs.items():
        assert spec["name"], key
        assert spec["description"], key
        validate = selector.selector(spec["selector"])
        if "default" in spec:
            validate(spec["default"])
        else:
            assert (name, key) == ("approve_payment.yaml", "approvers"), (
                "only approvers is required"
            )
        device_filter = spec["selector"].get("device", {}).get("filter")
        if device_filter is not None:
            assert device_filter[0]["integration"] in {"grid_ledger", "mobile_app"}
    meters = blueprint.inputs["meters"]["selector"]["device"]
    assert meters["filter"] == [{"integration": "grid_ledger"}]


def _steps(steps: Any) -> Iterator[dict[str, Any]]:
    """Every trigger, condition and action step, nested ones included (not their data)."""
    for step in steps if isinstance(steps, list) else [steps]:
        if not isinstance(step, dict):
            continue
        yield step
        for key in ("sequence", "then", "else", "default", "conditions", "wait_for_trigger"):
            if key in step:
                yield from _steps(step[key])
        if "repeat" in step:
            yield from _steps(step["repeat"]["sequence"])
        if "if" in step:
            yield from _steps(step["if"])
        if "choose" in step:
            for option in step["choose"]:
                yield option
                yield from _steps(option["conditions"])
                yield from _steps(option["sequence"])


@pytest.mark.parametrize("name", BLUEPRINT_FILES)
def test_every_step_has_an_alias(name: str) -> None:
    data = _load(name).data
    steps = [s for part in ("triggers", "conditions", "actions") for s in _steps(data[part])]
    assert len(steps) > 3
    for step in steps:
        if STEP_KEYS & step.keys() or "conditions" in step:
            assert step.get("alias"), step


@pytest.mark.parametrize("name", BLUEPRINT_FILES)
def test_mode_is_chosen_and_explained(name: str) -> None:
    data = _load(name).data
    assert data["mode"] in {"single", "queued", "parallel"}
    lines = (BLUEPRINTS / name).read_text().splitlines()
    at = lines.index(f"mode: {data['mode']}")
    assert lines[at - 1].startswith("# "), "a comment above `mode` says why"
    assert "triggers" in data
    assert "trigger" not in data
    assert "action" not in data
    assert "condition" not in data


def test_events_contract_names_every_event_the_blueprints_use() -> None:
    contract = (BLUEPRINTS / "EVENTS.md").read_text()
    text = "\n".join((BLUEPRINTS / name).read_text() for name in BLUEPRINT_FILES)
    for event in (
        "grid_ledger_trip_warning",
        "grid_ledger_tripped",
        "grid_ledger_restored",
        "grid_ledger_low_credit",
        "grid_ledger_payment_approval_requested",
        "grid_ledger_payment_confirmed",
        "grid_ledger_loss_detected",
        "grid_ledger_outbid",
        "grid_ledger_tokens_minted",
    ):
        assert f"event_type: {event}" in text
        assert f"`{event}`" in contract
