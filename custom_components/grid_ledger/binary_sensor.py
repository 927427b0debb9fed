"""Binary sensors: permit active, bill overdue, trip imminent, node reachable; a feeder's loss
above its tolerance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from .coordinator import (
    FeederConfigEntry,
    FeederCoordinator,
    GridLedgerConfigEntry,
    GridLedgerCoordinator,
    is_feeder,
)
from .entity import FeederEntity, GridLedgerEntity
from .policy import never_expires, permit_expired

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class GridLedgerBinarySensorDescription(BinarySensorEntityDescription):
    """How one binary sensor reads the coordinator.

    `changes_at_fn` names the moment (Unix seconds) at which the state flips with no new data,
    such as a permit's end: the entity writes its state then, not at the next poll."""

    is_on_fn: Callable[[GridLedgerCoordinator, float], bool]
    changes_at_fn: Callable[[GridLedgerCoordinator], int | None] | None = None
    always_available: bool = False


def _overdue_from(coordinator: GridLedgerCoordinator) -> int | None:
    """When the oldest unpaid bill falls due. The contract reports only the latest bill; an
    amount owed beyond it is an older bill's, which fell due a period earlier (or before)."""
    data = coordinator.data
    if data.amount_due <= 0 or data.bill.due_at <= 0:
        return None
    if data.amount_due > data.bill.amount:
        return data.bill.due_at - coordinator.info.period_length
    return data.bill.due_at


def _permit_ends(coordinator: GridLedgerCoordinator) -> int | None:
    until = coordinator.data.permit_until
    return None if never_expires(until) else until


BINARY_SENSORS: tuple[GridLedgerBinarySensorDescription, ...] = (
    GridLedgerBinarySensorDescription(
        key="permit_active",
        translation_key="permit_active",
        device_class=BinarySensorDeviceClass.POWER,
        # The wall clock, as the enforcer trips the relay by it: both change at `permitUntil`.
        is_on_fn=lambda c, now: not permit_expired(now, c.data.permit_until),
        changes_at_fn=_permit_ends,
    ),
    GridLedgerBinarySensorDescription(
        key="bill_overdue",
        translation_key="bill_overdue",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=lambda c, now: (due := _overdue_from(c)) is not None and due <= now,
        changes_at_fn=_overdue_from,
    ),
    GridLedgerBinarySensorDescription(
        key="node_reachable",
        translation_key="node_reachable",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda c, _: c.last_update_success,
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
    is_on_fn=lambda c, _: _trip_imminent(c),
)


def _wallet_gas_low(coordinator: GridLedgerCoordinator) -> bool:
    billing = coordinator.config_entry.runtime_data.billing
    return billing is not None and bool(billing.gas_low)


WALLET_GAS_LOW = GridLedgerBinarySensorDescription(
    key="wallet_gas_low",
    translation_key="wallet_gas_low",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
    is_on_fn=lambda c, _: _wallet_gas_low(c),
)


@dataclass(frozen=True, kw_only=True)
class FeederBinarySensorDescription(BinarySensorEntityDescription):
    """How one binary sensor of a feeder reads its coordinator."""

    is_on_fn: Callable[[FeederCoordinator], bool]
    always_available: bool = False


FEEDER_BINARY_SENSORS: tuple[FeederBinarySensorDescription, ...] = (
    FeederBinarySensorDescription(
        key="loss_above_tolerance",
        translation_key="loss_above_tolerance",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=lambda c: c.data.loss_detected,
    ),
    FeederBinarySensorDescription(
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
    entry: GridLedgerConfigEntry | FeederConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if is_feeder(entry):
        feeder = entry.runtime_data.coordinator
        async_add_entities(
            FeederBinarySensor(feeder, description) for description in FEEDER_BINARY_SENSORS
        )
        return
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        GridLedgerBinarySensor(coordinator, description) for description in BINARY_SENSORS
    )
    async_add_entities([TripImminentBinarySensor(coordinator, TRIP_IMMINENT)])
    async_add_entities([WalletGasLowBinarySensor(coordinator, WALLET_GAS_LOW)])


class GridLedgerBinarySensor(GridLedgerEntity, BinarySensorEntity):
    """A yes/no fact about the meter or the node."""

    entity_description: GridLedgerBinarySensorDescription
    _cancel_change: CALLBACK_TYPE | None = None

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self._unschedule_change)
        self._schedule_change()

    @property
    def available(self) -> bool:
        return self.entity_description.always_available or super().available

    @property
    def is_on(self) -> bool:
        return self.entity_description.is_on_fn(self.coordinator, dt_util.utcnow().timestamp())

    @callback
    def _handle_coordinator_update(self) -> None:
        self._schedule_change()
        super()._handle_coordinator_update()

    @callback
    def _schedule_change(self) -> None:
        """A point-in-time listener at the next moment the state flips on its own."""
        self._unschedule_change()
        changes_at_fn = self.entity_description.changes_at_fn
        if changes_at_fn is None or self.coordinator.data is None:
            return
        at = changes_at_fn(self.coordinator)
        if at is not None and at > dt_util.utcnow().timestamp():
            self._cancel_change = async_track_point_in_utc_time(
                self.hass, self._at_change, dt_util.utc_from_timestamp(at)
            )

    @callback
    def _unschedule_change(self) -> None:
        if self._cancel_change is not None:
            self._cancel_change()
            self._cancel_change = None

    @callback
    def _at_change(self, _now: datetime) -> None:
        self._cancel_change = None
        self.async_write_ha_state()


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


class FeederBinarySensor(FeederEntity, BinarySensorEntity):
    """A yes/no fact about a feeder or the node."""

    entity_description: FeederBinarySensorDescription

    @property
    def available(self) -> bool:
        return self.entity_description.always_available or super().available

    @property
    def is_on(self) -> bool:
        return self.entity_description.is_on_fn(self.coordinator)
