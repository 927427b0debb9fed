"""Button: submit a reading now."""

from __future__ import annotations

from typing import Any

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import FeederConfigEntry, GridLedgerConfigEntry, LedgerCoordinator
from .entity import LedgerEntity
from .services import async_submit_reading

PARALLEL_UPDATES = 1

SUBMIT_READING = ButtonEntityDescription(key="submit_reading", translation_key="submit_reading")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridLedgerConfigEntry | FeederConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([GridLedgerSubmitButton(entry.runtime_data.coordinator, SUBMIT_READING)])


class GridLedgerSubmitButton(LedgerEntity[LedgerCoordinator[Any]], ButtonEntity):
    """Signs the register now (a household meter's or a feeder's) and sends it to the
    contract."""

    async def async_press(self) -> None:
        await async_submit_reading(self.coordinator.config_entry)
