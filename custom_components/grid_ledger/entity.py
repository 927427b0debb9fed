"""Base entity: one device per meter."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import GridLedgerCoordinator


class GridLedgerEntity(CoordinatorEntity[GridLedgerCoordinator]):
    """An entity of one meter on one contract."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: GridLedgerCoordinator, description: EntityDescription) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        info = coordinator.info
        device_id = f"{info.chain_id}-{info.address.lower()}-{coordinator.meter_id}"
        self._attr_unique_id = f"{device_id}-{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, device_id)},
            name=f"Grid Ledger meter {coordinator.meter_id}",
            manufacturer="Grid Ledger",
            model=f"Contract {info.version}",
            serial_number=str(coordinator.meter_id),
        )
