"""States that depend on time change at that time, and a trip tells the household why."""

from __future__ import annotations

from typing import Any

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant, callback
from homeassistant.setup import async_setup_component
import pytest

from custom_components.grid_ledger.const import CONF_WARNING_LEADS, DOMAIN

from .enforcement_fixtures import (
    Grid,
    grid_fixture,  # noqa: F401
    node_fixture,  # noqa: F401
    poll_events,
    relay_state,
    setup_grid_entry,
)
from .test_calendar import list_events

pytestmark = pytest.mark.usefixtures("socket_enabled")


def state_of(hass: HomeAssistant, grid: Grid, key: str) -> str:
    state = hass.states.get(f"binary_sensor.grid_ledger_meter_{grid.meter.meter_id}_{key}")
    assert state is not None
    return state.state


def follow_notifications(hass: HomeAssistant) -> dict[str, persistent_notification.Notification]:
    """The persistent notifications shown now, by id, kept up to date."""
    shown: dict[str, persistent_notification.Notification] = {}

    @callback
    def _update(kind: persistent_notification.UpdateType, changed: dict[str, Any]) -> None:
        if kind is persistent_notification.UpdateType.REMOVED:
            for key in changed:
                del shown[key]
        else:
            shown.update(changed)

    persistent_notification.async_register_callback(hass, _update)
    return shown


async def test_permit_entities_follow_the_clock_and_the_trip_says_why(
    hass: HomeAssistant, grid: Grid
) -> None:
    """No block is mined at the due date or the permit's end (as on a chain whose last block is
    a little older): the entities change at those instants all the same, with the relay."""
    assert await async_setup_component(hass, persistent_notification.DOMAIN, {})
    shown = follow_notifications(hass)
    until = grid.permit_until()
    entry = await setup_grid_entry(hass, grid)
    assert (state_of(hass, grid, "permit_active"), state_of(hass, grid, "bill_overdue")) == (
        "on",
        "off",
    )

    await grid.move_to(hass, until - 600)  # a block past the due date, within the grace
    assert grid.amount_due() > 0
    assert state_of(hass, grid, "bill_overdue") == "on"
    await grid.move_to(hass, until - 1, mine=False)
    assert state_of(hass, grid, "permit_active") == "on"
    assert relay_state(hass) == "on"
    assert shown == {}

    await grid.move_to(hass, until, mine=False)
    assert relay_state(hass) == "off"
    assert state_of(hass, grid, "permit_active") == "off"
    notification = shown[f"grid_ledger_tripped_{entry.entry_id}"]
    assert notification["title"] == f"Supply off: meter {grid.meter.meter_id}'s permit ended"
    assert "because a bill is unpaid" in notification["message"]
    assert "switch.house_supply was switched off" in notification["message"]
    assert "Pay the amount due" in notification["message"]

    grid.pay()  # the household pays: supply, permit and notification come back together
    await poll_events(hass, grid, lambda: relay_state(hass) == "on")
    assert state_of(hass, grid, "permit_active") == "on"
    assert state_of(hass, grid, "bill_overdue") == "off"
    assert shown == {}


async def test_no_trip_on_the_calendar_while_nothing_is_owed(
    hass: HomeAssistant, grid: Grid
) -> None:
    """A healthy household: the permit's end is more than the warning lead away and the open
    period is not billed yet. Its calendar shows no trip until a bill is owed."""
    until = grid.permit_until()
    await setup_grid_entry(hass, grid, {CONF_WARNING_LEADS: ["5"]})
    calendar = f"calendar.grid_ledger_meter_{grid.meter.meter_id}_bills_and_trips"
    assert grid.amount_due() == 0
    assert until - grid.chain_time() > 5 * 60
    assert await list_events(hass, calendar, grid.chain_time(), until + 60) == []
    assert state_of(hass, grid, "trip_imminent") == "off"

    await grid.move_to(hass, until - 1000)  # the period is over: its bill is owed
    await hass.config_entries.async_entries(DOMAIN)[0].runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert grid.amount_due() > 0
    events = await list_events(hass, calendar, grid.chain_time(), until + 60)
    assert [e["summary"] for e in events] == ["Bill due", "Supply trip"]


async def test_an_older_unpaid_bill_stays_overdue_when_the_next_is_issued(
    hass: HomeAssistant, grid: Grid
) -> None:
    """The contract reports the latest bill only: its due date is ahead while the previous
    bill, still unpaid, fell due long ago."""
    period = int(grid.contract.functions.periodLength().call())
    genesis = int(grid.contract.functions.genesis().call())
    await setup_grid_entry(hass, grid)
    grid.consume(500)  # energy in period 1 and, after the move, in period 2
    await grid.move_to(hass, genesis + period + 60)
    grid.consume(500)
    await grid.move_to(hass, genesis + 2 * period + 60)  # period 2 billed, period 1 unpaid
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.coordinator
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    data = coordinator.data
    assert data.bill.period == 2
    assert data.bill.due_at > grid.chain_time()
    assert data.amount_due > data.bill.amount
    assert state_of(hass, grid, "bill_overdue") == "on"
