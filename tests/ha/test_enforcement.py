"""Permit enforcement against a real ledger on anvil: trip at expiry, restore on payment, warn."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest

from custom_components.grid_ledger.const import CONF_WARNING_LEADS, DOMAIN
from custom_components.grid_ledger.enforcement import iso_time
from tests.anvil import Anvil
from tests.chain_fixtures import LedgerConfig

from .conftest import RELAY_ENTITY
from .enforcement_fixtures import (
    SUPPLY_BOOLEAN,
    Grid,
    grid_fixture,  # noqa: F401
    make_grid,
    node_fixture,  # noqa: F401
    poll_events,
    relay_state,
    settle,
    setup_grid_entry,
    utc,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")


def coordinator_of(hass: HomeAssistant) -> Any:
    return hass.config_entries.async_entries(DOMAIN)[0].runtime_data.coordinator


def meter_device_id(hass: HomeAssistant, grid: Grid) -> str:
    identifier = f"31337-{grid.ledger.address.lower()}-{grid.meter.meter_id}"
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, identifier)})
    assert device is not None
    return device.id


def imminent(hass: HomeAssistant, grid: Grid) -> str:
    state = hass.states.get(f"binary_sensor.grid_ledger_meter_{grid.meter.meter_id}_trip_imminent")
    assert state is not None
    return state.state


async def test_trip_lands_at_permit_until_exactly(hass: HomeAssistant, grid: Grid) -> None:
    genesis = int(grid.contract.functions.genesis().call())
    until = grid.permit_until()
    assert until == genesis + 3600 + 600 + 900  # period end + payment window + grace
    await setup_grid_entry(hass, grid)

    await grid.move_to(hass, until - 1)
    assert relay_state(hass) == "on"
    assert imminent(hass, grid) == "on"
    assert grid.of("grid_ledger_tripped") == []

    await grid.move_to(hass, until)
    assert relay_state(hass) == "off"
    assert hass.states.get(SUPPLY_BOOLEAN).state == "off"  # type: ignore[union-attr]
    assert grid.of("grid_ledger_tripped") == [
        {
            "device_id": meter_device_id(hass, grid),
            "permit_until": utc(until).isoformat(),
            "reason": "permit_expired",
        }
    ]
    assert imminent(hass, grid) == "off"


async def test_payment_after_the_trip_restores_on_the_next_block(
    hass: HomeAssistant, grid: Grid
) -> None:
    until = grid.permit_until()
    await setup_grid_entry(hass, grid)
    await grid.move_to(hass, until)
    assert relay_state(hass) == "off"

    grid.pay()
    new_until = grid.permit_until()
    assert new_until > until
    await poll_events(hass, grid, lambda: relay_state(hass) == "on")
    assert grid.of("grid_ledger_restored") == [
        {"device_id": meter_device_id(hass, grid), "permit_until": iso_time(new_until)}
    ]
    # The next trip is scheduled at the new permit's end, not before (energy used: a bill).
    grid.consume(500)
    await grid.move_to(hass, new_until - 1)
    assert relay_state(hass) == "on"
    await grid.move_to(hass, new_until)
    assert relay_state(hass) == "off"


async def test_payment_during_grace_keeps_the_supply_on(hass: HomeAssistant, grid: Grid) -> None:
    until = grid.permit_until()
    await setup_grid_entry(hass, grid)
    await grid.move_to(hass, until - 600)  # past the due date, within the grace
    assert grid.amount_due() > 0
    grid.pay()
    new_until = grid.permit_until()
    await poll_events(
        hass,
        grid,
        lambda: coordinator_of(hass).data.permit_until == new_until,
    )
    await grid.move_to(hass, until)
    assert relay_state(hass) == "on"
    assert grid.of("grid_ledger_tripped") == []
    assert grid.of("grid_ledger_restored") == []


async def test_switched_on_while_expired_is_switched_off_again(
    hass: HomeAssistant, grid: Grid
) -> None:
    until = grid.permit_until()
    await setup_grid_entry(hass, grid)
    await grid.move_to(hass, until)
    assert relay_state(hass) == "off"

    await hass.services.async_call("switch", "turn_on", {"entity_id": RELAY_ENTITY}, blocking=True)
    await settle(hass)
    assert relay_state(hass) == "off"
    # Behind the switch's back, too: the state it reports is what counts.
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": SUPPLY_BOOLEAN}, blocking=True
    )
    await settle(hass)
    assert relay_state(hass) == "off"
    reasons = [event["reason"] for event in grid.of("grid_ledger_tripped")]
    assert reasons == ["permit_expired", "switched_on_while_expired", "switched_on_while_expired"]


async def test_a_supply_switched_off_by_the_household_is_never_switched_on(
    hass: HomeAssistant, grid: Grid
) -> None:
    until = grid.permit_until()
    await setup_grid_entry(hass, grid)
    await hass.services.async_call("switch", "turn_off", {"entity_id": RELAY_ENTITY}, blocking=True)
    await grid.move_to(hass, until)
    assert grid.of("grid_ledger_tripped") == []  # already off: nothing to trip
    grid.pay()
    new_until = grid.permit_until()
    await poll_events(
        hass,
        grid,
        lambda: coordinator_of(hass).data.permit_until == new_until,
    )
    assert relay_state(hass) == "off"
    assert grid.of("grid_ledger_restored") == []


async def test_warnings_at_the_default_lead_times(hass: HomeAssistant, grid: Grid) -> None:
    until = grid.permit_until()
    entry = await setup_grid_entry(hass, grid)
    device_id = meter_device_id(hass, grid)
    # Less than a day is left: the day-ahead warning is overdue and fires at once.
    assert grid.of("grid_ledger_trip_warning") == [
        {"device_id": device_id, "permit_until": iso_time(until), "lead_time": 86400}
    ]
    assert imminent(hass, grid) == "off"

    await grid.move_to(hass, until - 3601)
    assert len(grid.of("grid_ledger_trip_warning")) == 1
    await grid.move_to(hass, until - 3600)
    assert grid.of("grid_ledger_trip_warning")[1:] == [
        {"device_id": device_id, "permit_until": iso_time(until), "lead_time": 3600}
    ]
    assert imminent(hass, grid) == "on"

    # A restart never repeats a warning.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert len(grid.of("grid_ledger_trip_warning")) == 2
    assert imminent(hass, grid) == "on"


async def test_warnings_at_configured_lead_times(hass: HomeAssistant, grid: Grid) -> None:
    until = grid.permit_until()
    await setup_grid_entry(hass, grid, {CONF_WARNING_LEADS: [30, 5]})
    assert grid.of("grid_ledger_trip_warning") == []
    await grid.move_to(hass, until - 1800)
    await grid.move_to(hass, until - 301)
    assert imminent(hass, grid) == "off"
    await grid.move_to(hass, until - 300)
    assert imminent(hass, grid) == "on"
    leads = [event["lead_time"] for event in grid.of("grid_ledger_trip_warning")]
    assert leads == [1800, 300]


async def test_trip_at_the_end_of_a_friendly_window(
    hass: HomeAssistant, node: Anvil, freezer: FrozenDateTimeFactory
) -> None:
    grid = make_grid(node, freezer, LedgerConfig())
    raw = grid.permit_until()
    minute = (raw % 86400) // 60
    start, end = (minute - 30) % 1440, (minute + 45) % 1440
    grid.ledger.deployment.set_friendly_window(0, start, end, 0)
    until = grid.permit_until()
    window_end = raw - raw % 86400 + end * 60 + (86400 if end < minute else 0)
    assert until == window_end
    await setup_grid_entry(hass, grid)

    await grid.move_to(hass, raw)
    assert relay_state(hass) == "on"
    await grid.move_to(hass, until - 1)
    assert relay_state(hass) == "on"
    await grid.move_to(hass, until)
    assert relay_state(hass) == "off"
    assert grid.of("grid_ledger_tripped")[0]["permit_until"] == utc(until).isoformat()


async def test_protection_restores_with_no_expiry(hass: HomeAssistant, grid: Grid) -> None:
    until = grid.permit_until()
    await setup_grid_entry(hass, grid)
    await grid.move_to(hass, until)
    assert relay_state(hass) == "off"
    grid.ledger.deployment.set_protected(grid.meter.meter_id)
    await poll_events(hass, grid, lambda: relay_state(hass) == "on")
    assert grid.of("grid_ledger_restored")[-1]["permit_until"] is None
    assert imminent(hass, grid) == "off"


async def test_options_fail_safe_and_warning_leads(hass: HomeAssistant, grid: Grid) -> None:
    entry = await setup_grid_entry(hass, grid)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"].schema  # type: ignore[union-attr]
    suggested = {str(key): key.description["suggested_value"] for key in schema}
    assert suggested["fail_safe"] == "fail_open"
    assert suggested["warning_leads"] == ["1440", "60"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "reading_interval": 15,
            "fail_safe": "fail_closed",
            "warning_leads": ["60", "2880", "60"],
        },
    )
    assert entry.options["fail_safe"] == "fail_closed"
    assert entry.options["warning_leads"] == [2880, 60]
    await settle(hass)
    enforcer = entry.runtime_data.enforcer
    assert enforcer is not None
    assert enforcer.fail_safe == "fail_closed"
    assert enforcer.leads == (172800, 3600)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"].schema  # type: ignore[union-attr]
    suggested = {str(key): key.description["suggested_value"] for key in schema}
    assert suggested["warning_leads"] == ["2880", "60"]
