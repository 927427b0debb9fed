"""Readings: taken from the energy entity, signed, kept through outages, landed exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.grid_ledger.chain import (
    GridLedgerError,
    Reading,
    RevertedError,
    generate_private_key,
)
from custom_components.grid_ledger.const import DOMAIN

from .conftest import (
    RELAY_ENTITY,
    Ledger,
    LocalChain,
    MeterSetup,
    make_entry,
    register_meter,
    set_register,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")


def on_chain(ledger: Ledger, meter_id: int) -> tuple[int, int]:
    info = ledger.contract.functions.meter(meter_id).call()
    return int(info[7]), int(info[8])


def accepted(ledger: Ledger, meter_id: int) -> list[int]:
    """Registers of every ReadingAccepted event of a meter."""
    logs = ledger.contract.events.ReadingAccepted().get_logs(
        from_block=0, argument_filters={"meterId": meter_id}
    )
    return [int(log["args"]["wh"]) for log in logs]


async def submit(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "submit_reading",
        {"config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    hass.states.async_set(RELAY_ENTITY, "on")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_submit_reading_lands_on_chain(
    hass: HomeAssistant, entry: MockConfigEntry, ledger: Ledger, meter: MeterSetup
) -> None:
    await set_register(hass, 1.004)
    response = await submit(hass, entry)
    assert response["submitted"] is True
    assert response["wh"] == 1004
    assert response["tx_hash"].startswith("0x")
    assert on_chain(ledger, meter.meter_id)[0] == 1004
    assert accepted(ledger, meter.meter_id) == [1004]
    energy = hass.states.get(f"sensor.grid_ledger_meter_{meter.meter_id}_attested_energy")
    assert energy is not None
    assert float(energy.state) == pytest.approx(1.004)
    last = hass.states.get(f"sensor.grid_ledger_meter_{meter.meter_id}_last_reading_submitted")
    assert last is not None
    assert last.state != "unknown"


@pytest.mark.parametrize(
    ("value", "unit", "wh"),
    [
        ("1003", "Wh", 1003),
        ("1.002", "kWh", 1002),
        ("1.0029", "kWh", 1002),  # whole Wh, rounded down
        ("0.001001", "MWh", 1001),
    ],
)
async def test_register_units(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    ledger: Ledger,
    meter: MeterSetup,
    value: str,
    unit: str,
    wh: int,
) -> None:
    await set_register(hass, value, unit)
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": f"button.grid_ledger_meter_{meter.meter_id}_submit_reading"},
        blocking=True,
    )
    assert on_chain(ledger, meter.meter_id)[0] == wh


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        ("unknown", "kWh"),
        ("unavailable", "kWh"),
        ("garbage", "kWh"),
        ("nan", "kWh"),
        ("inf", "kWh"),
        ("5", "J"),
    ],
)
async def test_unusable_register_is_not_submitted(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    ledger: Ledger,
    meter: MeterSetup,
    value: str,
    unit: str,
) -> None:
    await set_register(hass, value, unit)
    assert (await submit(hass, entry)) == {"submitted": False}
    assert accepted(ledger, meter.meter_id) == []


async def test_readings_on_the_interval(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    await set_register(hass, 1.0)
    await setup(hass, make_entry(ledger, meter))
    await set_register(hass, 1.003)
    freezer.tick(timedelta(minutes=15))
    ledger.anvil.increase_time(15 * 60)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert accepted(ledger, meter.meter_id) == [1003]


async def test_register_backwards_raises_a_repair_and_is_never_submitted(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    ledger: Ledger,
    meter: MeterSetup,
    issue_registry: ir.IssueRegistry,
) -> None:
    await set_register(hass, 0.5)
    assert (await submit(hass, entry)) == {"submitted": False}
    issue = issue_registry.async_get_issue(DOMAIN, f"register_backwards_{meter.meter_id}")
    assert issue is not None
    assert issue.translation_placeholders == {
        "entity_id": "sensor.house_energy",
        "wh": "500",
        "last_wh": "1000",
    }
    assert accepted(ledger, meter.meter_id) == []

    await set_register(hass, 1.001)
    assert (await submit(hass, entry))["submitted"] is True
    assert issue_registry.async_get_issue(DOMAIN, f"register_backwards_{meter.meter_id}") is None


async def test_rejected_reading_is_dropped(
    hass: HomeAssistant, entry: MockConfigEntry, ledger: Ledger, meter: MeterSetup
) -> None:
    await set_register(hass, 900)  # 899 kWh in a second: implausible for a 20 kW meter
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "contract_implausible_power"
    assert str(err.value).startswith("The energy since the last reading implies more power")
    await set_register(hass, 1.001)
    assert (await submit(hass, entry))["wh"] == 1001
    assert accepted(ledger, meter.meter_id) == [1001]


async def test_wallet_without_gas_raises_a_repair(
    hass: HomeAssistant, ledger: Ledger, issue_registry: ir.IssueRegistry
) -> None:
    poor_key = generate_private_key()
    meter = register_meter(ledger)
    poor = MeterSetup(meter.meter_id, meter.meter_key, "", poor_key)
    await set_register(hass, 1.0)
    entry = make_entry(ledger, poor)
    await setup(hass, entry)
    await set_register(hass, 1.002)
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "wallet_no_gas"
    issue = issue_registry.async_get_issue(DOMAIN, f"wallet_no_gas_{meter.meter_id}")
    assert issue is not None

    address = issue.translation_placeholders["address"]  # type: ignore[index]
    ledger.anvil.rpc("anvil_setBalance", address, hex(10**18))
    assert (await submit(hass, entry))["submitted"] is True
    assert issue_registry.async_get_issue(DOMAIN, f"wallet_no_gas_{meter.meter_id}") is None
    assert accepted(ledger, meter.meter_id) == [1002]


async def test_paused_contract_keeps_the_reading(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    await set_register(hass, 1.0)
    entry = make_entry(ledger, meter)
    await setup(hass, entry)
    ledger.transact(ledger.contract.functions.pause())
    await set_register(hass, 1.002)
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "contract_paused"
    ledger.transact(ledger.contract.functions.unpause())
    # The coordinator's next refresh retries the kept reading.
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert accepted(ledger, meter.meter_id) == [1002]


async def test_node_down_then_up(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    await set_register(hass, 1.0)
    entry = make_entry(ledger, meter)
    await setup(hass, entry)
    reachable = f"binary_sensor.grid_ledger_meter_{meter.meter_id}_node_reachable"

    local_chain.down()
    await set_register(hass, 1.002)
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "reading_queued"
    await set_register(hass, 1.004)
    with pytest.raises(HomeAssistantError):
        await submit(hass, entry)
    freezer.tick(timedelta(minutes=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(reachable).state == "off"  # type: ignore[union-attr]

    local_chain.up()
    freezer.tick(timedelta(minutes=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(reachable).state == "on"  # type: ignore[union-attr]
    # One reading covers the outage; the older queued one was superseded, never sent.
    assert accepted(ledger, meter.meter_id) == [1004]


async def test_outbox_survives_a_restart(
    hass: HomeAssistant, local_chain: LocalChain, hass_storage: dict[str, Any]
) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    await set_register(hass, 1.0)
    entry = make_entry(ledger, meter)
    await setup(hass, entry)

    local_chain.down()
    await set_register(hass, 1.003)
    with pytest.raises(HomeAssistantError):
        await submit(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
    assert stored["pending"]["wh"] == 1003

    local_chain.up()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert accepted(ledger, meter.meter_id) == [1003]
    assert hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]["pending"] is None


async def test_reading_relayed_elsewhere_is_not_sent_twice(
    hass: HomeAssistant, local_chain: LocalChain, hass_storage: dict[str, Any]
) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    await set_register(hass, 1.0)
    entry = make_entry(ledger, meter)
    await setup(hass, entry)

    local_chain.down()
    await set_register(hass, 1.003)
    with pytest.raises(HomeAssistantError):
        await submit(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    local_chain.up()

    # Anyone may relay a signed reading: the operator relays the stored one first.
    pending = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]["pending"]
    ledger.transact(
        ledger.contract.functions.submitReading(
            (pending["meter_id"], pending["wh"], pending["timestamp"]),
            bytes.fromhex(pending["signature"]),
        )
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert accepted(ledger, meter.meter_id) == [1003]
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
    assert stored["pending"] is None
    assert stored["last_submitted"]["wh"] == 1003


async def test_service_rejects_unknown_and_unloaded_entries(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "submit_reading", {"config_entry_id": "nope"}, blocking=True
        )
    assert err.value.translation_key == "entry_not_found"
    assert await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "entry_not_loaded"


async def test_contract_events_refresh_entities_over_websocket(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    await set_register(hass, 1.0)
    entry = make_entry(ledger, meter, rpc_url=ledger.anvil.ws_url)
    await setup(hass, entry)
    energy = f"sensor.grid_ledger_meter_{meter.meter_id}_attested_energy"
    assert hass.states.get(energy).state == "1.0"  # type: ignore[union-attr]

    # Another relay submits a reading of this meter: the subscription brings it in.
    signer = entry.runtime_data.pipeline.signer
    last_timestamp = on_chain(ledger, meter.meter_id)[1]
    signed = signer.sign(Reading(meter.meter_id, 1001, last_timestamp + 1))
    ledger.transact(
        ledger.contract.functions.submitReading(
            (meter.meter_id, 1001, signed.reading.timestamp), signed.signature
        )
    )
    changed = asyncio.Event()
    unsub = async_track_state_change_event(hass, energy, lambda _event: changed.set())
    try:
        async with asyncio.timeout(10):
            await changed.wait()
    finally:
        unsub()
    assert hass.states.get(energy).state == "1.001"  # type: ignore[union-attr]


async def test_interval_reading_waits_out_an_outage(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    await set_register(hass, 1.0)
    entry = make_entry(ledger, meter)
    await setup(hass, entry)
    local_chain.down()
    await set_register(hass, 1.003)
    freezer.tick(timedelta(minutes=15))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]["pending"]["wh"] == 1003
    local_chain.up()
    ledger.anvil.increase_time(15 * 60)
    freezer.tick(timedelta(minutes=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert accepted(ledger, meter.meter_id) == [1003]


async def test_contract_error_while_refreshing(
    hass: HomeAssistant, entry: MockConfigEntry, meter: MeterSetup
) -> None:
    balance = f"sensor.grid_ledger_meter_{meter.meter_id}_balance"
    coordinator = entry.runtime_data.coordinator
    with patch.object(coordinator.client, "meter_state", side_effect=RevertedError("UnknownMeter")):
        await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(balance).state == "unavailable"  # type: ignore[union-attr]
    assert str(coordinator.last_exception) == "Reading the contract failed: UnknownMeter()"
    with (
        patch.object(
            entry.runtime_data.pipeline, "async_submit_now", side_effect=GridLedgerError("odd")
        ),
        pytest.raises(HomeAssistantError) as err,
    ):
        await submit(hass, entry)
    assert err.value.translation_key == "update_failed"
