"""Calendar of a meter's bill due date and scheduled trip, for calendar triggers with offsets."""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.components.calendar.const import CalendarEntityFeature
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import GridLedgerConfigEntry, GridLedgerCoordinator
from .entity import GridLedgerEntity

PARALLEL_UPDATES = 0
EVENT_LENGTH = timedelta(minutes=1)
"""Both events are instants; a calendar event needs a length, and triggers use its start."""

SCHEDULE = EntityDescription(key="schedule", translation_key="schedule")


def meter_events(coordinator: GridLedgerCoordinator) -> list[CalendarEvent]:
    """The latest bill's due date and the next trip, earliest first."""
    data = coordinator.data
    events: list[CalendarEvent] = []
    if data.bill.period and data.bill.due_at:
        start = dt_util.utc_from_timestamp(data.bill.due_at)
        amount = data.bill.amount / 10**coordinator.info.token_decimals
        events.append(
            CalendarEvent(
                start=start,
                end=start + EVENT_LENGTH,
                summary="Bill due",
                description=f"Period {data.bill.period}: {amount:g} "
                f"{coordinator.info.token_symbol}",
                uid=f"bill-{data.bill.period}",
            )
        )
    enforcer = coordinator.config_entry.runtime_data.enforcer
    if enforcer is not None and (trip := enforcer.announced_trip) is not None:
        start = dt_util.utc_from_timestamp(trip)
        events.append(
            CalendarEvent(
                start=start,
                end=start + EVENT_LENGTH,
                summary="Supply trip",
                description="The permit ends unless the bill is paid.",
                uid=f"trip-{trip}",
            )
        )
    return sorted(events, key=lambda event: event.start_datetime_local)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridLedgerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([GridLedgerCalendar(entry.runtime_data.coordinator, SCHEDULE)])


class GridLedgerCalendar(GridLedgerEntity, CalendarEntity):
    """Bill due and supply trip, as the contract schedules them."""

    _attr_supported_features = CalendarEntityFeature(0)

    @property
    def event(self) -> CalendarEvent | None:
        now = dt_util.now()
        return next((e for e in meter_events(self.coordinator) if e.end_datetime_local > now), None)

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        return [
            event
            for event in meter_events(self.coordinator)
            if event.start_datetime_local < end_date and event.end_datetime_local > start_date
        ]
