"""The Energy dashboard accepts our entities, and the cost statistics add up to the bills."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy import data as energy_data, validate as energy_validate
from homeassistant.components.recorder import Recorder, get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.grid_ledger.const import CONF_EXPORT_ENTITY, CONF_READING_INTERVAL, DOMAIN

from .conftest import (
    RELAY_ENTITY,
    LocalChain,
    deploy,
    entry_data,
    make_entry,
    register_meter,
    set_register,
)
from .test_billing import issue_bill
from .test_entities import setup_fixed_meter

pytestmark = pytest.mark.usefixtures("socket_enabled")
EXPORT_ENTITY = "sensor.house_export"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must exist before Home Assistant starts."""


async def compile_this_five_minutes(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Compile the statistics of the current five minutes, as the recorder does once they end."""
    await async_wait_recording_done(hass)
    start = dt_util.utcnow().replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    freezer.move_to(start + timedelta(minutes=5, seconds=1))
    do_adhoc_statistics(hass, start=start)
    await async_wait_recording_done(hass)


async def test_energy_dashboard_accepts_our_entities(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
) -> None:
    await setup_fixed_meter(hass, local_chain)
    energy_entity = "sensor.grid_ledger_meter_7_attested_energy"
    price_entity = "sensor.grid_ledger_meter_7_tariff_price"
    await compile_this_five_minutes(hass, freezer)

    assert await async_setup_component(hass, "energy", {})
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "grid",
                    "flow_from": [
                        {
                            "stat_energy_from": energy_entity,
                            "stat_cost": None,
                            "entity_energy_price": price_entity,
                            "number_energy_price": None,
                        }
                    ],
                    "flow_to": [],
                    "cost_adjustment_day": 0,
                }
            ]
        }
    )
    hass.config.currency = "EUR"
    result = await energy_validate.async_validate(hass)
    assert result.as_dict() == {
        "energy_sources": [[]],
        "device_consumption": [],
        "device_consumption_water": [],
    }


@pytest.mark.freeze_time("2026-11-26 12:57:30+00:00")  # the start that once hid the first window
async def test_cost_statistics_add_up_to_what_the_contract_billed(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    """Two billing periods: the long-term statistics' sum of the Cost entity is the sum of both
    bills, to the token's base unit, so the Energy dashboard can use it as the cost."""
    ledger = deploy(local_chain.node, token=True)
    meter = register_meter(ledger)
    decimals = 6  # the test stablecoin's
    cost = f"sensor.grid_ledger_meter_{meter.meter_id}_cost"
    # Two 5-minute windows that close an hour. The recorder marks the last five minutes that ended
    # before it started as compiled, so both windows lie after the test's start.
    hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    start = hour - timedelta(minutes=10)
    freezer.move_to(start)
    await set_register(hass, 1.0)
    hass.states.async_set(RELAY_ENTITY, "on")
    entry = make_entry(ledger, meter)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator
    if not coordinator.last_update_success:  # a slow node at start-up: the statistics need
        await coordinator.async_refresh()  # the Cost before any bill as their zero point
        await hass.async_block_till_done()
    state = hass.states.get(cost)
    assert state is not None
    assert Decimal(state.state) == 0

    billed: list[int] = []
    for window, kwh in enumerate((1, 2)):
        freezer.move_to(start + timedelta(minutes=5 * window, seconds=30))
        issue_bill(ledger, meter, kwh)
        billed.append(int(ledger.contract.functions.billOf(meter.meter_id).call()[2]))
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        state = hass.states.get(cost)
        assert state is not None
        assert Decimal(state.state) == Decimal(billed[-1]).scaleb(-decimals)
        await async_wait_recording_done(hass)
        freezer.move_to(start + timedelta(minutes=5 * (window + 1), seconds=1))
        do_adhoc_statistics(hass, start=start + timedelta(minutes=5 * window))
        await async_wait_recording_done(hass)
    assert billed[1] > billed[0] > 0  # a drop or a repeat would hide a bill

    def sums(period: str) -> list[Decimal]:
        rows = statistics_during_period(
            hass, start - timedelta(hours=1), None, {cost}, period, None, {"sum"}
        )[cost]
        return [round(Decimal(str(row["sum"])), decimals) for row in rows]

    total = Decimal(sum(billed)).scaleb(-decimals)
    five_minutes = await get_instance(hass).async_add_executor_job(sums, "5minute")
    assert five_minutes == [Decimal(billed[0]).scaleb(-decimals), total]
    hourly = await get_instance(hass).async_add_executor_job(sums, "hour")
    assert hourly == [total]

    # The Energy dashboard takes it as the grid's cost, beside our energy entity.
    assert await async_setup_component(hass, "energy", {})
    manager = await energy_data.async_get_manager(hass)
    energy = f"sensor.grid_ledger_meter_{meter.meter_id}_attested_energy"
    source = {"stat_energy_from": energy, "stat_cost": cost}
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "grid",
                    "flow_from": [
                        {**source, "entity_energy_price": None, "number_energy_price": None}
                    ],
                    "flow_to": [],
                    "cost_adjustment_day": 0,
                }
            ]
        }
    )
    hass.config.currency = "EUR"
    result = await energy_validate.async_validate(hass)
    assert result.as_dict()["energy_sources"] == [[]]


async def test_energy_dashboard_takes_return_to_grid_and_its_compensation(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    """A prosumer's grid source: consumption with its cost, and return to grid with its
    compensation, all from our entities, and no issue."""
    ledger = deploy(local_chain.node, token=True)
    meter = register_meter(ledger)
    ledger.deployment.enable_export(meter.meter_id)  # rated 20 kW, like its import
    ledger.transact(ledger.contract.functions.setProducerTariff(1, (80_000, 0)))
    await set_register(hass, 1.0)
    hass.states.async_set(
        EXPORT_ENTITY, "0.4", {"unit_of_measurement": "kWh", "device_class": "energy"}
    )
    hass.states.async_set(RELAY_ENTITY, "on")
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={**entry_data(ledger, meter), CONF_EXPORT_ENTITY: EXPORT_ENTITY},
        options={CONF_READING_INTERVAL: 15},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    freezer.tick(120)  # 0.4 kWh exported in two minutes is 12 kW, within the rating
    await hass.services.async_call(
        DOMAIN, "submit_reading", {"config_entry_id": entry.entry_id}, blocking=True
    )
    await hass.async_block_till_done()
    prefix = f"sensor.grid_ledger_meter_{meter.meter_id}"
    assert hass.states.get(f"{prefix}_exported_energy").state == "0.4"  # type: ignore[union-attr]

    await compile_this_five_minutes(hass, freezer)

    assert await async_setup_component(hass, "energy", {})
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "grid",
                    "flow_from": [
                        {
                            "stat_energy_from": f"{prefix}_attested_energy",
                            "stat_cost": f"{prefix}_cost",
                            "entity_energy_price": None,
                            "number_energy_price": None,
                        }
                    ],
                    "flow_to": [
                        {
                            "stat_energy_to": f"{prefix}_exported_energy",
                            "stat_compensation": f"{prefix}_export_compensation",
                            "entity_energy_price": None,
                            "number_energy_price": None,
                        }
                    ],
                    "cost_adjustment_day": 0,
                }
            ]
        }
    )
    hass.config.currency = "EUR"
    result = await energy_validate.async_validate(hass)
    assert result.as_dict()["energy_sources"] == [[]]
