"""The calendar lists the bill's due date and the scheduled trip, as the contract has them."""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest

from custom_components.grid_ledger import calendar as calendar_module
from tests.chain_fixtures import DEFAULT_PRICE

from .enforcement_fixtures import (
    Grid,
    grid_fixture,  # noqa: F401
    node_fixture,  # noqa: F401
    setup_grid_entry,
    utc,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")
COMPONENT = Path(__file__).resolve().parents[2] / "custom_components" / "grid_ledger"


async def list_events(hass: HomeAssistant, entity_id: str, start: int, end: int) -> list[dict]:  # type: ignore[type-arg]
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {"entity_id": entity_id, "start_date_time": utc(start), "end_date_time": utc(end)},
        blocking=True,
        return_response=True,
    )
    return list(response[entity_id]["events"])  # type: ignore[index, call-overload]


async def test_trip_and_bill_due_on_the_calendar(hass: HomeAssistant, grid: Grid) -> None:
    until = grid.permit_until()
    await setup_grid_entry(hass, grid)
    calendar = f"calendar.grid_ledger_meter_{grid.meter.meter_id}_bills_and_trips"
    state = hass.states.get(calendar)
    assert state is not None
    assert state.state == "off"
    assert state.attributes["message"] == "Supply trip"

    now = grid.chain_time()
    events = await list_events(hass, calendar, now, now + 86400)
    assert [(e["summary"], e["start"]) for e in events] == [("Supply trip", utc(until).isoformat())]
    assert await list_events(hass, calendar, until + 60, until + 86400) == []

    # The period ends with energy used: a bill, due a payment window later, before the trip.
    await grid.move_to(hass, until - 1000)
    entry = hass.config_entries.async_entries("grid_ledger")[0]
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    due = int(grid.contract.functions.billOf(grid.meter.meter_id).call()[3])
    assert due == until - 900
    events = await list_events(hass, calendar, until - 3600, until + 3600)
    amount = 500 * DEFAULT_PRICE // 1000 / 10**18
    assert [(e["summary"], e["start"]) for e in events] == [
        ("Bill due", utc(due).isoformat()),
        ("Supply trip", utc(until).isoformat()),
    ]
    assert events[0]["end"] == (utc(due) + timedelta(minutes=1)).isoformat()
    assert events[0]["description"] == f"Period 1: {amount:g} ETH"

    # During the event the calendar is on: calendar triggers fire at its start.
    await grid.move_to(hass, due)
    state = hass.states.get(calendar)
    assert state is not None
    assert state.state == "on"
    assert state.attributes["message"] == "Bill due"
    bill_due = f"sensor.grid_ledger_meter_{grid.meter.meter_id}_bill_due"
    assert hass.states.get(bill_due).state == utc(due).isoformat()  # type: ignore[union-attr]

    # Paid: the date stays on the calendar, marked paid; the sensor no longer shows a due date.
    grid.pay()
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    events = await list_events(hass, calendar, until - 3600, until + 3600)
    assert [(e["summary"], e["start"]) for e in events] == [("Bill paid", utc(due).isoformat())]
    assert hass.states.get(bill_due).state == "unknown"  # type: ignore[union-attr]


def test_names_icons_and_option_labels_are_translated() -> None:
    strings = json.loads((COMPONENT / "translations" / "en.json").read_text())
    icons = json.loads((COMPONENT / "icons.json").read_text())
    assert set(strings["entity"]["calendar"]) == set(icons["entity"]["calendar"]) == {"schedule"}
    assert "trip_imminent" in strings["entity"]["binary_sensor"]
    assert "trip_imminent" in icons["entity"]["binary_sensor"]
    assert set(strings["selector"]["fail_safe"]["options"]) == {"fail_open", "fail_closed"}
    from custom_components.grid_ledger.config_flow import WARNING_LEAD_MINUTES

    labels = strings["selector"]["warning_leads"]["options"]
    assert set(labels) == {str(minutes) for minutes in WARNING_LEAD_MINUTES}
    options = strings["options"]["step"]["init"]
    for key in ("fail_safe", "warning_leads"):
        assert key in options["data"]
        assert key in options["data_description"]


async def test_event_texts_follow_the_household_language(
    hass: HomeAssistant, grid: Grid, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Summaries come from the translations of the configured language, not from the code."""
    asked: list[tuple[str, str]] = []
    real = calendar_module.async_get_translations

    async def translations(
        hass: HomeAssistant, language: str, category: str, integrations: set[str]
    ) -> dict[str, str]:
        asked.append((language, category))
        strings = dict(await real(hass, "en", category, integrations))
        strings["component.grid_ledger.common.supply_trip"] = "Coupure de courant"
        return strings

    monkeypatch.setattr(calendar_module, "async_get_translations", translations)
    hass.config.language = "fr"
    await setup_grid_entry(hass, grid)
    state = hass.states.get(f"calendar.grid_ledger_meter_{grid.meter.meter_id}_bills_and_trips")
    assert state is not None
    assert state.attributes["message"] == "Coupure de courant"
    assert state.attributes["description"] == "The permit ends unless the bill is paid."
    assert asked == [("fr", "common")]
