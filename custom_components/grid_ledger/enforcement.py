"""Permit enforcement: trip the relay at `permitUntil`, warn ahead, restore on payment.

The decisions are `policy.py`'s; this module gathers the facts (contract state from the
coordinator, the relay's state, the clock, what it did before a restart), carries the answer out
on the relay and announces it on the bus. The trip runs from a point-in-time callback at the
permit's end, never from polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypedDict

from homeassistant.components import persistent_notification
from homeassistant.const import (
    ATTR_ENTITY_ID,
    EVENT_SERVICE_REGISTERED,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    Platform,
)
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import (
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.storage import Store
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .const import (
    CONF_FAIL_SAFE,
    CONF_RELAY_ENTITY,
    CONF_WARNING_LEADS,
    DEFAULT_FAIL_SAFE,
    DEFAULT_WARNING_LEADS,
    DOMAIN,
    EVENT_RESTORED,
    EVENT_TRIP_WARNING,
    EVENT_TRIPPED,
    LOGGER,
)
from .coordinator import GridLedgerConfigEntry, GridLedgerCoordinator
from .policy import (
    Action,
    Decision,
    FailSafe,
    Reason,
    TripWarning,
    decide_enforcement,
    missed_warning,
    never_expires,
    permit_expired,
    trip_imminent,
    warning_schedule,
)

STORAGE_VERSION: Final = 1
ESPHOME_DOMAIN: Final = "esphome"
ESPHOME_DEVICE_NAME: Final = "device_name"
ESPHOME_PERMIT_ACTION: Final = "set_permit_until"
ESPHOME_MAX_UNTIL: Final = 2**31 - 1
"""The meter keeps the permit in a 32-bit signed epoch."""


class EnforcementState(TypedDict):
    """What survives a restart."""

    tripped: bool
    warned: list[list[int]]  # [permit_until, lead] of warnings already announced


def iso_time(timestamp: int | None) -> str | None:
    """An event's time field: ISO 8601 in UTC, or None for no scheduled expiry."""
    if timestamp is None or never_expires(timestamp):
        return None
    return dt_util.utc_from_timestamp(timestamp).isoformat()


def esphome_until(permit_until: int) -> int:
    return min(permit_until, ESPHOME_MAX_UNTIL)


class PermitEnforcer:
    """Keeps one meter's relay in step with its on-chain permit."""

    def __init__(
        self, hass: HomeAssistant, entry: GridLedgerConfigEntry, coordinator: GridLedgerCoordinator
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.coordinator = coordinator
        self.relay: str = entry.data[CONF_RELAY_ENTITY]
        self.fail_safe = FailSafe(entry.options.get(CONF_FAIL_SAFE, DEFAULT_FAIL_SAFE))
        minutes = entry.options.get(CONF_WARNING_LEADS) or DEFAULT_WARNING_LEADS
        self.leads: tuple[int, ...] = tuple(sorted({int(m) * 60 for m in minutes}, reverse=True))
        self.store: Store[EnforcementState] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.enforcement"
        )
        self.state: EnforcementState = {"tripped": False, "warned": []}
        self.last_decision: Decision | None = None
        self._lock = asyncio.Lock()
        self._trip_at: int | None = None
        self._cancel_trip: CALLBACK_TYPE | None = None
        self._warning_timers: dict[TripWarning, CALLBACK_TYPE] = {}
        self._pushed: int | None = None
        self._commanded: bool | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        self._unsubs: list[CALLBACK_TYPE] = []

    # ------------------------------------------------------------------ life cycle

    async def async_load(self) -> None:
        if (stored := await self.store.async_load()) is not None:
            self.state = stored

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Follow the contract, the relay and the ESPHome node; decide once now."""
        self._unsubs = [
            self.coordinator.async_add_listener(self._on_coordinator_update),
            async_track_state_change_event(self.hass, self.relay, self._on_relay_change),
            self.hass.bus.async_listen(EVENT_SERVICE_REGISTERED, self._on_service_registered),
        ]
        self._schedule_evaluation()
        return self.async_stop

    @callback
    def async_stop(self) -> None:
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        self._cancel_timers()

    @callback
    def async_add_listener(self, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update` whenever what the enforcer knows about the next trip changes."""
        self._listeners.append(update)
        return lambda: self._listeners.remove(update)

    # ------------------------------------------------------------------ facts

    @property
    def shortest_lead(self) -> int:
        return self.leads[-1]

    @property
    def permit_until(self) -> int | None:
        data = self.coordinator.data
        return None if data is None else data.permit_until

    @property
    def protected(self) -> bool:
        data = self.coordinator.data
        return data is not None and data.meter.is_protected

    @property
    def tripped(self) -> bool:
        return self.state["tripped"]

    @property
    def scheduled_trip(self) -> int | None:
        """When the relay is due to trip next (last known permit), None if no trip is due."""
        until = self.permit_until
        if until is None or self.protected or never_expires(until):
            return None
        return until

    @property
    def announced_trip(self) -> int | None:
        """The next trip as the household is told of it: while a bill is owed, or within the
        longest warning lead. Before that, the permit's end is renewed by paying the next bill
        (not yet issued), so it is no trip to put in a calendar."""
        if (trip := self.scheduled_trip) is None:
            return None
        if self.coordinator.data.amount_due > 0:
            return trip
        return trip if trip - dt_util.utcnow().timestamp() <= self.leads[0] else None

    def trip_imminent(self) -> bool:
        if self.protected:
            return False
        return trip_imminent(dt_util.utcnow().timestamp(), self.permit_until, self.shortest_lead)

    def relay_on(self) -> bool | None:
        """The relay's state; what it was commanded to until it reports a change."""
        if self._commanded is not None:
            return self._commanded
        state = self.hass.states.get(self.relay)
        if state is None or state.state not in (STATE_ON, STATE_OFF):
            return None
        return state.state == STATE_ON

    # ------------------------------------------------------------------ triggers

    @callback
    def _schedule_evaluation(self) -> None:
        self.entry.async_create_task(self.hass, self.async_evaluate(), f"{DOMAIN} enforcement")

    @callback
    def _on_coordinator_update(self) -> None:
        self._schedule_evaluation()

    @callback
    def _on_relay_change(self, event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if new is not None and (old is None or old.state != new.state):
            self._commanded = None
        usable = (STATE_ON, STATE_OFF)
        if new is not None and new.state in usable and (old is None or old.state not in usable):
            self._pushed = None  # the relay's device came (back): it needs the permit
        self._schedule_evaluation()

    @callback
    def _on_service_registered(self, event: Event[Any]) -> None:
        if event.data.get("domain") == ESPHOME_DOMAIN and str(
            event.data.get("service", "")
        ).endswith(ESPHOME_PERMIT_ACTION):
            self._pushed = None
            self._schedule_evaluation()

    async def _async_at_expiry(self, _now: datetime) -> None:
        """The permit ends now: read the contract once more (a payment may have just landed)."""
        self._cancel_trip = None
        self._trip_at = None
        await self.coordinator.async_refresh()
        await self.async_evaluate()

    # ------------------------------------------------------------------ decision

    async def async_evaluate(self) -> Decision:
        """Decide what the relay should do now and do it; reschedule trip and warnings."""
        async with self._lock:
            now = dt_util.utcnow().timestamp()
            decision = decide_enforcement(
                now=now,
                permit_until=self.permit_until,
                state_known=self.coordinator.last_update_success,
                protected=self.protected,
                relay_on=self.relay_on(),
                tripped_by_policy=self.tripped,
                fail_safe=self.fail_safe,
            )
            self.last_decision = decision
            await self._async_apply(decision)
            self._reschedule(now)
            await self._async_warn_missed(now)
            await self._async_push_permit()
        for update in list(self._listeners):
            update()
        return decision

    async def _async_apply(self, decision: Decision) -> None:
        action = decision.action
        if action is Action.KEEP_ON and self.tripped and self.relay_on():
            await self._async_set_tripped(False)  # switched back on while permitted: fine
        if (relay_on := action.relay_on) is None:
            return
        service = SERVICE_TURN_ON if relay_on else SERVICE_TURN_OFF
        try:
            await self.hass.services.async_call(
                Platform.SWITCH, service, {ATTR_ENTITY_ID: self.relay}, blocking=True
            )
        except HomeAssistantError as err:
            LOGGER.warning("Could not %s %s: %s", service, self.relay, err)
            return
        if self.relay_on() is not relay_on:
            self._commanded = relay_on  # until the switch reports its new state
        await self._async_set_tripped(not relay_on)
        if relay_on:
            LOGGER.info("Supply restored on %s: %s", self.relay, decision.reason)
            self._fire(EVENT_RESTORED, permit_until=iso_time(self.permit_until))
            persistent_notification.async_dismiss(self.hass, self._notification_id)
        else:
            LOGGER.warning("Supply tripped on %s: %s", self.relay, decision.reason)
            self._fire(
                EVENT_TRIPPED, permit_until=iso_time(self.permit_until), reason=str(decision.reason)
            )
            await self._async_notify_trip(decision.reason)

    @property
    def _notification_id(self) -> str:
        return f"{DOMAIN}_tripped_{self.entry.entry_id}"

    async def _async_notify_trip(self, reason: Reason) -> None:
        """Tell the household, in its language, that the supply is off, why and what to do."""
        strings = await async_get_translations(
            self.hass, self.hass.config.language, "common", {DOMAIN}
        )
        prefix = f"component.{DOMAIN}.common.tripped_{reason}"
        until = self.permit_until
        placeholders = {
            "meter_id": str(self.coordinator.meter_id),
            "relay": self.relay,
            "permit_until": "—"
            if until is None or never_expires(until)
            else dt_util.as_local(dt_util.utc_from_timestamp(until)).strftime("%Y-%m-%d %H:%M:%S"),
        }
        persistent_notification.async_create(
            self.hass,
            strings[f"{prefix}_message"].format(**placeholders),
            strings[f"{prefix}_title"].format(**placeholders),
            self._notification_id,
        )

    async def _async_set_tripped(self, tripped: bool) -> None:
        if self.state["tripped"] != tripped:
            self.state["tripped"] = tripped
            await self.store.async_save(self.state)

    @callback
    def _fire(self, event_type: str, **data: Any) -> None:
        self.hass.bus.async_fire(event_type, {"device_id": self.coordinator.device_id, **data})

    # ------------------------------------------------------------------ timers

    @callback
    def _reschedule(self, now: float) -> None:
        until = self.scheduled_trip
        trip_at = until if until is not None and not permit_expired(now, until) else None
        if trip_at != self._trip_at:
            if self._cancel_trip is not None:
                self._cancel_trip()
                self._cancel_trip = None
            self._trip_at = trip_at
            if trip_at is not None:
                self._cancel_trip = async_track_point_in_utc_time(
                    self.hass, self._async_at_expiry, dt_util.utc_from_timestamp(trip_at)
                )
        upcoming = set(
            warning_schedule(
                now=now, permit_until=self.permit_until, protected=self.protected, leads=self.leads
            )
        )
        for warning in set(self._warning_timers) - upcoming:
            self._warning_timers.pop(warning)()
        for warning in upcoming - set(self._warning_timers):
            self._warning_timers[warning] = async_track_point_in_utc_time(
                self.hass,
                self._warning_callback(warning),
                dt_util.utc_from_timestamp(warning.at),
            )

    def _warning_callback(self, warning: TripWarning) -> Callable[[datetime], Any]:
        async def _at_warning(_now: datetime) -> None:
            self._warning_timers.pop(warning, None)
            await self._async_warn(warning)
            for update in list(self._listeners):
                update()

        return _at_warning

    @callback
    def _cancel_timers(self) -> None:
        if self._cancel_trip is not None:
            self._cancel_trip()
            self._cancel_trip = None
        self._trip_at = None
        for cancel in self._warning_timers.values():
            cancel()
        self._warning_timers.clear()

    # ------------------------------------------------------------------ warnings

    async def _async_warn_missed(self, now: float) -> None:
        warning = missed_warning(
            now=now, permit_until=self.permit_until, protected=self.protected, leads=self.leads
        )
        if warning is not None:
            await self._async_warn(warning)

    async def _async_warn(self, warning: TripWarning) -> None:
        """Announce a warning once per (permit_until, lead), across restarts."""
        key = [warning.permit_until, warning.lead]
        if key in self.state["warned"]:
            return
        now = dt_util.utcnow().timestamp()
        kept = [w for w in self.state["warned"] if w[0] > now]
        self.state["warned"] = [*kept, key]
        await self.store.async_save(self.state)
        self._fire(
            EVENT_TRIP_WARNING,
            permit_until=iso_time(warning.permit_until),
            lead_time=warning.lead,
        )

    # ------------------------------------------------------------------ the meter's copy

    def esphome_action(self) -> str | None:
        """The relay's ESPHome node's `set_permit_until` action, when it offers one."""
        registry_entry = er.async_get(self.hass).async_get(self.relay)
        if registry_entry is None or registry_entry.config_entry_id is None:
            return None
        node = self.hass.config_entries.async_get_entry(registry_entry.config_entry_id)
        if node is None or node.domain != ESPHOME_DOMAIN:
            return None
        name = node.data.get(ESPHOME_DEVICE_NAME)
        if not name:
            return None
        action = f"{str(name).replace('-', '_')}_{ESPHOME_PERMIT_ACTION}"
        return action if self.hass.services.has_service(ESPHOME_DOMAIN, action) else None

    async def _async_push_permit(self) -> None:
        """Give the meter the current permit so it enforces it on its own while HA is away."""
        until = self.permit_until
        if until is None or not self.coordinator.last_update_success:
            return
        value = esphome_until(until)
        if value == self._pushed or (action := self.esphome_action()) is None:
            return
        try:
            await self.hass.services.async_call(
                ESPHOME_DOMAIN, action, {"until": value}, blocking=True
            )
        except HomeAssistantError as err:
            LOGGER.debug("Permit not pushed to %s: %s", action, err)
            return
        self._pushed = value
