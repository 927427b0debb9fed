"""Readings: taken from the energy entity, signed, kept through outages, landed exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from eth_account import Account
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
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
    relay_kept_reading,
    set_register,
    until,
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


async def fresh_meter(
    hass: HomeAssistant, local_chain: LocalChain
) -> tuple[Ledger, MeterSetup, MockConfigEntry]:
    """A new meter on the shared ledger, its register at 1 kWh, its entry set up."""
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    await set_register(hass, 1.0)
    entry = make_entry(ledger, meter)
    await setup(hass, entry)
    return ledger, meter, entry


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
        # Every other energy unit Home Assistant offers, converted exactly, rounded down.
        ("0.0036072", "GJ", 1002),
        ("3.6036", "MJ", 1001),
        ("3607.2", "kJ", 1002),
        ("3603600", "J", 1001),
        ("1001999", "mWh", 1001),
        ("0.000001003", "GWh", 1003),
        ("0.000000001004", "TWh", 1004),
        ("862.5", "kcal", 1002),  # 1002.4 Wh
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


async def test_a_restart_reads_at_once_when_a_reading_is_overdue(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    """Restarted (here: reloaded) longer than an interval after the last reading, the entry
    reads at once instead of an interval later: a Home Assistant that restarts more often than
    the interval still attests its meter."""
    ledger, meter, entry = await fresh_meter(hass, local_chain)  # registered at 1 kWh: now
    await set_register(hass, 1.003)
    freezer.tick(timedelta(minutes=20))
    ledger.anvil.increase_time(20 * 60)
    assert on_chain(ledger, meter.meter_id)[0] == 1000
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert on_chain(ledger, meter.meter_id)[0] == 1003


async def test_the_interval_counts_from_the_last_reading_across_a_restart(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    """Reloaded ten minutes after the last reading, the entry reads five minutes later (when the
    interval since that reading ends), not at once and not a whole interval after the reload."""
    ledger, meter, entry = await fresh_meter(hass, local_chain)  # registered at 1 kWh: now
    await set_register(hass, 1.003)
    freezer.tick(timedelta(minutes=10))
    ledger.anvil.increase_time(10 * 60)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert on_chain(ledger, meter.meter_id)[0] == 1000
    freezer.tick(timedelta(minutes=5, seconds=1))
    ledger.anvil.increase_time(5 * 60 + 1)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert on_chain(ledger, meter.meter_id)[0] == 1003


async def test_register_backwards_raises_a_repair_and_is_never_submitted(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    ledger: Ledger,
    meter: MeterSetup,
    issue_registry: ir.IssueRegistry,
) -> None:
    await set_register(hass, 0.5)
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "register_backwards"
    assert err.value.translation_placeholders == {
        "source": "sensor.house_energy",
        "wh": "500",
        "last_wh": "1000",
    }
    issue = issue_registry.async_get_issue(DOMAIN, f"register_backwards_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {
        "entity_id": "sensor.house_energy",
        "wh": "500",
        "last_wh": "1000",
    }
    assert accepted(ledger, meter.meter_id) == []

    await set_register(hass, 1.001)
    assert (await submit(hass, entry))["submitted"] is True
    assert issue_registry.async_get_issue(DOMAIN, f"register_backwards_{entry.entry_id}") is None


async def test_rejected_reading_is_dropped(
    hass: HomeAssistant, entry: MockConfigEntry, ledger: Ledger, meter: MeterSetup
) -> None:
    signer = ledger.contract.functions.meter(meter.meter_id).call()[0]
    other = Account.create().address
    ledger.transact(ledger.contract.functions.setMeterSigner(meter.meter_id, other))
    await set_register(hass, 1.001)
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "contract_invalid_signature"
    assert str(err.value).startswith("The reading is not signed by this meter's registered key")
    assert entry.runtime_data.pipeline.pending is None  # a newer reading cannot fix it: dropped
    ledger.transact(ledger.contract.functions.setMeterSigner(meter.meter_id, signer))
    await set_register(hass, 1.002)
    assert (await submit(hass, entry))["wh"] == 1002
    assert accepted(ledger, meter.meter_id) == [1002]


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
    issue = issue_registry.async_get_issue(DOMAIN, f"wallet_no_gas_{entry.entry_id}")
    assert issue is not None

    address = issue.translation_placeholders["address"]  # type: ignore[index]
    ledger.anvil.rpc("anvil_setBalance", address, hex(10**18))
    assert (await submit(hass, entry))["submitted"] is True
    assert issue_registry.async_get_issue(DOMAIN, f"wallet_no_gas_{entry.entry_id}") is None
    assert accepted(ledger, meter.meter_id) == [1002]


async def test_paused_contract_keeps_the_reading(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger, meter, entry = await fresh_meter(hass, local_chain)
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
    ledger, meter, entry = await fresh_meter(hass, local_chain)
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
    ledger, meter, entry = await fresh_meter(hass, local_chain)

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
    ledger, meter, entry = await fresh_meter(hass, local_chain)

    local_chain.down()
    await set_register(hass, 1.003)
    with pytest.raises(HomeAssistantError):
        await submit(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    local_chain.up()

    # Anyone may relay a signed reading: the operator relays the stored one first.
    relay_kept_reading(ledger, hass_storage, entry, "submitReading")
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert accepted(ledger, meter.meter_id) == [1003]
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
    assert stored["pending"] is None
    assert stored["last_submitted"]["wh"] == 1003


def pool(ledger: Ledger) -> list[str]:
    """Hashes of the transactions waiting in the node's pool."""
    block = ledger.anvil.rpc("eth_getBlockByNumber", "pending", False)
    return [str(tx_hash) for tx_hash in block["transactions"]]


@pytest.mark.parametrize("while_down", ["mined", "still_pooled", "forgotten_by_the_node"])
async def test_restart_with_an_unmined_reading_never_sends_a_second_transaction(
    hass: HomeAssistant, local_chain: LocalChain, hass_storage: dict[str, Any], while_down: str
) -> None:
    """Home Assistant stops while the reading's transaction waits for its block. The next start
    finds it mined, or hands the node the same signed bytes again: never a new transaction
    (which would revert `StaleReading` and leave "Last reading submitted" unknown)."""
    ledger, meter, entry = await fresh_meter(hass, local_chain)
    node = ledger.anvil
    nonce = int(ledger.w3.eth.get_transaction_count(meter.wallet_address))
    await set_register(hass, 1.003)

    node.rpc("evm_setAutomine", False)
    try:
        entry.async_create_background_task(
            hass, entry.runtime_data.pipeline.async_submit_now(), "reading in flight"
        )
        [tx_hash] = await until(lambda: pool(ledger), 10)
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        stored = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]["pending"]
        timestamp = stored["timestamp"]
        if while_down == "mined":
            node.rpc("evm_mine")
        elif while_down == "forgotten_by_the_node":
            node.rpc("anvil_dropTransaction", tx_hash)
            assert pool(ledger) == []

        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        if while_down != "mined":
            await asyncio.sleep(0.5)  # the outbox is retried at once: time for a resend to show
            assert await until(lambda: pool(ledger), 10) == [tx_hash]  # the same bytes again
            node.rpc("evm_mine")
        await hass.async_block_till_done(wait_background_tasks=True)
    finally:
        node.rpc("evm_setAutomine", True)

    assert accepted(ledger, meter.meter_id) == [1003]
    assert int(ledger.w3.eth.get_transaction_count(meter.wallet_address)) == nonce + 1
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
    assert stored["pending"] is None
    assert stored["last_submitted"]["tx_hash"] == tx_hash
    last = hass.states.get(f"sensor.grid_ledger_meter_{meter.meter_id}_last_reading_submitted")
    assert last is not None
    assert last.state == dt_util.utc_from_timestamp(timestamp).isoformat()


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
    ledger, meter, entry = await fresh_meter(hass, local_chain)
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


async def test_entities_go_unavailable_while_the_node_cannot_be_read(
    hass: HomeAssistant, local_chain: LocalChain, entity_registry: er.EntityRegistry
) -> None:
    _, meter, entry = await fresh_meter(hass, local_chain)
    registered = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    reachable = f"binary_sensor.grid_ledger_meter_{meter.meter_id}_node_reachable"
    # Every entity but the one that reports the node's reachability itself.
    entities = sorted(e.entity_id for e in registered if e.entity_id != reachable)
    assert len(entities) == len(registered) - 1 >= 10

    def unavailable() -> list[str]:
        return sorted(e for e in entities if hass.states.get(e).state == "unavailable")  # type: ignore[union-attr]

    assert unavailable() == []
    local_chain.down()
    try:
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()
        assert unavailable() == entities
        assert hass.states.get(reachable).state == "off"  # type: ignore[union-attr]
    finally:
        local_chain.up()
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert unavailable() == []
