"""Repairs with a fix: a chosen energy or relay entity disappeared (pick another one), a
generated wallet key not backed up yet (show it once, encrypted, until the household confirms),
an import or export register that went backwards (a new meter: resume from it) or jumped beyond
the meter's rating (real or a glitch: the household decides), a meter the ledger takes export
from without an export register configured (pick one)."""

from __future__ import annotations

from typing import Any

from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD, Platform
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir, selector
from homeassistant.helpers.event import (
    async_track_entity_registry_updated_event,
    async_track_state_change_event,
)
import voluptuous as vol

from .const import (
    CONF_ENERGY_ENTITY,
    CONF_EXPORT_ENTITY,
    CONF_RELAY_ENTITY,
    CONF_WALLET_BACKED_UP,
    CONF_WALLET_TYPE,
    DOMAIN,
    ISSUE_ENTITY_MISSING,
    ISSUE_EXPORT_REGISTER_BACKWARDS,
    ISSUE_EXPORT_REGISTER_IMPLAUSIBLE,
    ISSUE_REGISTER_BACKWARDS,
    ISSUE_REGISTER_IMPLAUSIBLE,
    ISSUE_WALLET_BACKUP,
    MIN_BACKUP_PASSWORD,
    WALLET_GENERATED,
)
from .units import base_units

WATCHED = (CONF_ENERGY_ENTITY, CONF_EXPORT_ENTITY, CONF_RELAY_ENTITY)
ENERGY_SENSORS = (CONF_ENERGY_ENTITY, CONF_EXPORT_ENTITY)


def issue_id(translation_key: str, entry_id: str, *parts: str) -> str:
    """Issues belong to an entry, not to a meter id (two contracts may reuse a meter id)."""
    return "_".join((translation_key, entry_id, *parts))


@callback
def async_raise_issue(
    hass: HomeAssistant,
    entry_id: str,
    translation_key: str,
    placeholders: dict[str, str],
    *,
    parts: tuple[str, ...] = (),
    severity: ir.IssueSeverity = ir.IssueSeverity.ERROR,
    fix_data: dict[str, str | int | float | None] | None = None,
) -> None:
    """Raise (or update) one of the entry's issues; `fix_data` makes it fixable."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(translation_key, entry_id, *parts),
        is_fixable=fix_data is not None,
        severity=severity,
        translation_key=translation_key,
        translation_placeholders=placeholders,
        data=fix_data,
    )


@callback
def async_clear_issue(
    hass: HomeAssistant, entry_id: str, translation_key: str, *parts: str
) -> None:
    """Close one of the entry's issues: its cause went away."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(translation_key, entry_id, *parts))


@callback
def async_report_missing(hass: HomeAssistant, entry_id: str, key: str, entity_id: str) -> None:
    async_raise_issue(
        hass,
        entry_id,
        ISSUE_ENTITY_MISSING,
        {"entity_id": entity_id},
        parts=(key,),
        fix_data={"entry_id": entry_id, "key": key},
    )


@callback
def async_watch_entities(hass: HomeAssistant, entry: Any) -> CALLBACK_TYPE:
    """Raise a fixable issue when the energy or relay entity is gone, now or later; close it
    when the entity comes back; follow a rename (the entry reloads with the new entity id)."""
    registry = er.async_get(hass)
    entity_ids = {entry.data[key]: key for key in WATCHED if key in entry.data}  # serial: no sensor
    for entity_id, key in entity_ids.items():
        if registry.async_get(entity_id) is None and hass.states.get(entity_id) is None:
            async_report_missing(hass, entry.entry_id, key, entity_id)
        else:
            async_clear_issue(hass, entry.entry_id, ISSUE_ENTITY_MISSING, key)

    @callback
    def _on_registry_update(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        data = event.data
        entity_id = data["entity_id"]
        if data["action"] == "remove":
            async_report_missing(hass, entry.entry_id, entity_ids[entity_id], entity_id)
        elif data["action"] == "create":
            async_clear_issue(hass, entry.entry_id, ISSUE_ENTITY_MISSING, entity_ids[entity_id])
        elif (old := data.get("old_entity_id")) in entity_ids and old != entity_id:
            hass.config_entries.async_update_entry(
                entry, data={**entry.data, entity_ids[old]: entity_id}
            )
            hass.config_entries.async_schedule_reload(entry.entry_id)

    @callback
    def _on_state(event: Event[Any]) -> None:
        if event.data["new_state"] is not None:
            key = entity_ids[event.data["entity_id"]]
            async_clear_issue(hass, entry.entry_id, ISSUE_ENTITY_MISSING, key)

    # A rename is announced under the old id (`old_entity_id`), which is the one watched.
    unsub_registry = async_track_entity_registry_updated_event(
        hass, list(entity_ids), _on_registry_update
    )
    unsub_states = async_track_state_change_event(hass, list(entity_ids), _on_state)

    @callback
    def _stop() -> None:
        unsub_registry()
        unsub_states()

    return _stop


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
        if self.key in ENERGY_SENSORS:
            config = selector.EntitySelectorConfig(
                domain=Platform.SENSOR, device_class=SensorDeviceClass.ENERGY
            )
        else:
            config = selector.EntitySelectorConfig(domain=Platform.SWITCH)
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema({vol.Required(self.key): selector.EntitySelector(config)}),
            description_placeholders={"entity_id": entry.data.get(self.key, "")},
        )


@callback
def async_check_wallet_backup(hass: HomeAssistant, entry: Any) -> None:
    """Ask for a backup of a key this integration generated, until one was shown and kept."""
    generated = entry.data.get(CONF_WALLET_TYPE) == WALLET_GENERATED
    if not generated or entry.data.get(CONF_WALLET_BACKED_UP):
        async_clear_issue(hass, entry.entry_id, ISSUE_WALLET_BACKUP)
        return
    async_raise_issue(
        hass,
        entry.entry_id,
        ISSUE_WALLET_BACKUP,
        {"address": entry.runtime_data.wallet.address},
        severity=ir.IssueSeverity.WARNING,
        fix_data={"entry_id": entry.entry_id},
    )


class LoadedEntryRepairFlow(RepairsFlow):
    """A fix that works through the running entry (its wallet or reading pipeline), for one
    of the meter's registers (`import` or `export`) where it concerns one."""

    def __init__(self, entry_id: str, register: str = "import") -> None:
        self.entry_id = entry_id
        self.register = register

    def _loaded_entry(self) -> Any:
        entry = self.hass.config_entries.async_get_entry(self.entry_id)
        return entry if entry is not None and entry.state is ConfigEntryState.LOADED else None


class WalletBackupRepairFlow(LoadedEntryRepairFlow):
    """Show a generated wallet's key once, as a keystore encrypted with a password the
    household picks; it counts as backed up only when they confirm they saved it."""

    def __init__(self, entry_id: str) -> None:
        super().__init__(entry_id)
        self._keystore: str | None = None

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        if (entry := self._loaded_entry()) is None:
            return self.async_abort(reason="entry_not_loaded")
        errors: dict[str, str] = {}
        if user_input is not None and CONF_PASSWORD in user_input:  # not the issue's own data
            password = str(user_input[CONF_PASSWORD])
            if len(password) < MIN_BACKUP_PASSWORD:
                errors[CONF_PASSWORD] = "password_too_short"
            else:
                self._keystore = await self.hass.async_add_executor_job(
                    entry.runtime_data.wallet.keystore, password
                )
                return await self.async_step_keystore()
        password_field = selector.TextSelector(
            selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
        )
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema({vol.Required(CONF_PASSWORD): password_field}),
            description_placeholders={"min_length": str(MIN_BACKUP_PASSWORD)},
            errors=errors,
        )

    async def async_step_keystore(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        entry = self.hass.config_entries.async_get_entry(self.entry_id)
        if entry is None or self._keystore is None:
            return self.async_abort(reason="entry_not_loaded")
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input.get("saved"):
                self._keystore = None
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, CONF_WALLET_BACKED_UP: True}
                )
                async_clear_issue(self.hass, entry.entry_id, ISSUE_WALLET_BACKUP)
                return self.async_create_entry(data={})
            errors["saved"] = "confirm_saved"
        return self.async_show_form(
            step_id="keystore",
            data_schema=vol.Schema({vol.Required("saved", default=False): bool}),
            description_placeholders={"keystore": self._keystore},
            errors=errors,
        )


class RegisterBackwardsRepairFlow(LoadedEntryRepairFlow):
    """The register went backwards. If the meter was exchanged, the household gives the new
    meter's starting register and attestation resumes from it (the entry carries an offset);
    otherwise the sensor is fixed and the repair closes by itself."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        if (entry := self._loaded_entry()) is None:
            return self.async_abort(reason="entry_not_loaded")
        errors: dict[str, str] = {}
        if user_input is not None and "new_register" in user_input:
            wh = base_units(user_input["new_register"], 3)  # kWh, whole Wh
            if wh is None or wh < 0:
                errors["new_register"] = "whole_wh"
            else:
                await entry.runtime_data.pipeline.async_record_exchange(wh, self.register)
                return self.async_create_entry(data={})
        kwh = selector.NumberSelector(
            selector.NumberSelectorConfig(
                min=0, step="any", mode=selector.NumberSelectorMode.BOX, unit_of_measurement="kWh"
            )
        )
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema({vol.Required("new_register", default=0): kwh}),
            errors=errors,
        )


class RegisterImplausibleRepairFlow(LoadedEntryRepairFlow):
    """The register jumped beyond the meter's rating; the jump is held back until the
    household says it is real (attested at the rating's pace) or a glitch (never attested)."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        return self.async_show_menu(step_id="init", menu_options=["release", "discard"])

    async def async_step_release(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        return await self._decide(real=True)

    async def async_step_discard(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        return await self._decide(real=False)

    async def _decide(self, *, real: bool) -> data_entry_flow.FlowResult:
        if (entry := self._loaded_entry()) is None:
            return self.async_abort(reason="entry_not_loaded")
        await entry.runtime_data.pipeline.async_decide_jump(real=real, register=self.register)
        return self.async_create_entry(data={})


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    assert data is not None
    if issue_id.startswith(ISSUE_WALLET_BACKUP):
        return WalletBackupRepairFlow(str(data["entry_id"]))
    register = str(data.get("register", "import"))
    if issue_id.startswith((ISSUE_REGISTER_BACKWARDS, ISSUE_EXPORT_REGISTER_BACKWARDS)):
        return RegisterBackwardsRepairFlow(str(data["entry_id"]), register)
    if issue_id.startswith((ISSUE_REGISTER_IMPLAUSIBLE, ISSUE_EXPORT_REGISTER_IMPLAUSIBLE)):
        return RegisterImplausibleRepairFlow(str(data["entry_id"]), register)
    return EntityMissingRepairFlow(str(data["entry_id"]), str(data["key"]))
