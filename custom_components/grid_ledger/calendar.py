"""Calendar of a meter's bill due date and scheduled trip, for calendar triggers with offsets."""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.components.calendar.const import CalendarEntityFeature
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .coordinator import GridLedgerConfigEntry, GridLedgerCoordinator
from .entity import GridLedgerEntity
from .units import display_amount

PARALLEL_UPDATES = 0
EVENT_LENGTH = timedelta(minutes=1)
"""Both events are instants; a calendar event needs a length, and triggers use its start."""

SCHEDULE = EntityDescription(key="schedule", translation_key="schedule")


class EventTexts:
    """Event summaries and descriptions in the household's language (the `common` strings)."""

    def __init__(self, strings: dict[str, str]) -> None:
        self._strings = strings

    def __call__(self, key: str, **placeholders: object) -> str:
        return self._strings[f"component.{DOMAIN}.common.{key}"].format(**placeholders)


def meter_events(coordinator: GridLedgerCoordinator, text: EventTexts) -> list[CalendarEvent]:
    """The latest bill's due date (marked paid once nothing is due) and the next trip, earliest
    first."""
    data = coordinator.data
    events: list[CalendarEvent] = []
    if data.bill.period and data.bill.due_at:
        start = dt_util.utc_from_timestamp(data.bill.due_at)
        amount = display_amount(data.bill.amount, coordinator.info.token_decimals)
        events.append(
            CalendarEvent(
                start=start,
                end=start + EVENT_LENGTH,
                summary=text("bill_due") if data.amount_due > 0 else text("bill_paid"),
                description=text(
                    "bill_due_description",
                    period=data.bill.period,
                    amount=f"{amount:g}",
                    currency=coordinator.info.token_symbol,
                ),
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
                summary=text("supply_trip"),
                description=text("supply_trip_description"),
                uid=f"trip-{trip}",
            )
        )
    return sorted(events, key=lambda event: event.start_datetime_local)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridLedgerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    strings = await async_get_translations(hass, hass.config.language, "common", {DOMAIN})
    async_add_entities(
        [GridLedgerCalendar(entry.runtime_data.coordinator, SCHEDULE, EventTexts(strings))]
    )


class GridLedgerCalendar(GridLedgerEntity, CalendarEntity):
    """Bill due and supply trip, as the contract schedules them."""

    _attr_supported_features = CalendarEntityFeature(0)

    def __init__(
        self, coordinator: GridLedgerCoordinator, description: EntityDescription, text: EventTexts
    ) -> None:
        super().__init__(coordinator, description)
        self._text = text

    @property
    def event(self) -> CalendarEvent | None:
        now = dt_util.now()
        return next(
            (e for e in meter_events(self.coordinator, self._text) if e.end_datetime_local > now),
            None,
        )

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        return [
            event
            for event in meter_events(self.coordinator, self._text)
            if event.start_datetime_local < end_date and event.end_datetime_local > start_date
        ]
