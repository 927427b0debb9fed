"""Entities: snapshot of every entity, and the Energy dashboard accepting ours."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.grid_ledger.const import CONF_READING_INTERVAL, DOMAIN

from .conftest import RELAY_ENTITY, LocalChain, deploy, make_entry, register_meter, set_register

pytestmark = pytest.mark.usefixtures("socket_enabled")

SNAPSHOT_METER_KEY = "0x" + "42" * 32


async def setup_fixed_meter(hass: HomeAssistant, local_chain: LocalChain) -> MockConfigEntry:
    """Meter 7 of a ledger paid in the test stablecoin, on a fresh chain: addresses and ids
    are the same on every run."""
    ledger = deploy(local_chain.node, token=True)
    meter = register_meter(ledger, meter_id=7, meter_key=SNAPSHOT_METER_KEY)
    ledger.deployment.mint(meter.wallet_address, 12_500_000)
    await set_register(hass, 1.0)
    hass.states.async_set(RELAY_ENTITY, "on")
    entry = make_entry(ledger, meter)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_READING_INTERVAL: 15})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_entities(
    hass: HomeAssistant,
    local_chain: LocalChain,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    entry = await setup_fixed_meter(hass, local_chain)
    await set_register(hass, 1.002)
    await hass.services.async_call(
        DOMAIN, "submit_reading", {"config_entry_id": entry.entry_id}, blocking=True
    )
    entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    summary: dict[str, Any] = {}
    for entity in sorted(entities, key=lambda e: e.entity_id):
        state = hass.states.get(entity.entity_id)
        assert state is not None
        value = state.state
        if state.attributes.get("device_class") == "timestamp" and value != "unknown":
            value = "<time>"  # chain time follows the wall clock
        elif entity.translation_key == "wallet_coin":
            value = str(round(float(value)))  # gas spent depends on the contract's code
        summary[entity.entity_id] = {
            "unique_id": entity.unique_id,
            "translation_key": entity.translation_key,
            "entity_category": entity.entity_category,
            "state": value,
            "attributes": dict(state.attributes),
        }
        if entity.domain == "calendar":  # event times follow the wall clock too
            for key in ("start_time", "end_time"):
                summary[entity.entity_id]["attributes"][key] = "<time>"
    assert summary == snapshot
    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert [(d.name, d.manufacturer, d.model, d.serial_number) for d in devices] == snapshot
