"""Repairs: a chosen energy or relay entity disappeared; the fix picks another one."""

from __future__ import annotations

from typing import Any

from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir, selector
from homeassistant.helpers.event import async_track_entity_registry_updated_event
import voluptuous as vol

from .const import CONF_ENERGY_ENTITY, CONF_RELAY_ENTITY, DOMAIN, ISSUE_ENTITY_MISSING

WATCHED = (CONF_ENERGY_ENTITY, CONF_RELAY_ENTITY)


def issue_id(entry_id: str, key: str) -> str:
    return f"{ISSUE_ENTITY_MISSING}_{entry_id}_{key}"


@callback
def async_report_missing(hass: HomeAssistant, entry_id: str, key: str, entity_id: str) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(entry_id, key),
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_ENTITY_MISSING,
        translation_placeholders={"entity_id": entity_id},
        data={"entry_id": entry_id, "key": key},
    )


@callback
def async_watch_entities(hass: HomeAssistant, entry: Any) -> CALLBACK_TYPE:
    """Raise a fixable issue when the energy or relay entity is gone, now or later."""
    registry = er.async_get(hass)
    entity_ids = {entry.data[key]: key for key in WATCHED if key in entry.data}  # serial: no sensor
    for entity_id, key in entity_ids.items():
        if registry.async_get(entity_id) is None and hass.states.get(entity_id) is None:
            async_report_missing(hass, entry.entry_id, key, entity_id)
        else:
            ir.async_delete_issue(hass, DOMAIN, issue_id(entry.entry_id, key))

    @callback
    def _on_registry_update(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        if event.data["action"] == "remove":
            entity_id = event.data["entity_id"]
            async_report_missing(hass, entry.entry_id, entity_ids[entity_id], entity_id)

    return async_track_entity_registry_updated_event(hass, list(entity_ids), _on_registry_update)


class EntityMissingRepairFlow(RepairsFlow):
    """Pick a replacement for a removed entity; the entry reloads with it."""

    def __init__(self, entry_id: str, key: str) -> None:
        self.entry_id = entry_id
        self.key = key

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        entry = self.hass.config_entries.async_get_entry(self.entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        if user_input is not None and self.key in user_input:
            self.hass.config_entries.async_update_entry(
                entry, data={**entry.data, self.key: user_input[self.key]}
            )
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
            return self.async_create_entry(data={})
        if self.key == CONF_ENERGY_ENTITY:
            config = selector.EntitySelectorConfig(
                domain=Platform.SENSOR, device_class=SensorDeviceClass.ENERGY
            )
        else:
            config = selector.EntitySelectorConfig(domain=Platform.SWITCH)
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema({vol.Required(self.key): selector.EntitySelector(config)}),
            description_placeholders={"entity_id": entry.data[self.key]},
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    assert data is not None
    return EntityMissingRepairFlow(str(data["entry_id"]), str(data["key"]))
