"""Repairs: entities gone (with a fix flow) and a node unreachable for long."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import DOMAIN as REPAIRS_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

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


async def test_missing_relay_is_repaired_by_picking_another(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    ledger: Ledger,
    meter: MeterSetup,
    issue_registry: ir.IssueRegistry,
) -> None:
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    await set_register(hass, 1.0)  # the relay switch does not exist
    entry = make_entry(ledger, meter)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    issue_id = f"entity_missing_{entry.entry_id}_relay_entity"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders == {"entity_id": RELAY_ENTITY}
    assert (
        issue_registry.async_get_issue(DOMAIN, f"entity_missing_{entry.entry_id}_energy_entity")
        is None
    )

    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await resp.json()
    assert flow["step_id"] == "init"
    hass.states.async_set("switch.new_supply", "on")
    resp = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={"relay_entity": "switch.new_supply"}
    )
    assert (await resp.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert entry.data["relay_entity"] == "switch.new_supply"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_removed_energy_entity_raises_a_repair(
    hass: HomeAssistant,
    ledger: Ledger,
    meter: MeterSetup,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
) -> None:
    registered = entity_registry.async_get_or_create("sensor", "meterco", "register-1")
    hass.states.async_set(RELAY_ENTITY, "on")
    entry = make_entry(ledger, meter)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "energy_entity": registered.entity_id}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    issue_id = f"entity_missing_{entry.entry_id}_energy_entity"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    entity_registry.async_remove(registered.entity_id)
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"entity_id": registered.entity_id}


async def test_node_unreachable_for_long_raises_a_repair(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    meter = register_meter(local_chain.ledger)
    await set_register(hass, 1.0)
    hass.states.async_set(RELAY_ENTITY, "on")
    entry = make_entry(local_chain.ledger, meter)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    issue_id = f"node_unreachable_{meter.meter_id}"

    local_chain.down()
    for _ in range(7):  # 35 minutes of failed refreshes
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"rpc_url": local_chain.node.rpc_url}

    local_chain.up()
    freezer.tick(timedelta(minutes=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_missing_energy_entity_fix_flow(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    ledger: Ledger,
    meter: MeterSetup,
    issue_registry: ir.IssueRegistry,
) -> None:
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    hass.states.async_set(RELAY_ENTITY, "on")  # the energy sensor does not exist
    entry = make_entry(ledger, meter)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    issue_id = f"entity_missing_{entry.entry_id}_energy_entity"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None

    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await resp.json()
    assert flow["data_schema"][0]["name"] == "energy_entity"
    assert flow["description_placeholders"] == {"entity_id": "sensor.house_energy"}
    assert await hass.config_entries.async_remove(entry.entry_id)
    resp = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={"energy_entity": "sensor.other"}
    )
    result = await resp.json()
    assert result["type"] == "abort"
    assert result["reason"] == "entry_removed"
