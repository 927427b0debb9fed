"""The full cycle against anvil: readings → bill → auto-pay → permit → (auto-pay off) → warnings →
trip → pay → restore, as one household lives it."""

from __future__ import annotations

from typing import Any

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
import pytest

from custom_components.grid_ledger.const import (
    CONF_AUTO_PAY,
    CONF_SPENDING_CAP,
    DOMAIN,
    EVENT_BILL_ISSUED,
    EVENT_PAYMENT_CONFIRMED,
)
from custom_components.grid_ledger.enforcement import iso_time

from .conftest import set_register
from .enforcement_fixtures import (
    Grid,
    grid_fixture,  # noqa: F401
    node_fixture,  # noqa: F401
    poll_events,
    relay_state,
    settle,
    setup_grid_entry,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")


async def submit_reading(
    hass: HomeAssistant, grid: Grid, entry_id: str, kwh: float
) -> dict[str, Any]:
    """Ten minutes on, the household's register reads `kwh`: HA signs it and submits it."""
    await set_register(hass, kwh)
    await grid.move_to(hass, grid.chain_time() + 600)  # the reading timer may submit it first
    response = await hass.services.async_call(
        DOMAIN, "submit_reading", {"config_entry_id": entry_id}, blocking=True, return_response=True
    )
    assert response is not None
    assert response["submitted"] is True
    return dict(response)


async def test_full_cycle(hass: HomeAssistant, grid: Grid) -> None:
    payments: list[dict[str, Any]] = []
    bills: list[dict[str, Any]] = []

    @callback
    def _record(event: Event[Any]) -> None:
        (bills if event.event_type == EVENT_BILL_ISSUED else payments).append(dict(event.data))

    hass.bus.async_listen(EVENT_BILL_ISSUED, _record)
    hass.bus.async_listen(EVENT_PAYMENT_CONFIRMED, _record)
    genesis = int(grid.contract.functions.genesis().call())
    period = 3600
    entry = await setup_grid_entry(hass, grid, {CONF_AUTO_PAY: True, CONF_SPENDING_CAP: 1.0})
    coordinator = entry.runtime_data.coordinator
    first_permit = grid.permit_until()
    assert first_permit == genesis + period + 1500

    # Readings in period 1; the first reading after the period's end issues its bill.
    await submit_reading(hass, grid, entry.entry_id, 1.7)
    await grid.move_to(hass, genesis + period)
    await submit_reading(hass, grid, entry.entry_id, 1.8)
    await wait_for(hass, lambda: bills != [] and payments != [])

    # Auto-pay paid it within the cap: nothing due, the permit runs a period longer.
    assert bills[0]["period"] == 1
    assert bills[0]["energy_kwh"] == pytest.approx(0.7)
    assert payments[0]["amount"] == bills[0]["amount"]
    assert grid.amount_due() == 0
    second_permit = grid.permit_until()
    assert second_permit == genesis + 2 * period + 1500
    await wait_for(hass, lambda: coordinator.data.permit_until == second_permit)

    # The household turns auto-pay off; period 2's bill stays unpaid.
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_AUTO_PAY: False})
    await settle(hass)
    coordinator = entry.runtime_data.coordinator
    await submit_reading(hass, grid, entry.entry_id, 2.1)
    await grid.move_to(hass, genesis + 2 * period)
    await submit_reading(hass, grid, entry.entry_id, 2.2)
    await wait_for(hass, lambda: len(bills) == 2)
    assert len(payments) == 1
    assert grid.amount_due() > 0
    assert grid.permit_until() == second_permit  # due date + grace: the trip is scheduled

    # Warnings for both permits, in order: the day-ahead one at once (it was due before the permit
    # was known), the hour-ahead one when its time came.
    warnings = grid.of("grid_ledger_trip_warning")
    assert [(w["permit_until"], w["lead_time"]) for w in warnings] == [
        (iso_time(first_permit), 86400),
        (iso_time(first_permit), 3600),
        (iso_time(second_permit), 86400),
        (iso_time(second_permit), 3600),
    ]
    assert grid.of("grid_ledger_tripped") == []

    # The trip, at the permit's end exactly.
    await grid.move_to(hass, second_permit - 1)
    assert relay_state(hass) == "on"
    await grid.move_to(hass, second_permit)
    assert relay_state(hass) == "off"
    assert [e["reason"] for e in grid.of("grid_ledger_tripped")] == ["permit_expired"]

    # The household pays with the action; the payment's block restores the supply.
    response = await hass.services.async_call(
        DOMAIN, "pay_bill", {"config_entry_id": entry.entry_id}, blocking=True, return_response=True
    )
    assert response is not None
    assert str(response["tx_hash"]).startswith("0x")
    assert grid.amount_due() == 0
    await poll_events(hass, grid, lambda: relay_state(hass) == "on")
    third_permit = grid.permit_until()
    assert third_permit > second_permit
    assert grid.of("grid_ledger_restored")[-1]["permit_until"] == iso_time(third_permit)


async def test_the_reading_that_closes_a_period_waits_for_the_chain_to_reach_it(
    hass: HomeAssistant, grid: Grid
) -> None:
    """Home Assistant's clock is past the period's end, the chain's latest block is not: a
    reading stamped in the new period would be refused (it would close the period early), so it
    is stamped in the period the chain is in and lands; the first reading after a block in the
    new period issues the bill."""
    genesis = int(grid.contract.functions.genesis().call())
    period_end = genesis + 3600
    entry = await setup_grid_entry(hass, grid)
    register = grid.register_wh()

    async def read(wh: int) -> int:
        await set_register(hass, wh / 1000)
        response = await hass.services.async_call(
            DOMAIN,
            "submit_reading",
            {"config_entry_id": entry.entry_id},
            blocking=True,
            return_response=True,
        )
        assert response is not None
        assert grid.register_wh() == wh
        return int(response["timestamp"])

    await grid.move_to(hass, period_end - 20)
    await set_register(hass, (register + 10) / 1000)
    await grid.move_to(hass, period_end + 5, mine=False)
    # The period's last-second reading came due: stamped in the period the chain is in.
    await wait_for(hass, lambda: grid.register_wh() == register + 10)
    assert int(grid.contract.functions.meter(grid.meter.meter_id).call()[8]) == period_end - 1
    assert grid.amount_due() == 0
    with pytest.raises(HomeAssistantError) as err:  # no later second is left in that period
        await read(register + 15)
    assert err.value.translation_key == "reading_waits_for_chain"

    await grid.move_to(hass, period_end + 15)
    assert await read(register + 20) == period_end + 15
    assert grid.amount_due() > 0


async def test_a_reading_at_the_last_second_of_each_period(hass: HomeAssistant, grid: Grid) -> None:
    """A new tariff version, or another tariff the operator moved the meter to, applies from a
    period's start, and the ledger prices an interval across it at its dearer side as far as the
    meter's rating allows: the integration reads at each period's last second, so that no
    interval of an honest household spans a period's start."""
    period_end = int(grid.contract.functions.genesis().call()) + 3600
    await setup_grid_entry(hass, grid)
    await grid.move_to(hass, period_end - 60)  # the interval's reading is due: it lands here
    register = grid.register_wh()
    await set_register(hass, (register + 10) / 1000)
    # Signed in period 1 and estimated against its latest block, it lands in a block of period 2,
    # where it closes period 1: several times the gas of a reading inside a period.
    grid.node.rpc("evm_setNextBlockTimestamp", period_end + 1)
    await grid.move_to(hass, period_end - 1, mine=False)  # the interval's next is 15 min away
    await wait_for(hass, lambda: grid.register_wh() == register + 10)
    meter = grid.contract.functions.meter(grid.meter.meter_id).call()
    assert int(meter[8]) == period_end - 1
