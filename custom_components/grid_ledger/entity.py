"""Base entities: one device per party, a household's meter or a feeder."""

from __future__ import annotations

from typing import Any

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import FeederCoordinator, GridLedgerCoordinator, LedgerCoordinator
from .market import Market, MarketCoordinator


def party_device(coordinator: LedgerCoordinator[Any]) -> DeviceInfo:
    """The device of one party on one contract."""
    return DeviceInfo(
        identifiers={(DOMAIN, coordinator.identifier)},
        name=f"Grid Ledger {coordinator.party} {coordinator.party_id}",
        manufacturer="Grid Ledger",
        model=f"Contract {coordinator.info.version}",
        serial_number=str(coordinator.party_id),
    )


class LedgerEntity[CoordinatorT: LedgerCoordinator[Any]](CoordinatorEntity[CoordinatorT]):
    """An entity of one party on one contract."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: CoordinatorT, description: EntityDescription) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.identifier}-{description.key}"
        self._attr_device_info = party_device(coordinator)


class GridLedgerEntity(LedgerEntity[GridLedgerCoordinator]):
    """An entity of one household's meter."""


class FeederEntity(LedgerEntity[FeederCoordinator]):
    """An entity of one feeder."""


class MarketEntity(CoordinatorEntity[MarketCoordinator]):
    """An entity of one household in the energy market, on its meter's device."""

    _attr_has_entity_name = True

    def __init__(self, market: Market, description: EntityDescription) -> None:
        super().__init__(market.market)
        self.market = market
        self.entity_description = description
        meter = market.coordinator
        self._attr_unique_id = f"{meter.identifier}-{description.key}"
        self._attr_device_info = party_device(meter)
