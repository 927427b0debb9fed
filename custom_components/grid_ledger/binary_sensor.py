"""Binary sensors: permit active, bill overdue, node reachable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import GridLedgerConfigEntry, GridLedgerCoordinator
from .entity import GridLedgerEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class GridLedgerBinarySensorDescription(BinarySensorEntityDescription):
    """How one binary sensor reads the coordinator."""

    is_on_fn: Callable[[GridLedgerCoordinator], bool]
    always_available: bool = False


def _overdue(coordinator: GridLedgerCoordinator) -> bool:
    data = coordinator.data
    return data.amount_due > 0 and 0 < data.bill.due_at <= data.block_timestamp


BINARY_SENSORS: tuple[GridLedgerBinarySensorDescription, ...] = (
    GridLedgerBinarySensorDescription(
        key="permit_active",
        translation_key="permit_active",
        device_class=BinarySensorDeviceClass.POWER,
        is_on_fn=lambda c: c.data.block_timestamp < c.data.permit_until,
    ),
    GridLedgerBinarySensorDescription(
        key="bill_overdue",
        translation_key="bill_overdue",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=_overdue,
    ),
    GridLedgerBinarySensorDescription(
        key="node_reachable",
        translation_key="node_reachable",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda c: c.last_update_success,
        always_available=True,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridLedgerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        GridLedgerBinarySensor(coordinator, description) for description in BINARY_SENSORS
    )


class GridLedgerBinarySensor(GridLedgerEntity, BinarySensorEntity):
    """A yes/no fact about the meter or the node."""

    entity_description: GridLedgerBinarySensorDescription

    @property
    def available(self) -> bool:
        return self.entity_description.always_available or super().available

    @property
    def is_on(self) -> bool:
        return self.entity_description.is_on_fn(self.coordinator)
