"""Repairs: entities gone (with a fix flow), a node unreachable for long, a generated wallet key
to back up; and what removing an entry leaves behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import DOMAIN as REPAIRS_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.grid_ledger.chain import decrypt_keystore
from custom_components.grid_ledger.const import (
    CONF_WALLET_BACKED_UP,
    CONF_WALLET_TYPE,
    DOMAIN,
    WALLET_GENERATED,
)

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
    issue_id = f"node_unreachable_{entry.entry_id}"

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


async def test_generated_wallet_key_is_shown_once_encrypted_until_saved(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    entry: MockConfigEntry,
    meter: MeterSetup,
    issue_registry: ir.IssueRegistry,
) -> None:
    issue_id = f"wallet_backup_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None  # an imported key
    # The same entry as if the flow had generated its wallet (it reloads with the change).
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_WALLET_TYPE: WALLET_GENERATED}
    )
    await hass.async_block_till_done()
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders == {"address": meter.wallet_address}

    client = await hass_client()

    async def step(flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
        resp = await client.post(f"/api/repairs/issues/fix/{flow_id}", json=data)
        result: dict[str, Any] = await resp.json()
        return result

    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await resp.json()
    assert flow["step_id"] == "init"
    short = await step(flow["flow_id"], {"password": "short"})
    assert short["errors"] == {"password": "password_too_short"}
    shown = await step(flow["flow_id"], {"password": "correct horse battery"})
    assert shown["step_id"] == "keystore"
    keystore = shown["description_placeholders"]["keystore"]
    assert meter.wallet_key.removeprefix("0x") not in keystore  # encrypted, never in clear
    recovered = decrypt_keystore(keystore, "correct horse battery")
    assert recovered.lower() == "0x" + meter.wallet_key.removeprefix("0x").lower()

    unconfirmed = await step(flow["flow_id"], {"saved": False})
    assert unconfirmed["errors"] == {"saved": "confirm_saved"}
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert (await step(flow["flow_id"], {"saved": True}))["type"] == "create_entry"
    await hass.async_block_till_done()
    assert entry.data[CONF_WALLET_BACKED_UP] is True
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None  # shown once: not again


async def test_removing_the_entry_deletes_its_stores(
    hass: HomeAssistant, entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    await set_register(hass, 1.002)
    await hass.services.async_call(
        DOMAIN, "submit_reading", {"config_entry_id": entry.entry_id}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    prefix = f"{DOMAIN}.{entry.entry_id}"
    kept = {key for key in hass_storage if key.startswith(prefix)}
    assert {prefix, f"{prefix}.billing", f"{prefix}.enforcement"} <= kept
    await set_register(hass, 1.0)  # backwards: the entry's own repair
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            DOMAIN, "submit_reading", {"config_entry_id": entry.entry_id}, blocking=True
        )
    issue_registry = ir.async_get(hass)
    assert issue_registry.async_get_issue(DOMAIN, f"register_backwards_{entry.entry_id}")

    assert (await hass.config_entries.async_remove(entry.entry_id))["require_restart"] is False
    await hass.async_block_till_done()
    assert [key for key in hass_storage if key.startswith(prefix)] == []
    assert [i for (domain, i) in issue_registry.issues if domain == DOMAIN] == []
