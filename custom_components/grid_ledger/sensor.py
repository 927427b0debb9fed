"""Sensors: attested energy, price, money, bill and permit times, wallet balances; a producer's
export, its compensation and its energy tokens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .chain import ProducerState
from .const import NATIVE_COIN_UNIT
from .coordinator import GridLedgerConfigEntry, GridLedgerCoordinator
from .entity import GridLedgerEntity
from .units import COIN_DECIMALS, display_amount

PARALLEL_UPDATES = 0
StateValue = float | int | datetime | str | None


def _money(coordinator: GridLedgerCoordinator, amount: int) -> float:
    return display_amount(amount, coordinator.info.token_decimals)


def _time(timestamp: int) -> datetime | None:
    return dt_util.utc_from_timestamp(timestamp) if timestamp else None


@dataclass(frozen=True, kw_only=True)
class GridLedgerSensorDescription(SensorEntityDescription):
    """How one sensor reads the coordinator."""

    value_fn: Callable[[GridLedgerCoordinator], StateValue]
    exists_fn: Callable[[GridLedgerCoordinator], bool] = lambda _: True
    last_reset_fn: Callable[[GridLedgerCoordinator], datetime | None] | None = None
    monetary: bool = False  # an amount of the ledger's payment token, shown with its symbol


def _permit_until(coordinator: GridLedgerCoordinator) -> datetime | None:
    until = coordinator.data.permit_until
    return None if until >= coordinator.info.permit_forever else _time(until)


def _bill_period_start(coordinator: GridLedgerCoordinator) -> datetime | None:
    """A bill covers one billing period: its start is where the Cost total counts from, so
    long-term statistics add each new bill to the sum (the Energy dashboard's cost)."""
    return _time(coordinator.info.period_start(coordinator.data.bill.period))


def _producer(coordinator: GridLedgerCoordinator) -> ProducerState:
    producer = coordinator.data.producer
    assert producer is not None  # the producer's sensors exist only where there is a token
    return producer


def _has_energy_token(coordinator: GridLedgerCoordinator) -> bool:
    return coordinator.info.energy_token is not None


def _open_period_start(coordinator: GridLedgerCoordinator) -> datetime | None:
    return _time(coordinator.info.period_start(coordinator.data.meter.open_period))


SENSORS: tuple[GridLedgerSensorDescription, ...] = (
    GridLedgerSensorDescription(
        key="energy",
        translation_key="energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=lambda c: c.data.meter.last_wh,
    ),
    GridLedgerSensorDescription(
        key="price",
        translation_key="price",
        suggested_display_precision=4,
        value_fn=lambda c: _money(c, c.data.price_per_kwh),
    ),
    GridLedgerSensorDescription(
        key="cost",
        translation_key="cost",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        monetary=True,
        suggested_display_precision=2,
        value_fn=lambda c: _money(c, c.data.bill.amount),
        last_reset_fn=_bill_period_start,
    ),
    GridLedgerSensorDescription(
        key="balance",
        translation_key="balance",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        monetary=True,
        suggested_display_precision=2,
        value_fn=lambda c: _money(c, c.data.balance),
    ),
    GridLedgerSensorDescription(
        key="amount_due",
        translation_key="amount_due",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        monetary=True,
        suggested_display_precision=2,
        value_fn=lambda c: _money(c, c.data.amount_due),
    ),
    GridLedgerSensorDescription(
        key="bill_due",
        translation_key="bill_due",
        device_class=SensorDeviceClass.TIMESTAMP,
        # Only while something is due: a paid bill's date is on the calendar, marked paid.
        value_fn=lambda c: _time(c.data.bill.due_at) if c.data.amount_due > 0 else None,
    ),
    GridLedgerSensorDescription(
        key="permit_until",
        translation_key="permit_until",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_permit_until,
    ),
    GridLedgerSensorDescription(
        key="wallet_coin",
        translation_key="wallet_coin",
        entity_category=EntityCategory.DIAGNOSTIC,
        native_unit_of_measurement=NATIVE_COIN_UNIT,
        suggested_display_precision=6,
        value_fn=lambda c: display_amount(c.data.wallet_coin, COIN_DECIMALS),
    ),
    GridLedgerSensorDescription(
        key="wallet_token",
        translation_key="wallet_token",
        entity_category=EntityCategory.DIAGNOSTIC,
        monetary=True,
        suggested_display_precision=2,
        value_fn=lambda c: _money(c, c.data.wallet_token or 0),
        exists_fn=lambda c: c.info.payment_token is not None,
    ),
    GridLedgerSensorDescription(
        key="wallet_address",
        translation_key="wallet_address",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: c.wallet,  # where the household sends coin for gas and its money
    ),
    GridLedgerSensorDescription(
        key="exported_energy",  # the Energy dashboard's "return to grid"
        translation_key="exported_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=lambda c: _producer(c).info.export_wh,
        exists_fn=_has_energy_token,
    ),
    GridLedgerSensorDescription(
        key="export_compensation",  # the Energy dashboard's compensation for it
        translation_key="export_compensation",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        monetary=True,
        suggested_display_precision=2,
        value_fn=lambda c: _money(c, c.export_totals.compensation),
        exists_fn=_has_energy_token,
    ),
    GridLedgerSensorDescription(
        key="token_balance",
        translation_key="token_balance",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=lambda c: _producer(c).tokens_wh,
        exists_fn=_has_energy_token,
    ),
    GridLedgerSensorDescription(
        key="tokens_minted_period",
        translation_key="tokens_minted_period",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=lambda c: c.export_totals.period_wh,
        last_reset_fn=_open_period_start,
        exists_fn=_has_energy_token,
    ),
    GridLedgerSensorDescription(
        key="last_reading",
        translation_key="last_reading",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: _time(c.data.meter.last_timestamp),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridLedgerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        GridLedgerSensor(coordinator, description)
        for description in SENSORS
        if description.exists_fn(coordinator)
    )


class GridLedgerSensor(GridLedgerEntity, SensorEntity):
    """A figure read from the contract."""

    entity_description: GridLedgerSensorDescription

    def __init__(
        self, coordinator: GridLedgerCoordinator, description: GridLedgerSensorDescription
    ) -> None:
        super().__init__(coordinator, description)
        currency = coordinator.info.token_symbol  # as events, notifications and errors say
        if description.monetary:
            self._attr_native_unit_of_measurement = currency
        elif description.key == "price":
            self._attr_native_unit_of_measurement = f"{currency}/{UnitOfEnergy.KILO_WATT_HOUR}"

    @property
    def native_value(self) -> StateValue:
        return self.entity_description.value_fn(self.coordinator)

    @property
    def last_reset(self) -> datetime | None:
        if (last_reset_fn := self.entity_description.last_reset_fn) is None:
            return None
        return last_reset_fn(self.coordinator)
