"""Binary sensors: permit active, bill overdue, trip imminent, node reachable."""

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


def _trip_imminent(coordinator: GridLedgerCoordinator) -> bool:
    enforcer = coordinator.config_entry.runtime_data.enforcer
    return enforcer is not None and enforcer.trip_imminent()


TRIP_IMMINENT = GridLedgerBinarySensorDescription(
    key="trip_imminent",
    translation_key="trip_imminent",
    device_class=BinarySensorDeviceClass.PROBLEM,
    is_on_fn=_trip_imminent,
)


def _wallet_gas_low(coordinator: GridLedgerCoordinator) -> bool:
    billing = coordinator.config_entry.runtime_data.billing
    return billing is not None and bool(billing.gas_low)


WALLET_GAS_LOW = GridLedgerBinarySensorDescription(
    key="wallet_gas_low",
    translation_key="wallet_gas_low",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
    is_on_fn=_wallet_gas_low,
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
    async_add_entities([TripImminentBinarySensor(coordinator, TRIP_IMMINENT)])
    async_add_entities([WalletGasLowBinarySensor(coordinator, WALLET_GAS_LOW)])


class GridLedgerBinarySensor(GridLedgerEntity, BinarySensorEntity):
    """A yes/no fact about the meter or the node."""

    entity_description: GridLedgerBinarySensorDescription

    @property
    def available(self) -> bool:
        return self.entity_description.always_available or super().available

    @property
    def is_on(self) -> bool:
        return self.entity_description.is_on_fn(self.coordinator)


class TripImminentBinarySensor(GridLedgerBinarySensor):
    """On within the shortest warning lead before a trip; turns on and off on time."""

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if (enforcer := self.coordinator.config_entry.runtime_data.enforcer) is not None:
            self.async_on_remove(enforcer.async_add_listener(self.async_write_ha_state))


class WalletGasLowBinarySensor(GridLedgerBinarySensor):
    """On while the wallet's coin cannot cover the gas of the next transactions."""

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if (billing := self.coordinator.config_entry.runtime_data.billing) is not None:
            self.async_on_remove(billing.async_add_listener(self.async_write_ha_state))
