"""Sensors: attested energy, price, money, bill and permit times, wallet balances; a producer's
export, its compensation and its energy tokens; the household's offers in the energy market,
their end, its last trade, its tokens in escrow, its withdrawable money, the market's best
price; the wallet's pending transactions. A feeder's: its energy and its children's this
period, the loss the ledger compares, its key's gas."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .chain import ProducerState, Wallet
from .chain.market import Lot
from .chain.settlement import Statement
from .const import NATIVE_COIN_UNIT
from .coordinator import (
    FeederConfigEntry,
    FeederCoordinator,
    GridLedgerConfigEntry,
    GridLedgerCoordinator,
    is_feeder,
)
from .entity import FeederEntity, GridLedgerEntity, MarketEntity
from .market import Market
from .units import COIN_DECIMALS, display_amount, kwh, percent

PARALLEL_UPDATES = 0
StateValue = float | int | datetime | str | None


def _money(coordinator: GridLedgerCoordinator, amount: int) -> float:
    return display_amount(amount, coordinator.info.token_decimals)


def _money_unit(coordinator: GridLedgerCoordinator, kind: str | None) -> str | None:
    """The payment token's symbol (as events, notifications and errors say) for an amount
    (`currency`), per kWh for a `price`."""
    currency = coordinator.info.token_symbol
    if kind == "currency":
        return currency
    if kind == "price":
        return f"{currency}/{UnitOfEnergy.KILO_WATT_HOUR}"
    return None


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
    """Any household may hold energy tokens (they are transferable) and redeem them."""
    return coordinator.info.energy_token is not None


def _exports(coordinator: GridLedgerCoordinator) -> bool:
    """The ledger takes the meter's export register: only then is there a return to grid, a
    compensation for it and tokens minted from it."""
    producer = coordinator.data.producer
    return producer is not None and producer.info.exports


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
        exists_fn=_exports,
    ),
    GridLedgerSensorDescription(
        key="export_compensation",  # the Energy dashboard's compensation for it
        translation_key="export_compensation",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        monetary=True,
        suggested_display_precision=2,
        value_fn=lambda c: _money(c, c.export_totals.compensation),
        exists_fn=_exports,
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
        exists_fn=_exports,
    ),
    GridLedgerSensorDescription(
        key="last_reading",
        translation_key="last_reading",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: _time(c.data.meter.last_timestamp),
    ),
)


@dataclass(frozen=True, kw_only=True)
class FeederSensorDescription(SensorEntityDescription):
    """How one sensor of a feeder reads its coordinator."""

    value_fn: Callable[[FeederCoordinator], StateValue]
    last_reset_fn: Callable[[FeederCoordinator], datetime | None] | None = None
    attributes_fn: Callable[[FeederCoordinator], Mapping[str, Any]] | None = None


def _feeder_period_start(coordinator: FeederCoordinator) -> datetime | None:
    return _time(coordinator.info.period_start(coordinator.data.open.period))


def _loss(coordinator: FeederCoordinator) -> float | None:
    loss = coordinator.data.compared.loss_bps
    return None if loss is None else percent(loss)


def _compared(coordinator: FeederCoordinator) -> Mapping[str, Any]:
    """The period the loss is of, and the two energies it compares (Wh)."""
    compared = coordinator.data.compared
    return {
        "period": compared.period,
        "feeder_wh": compared.feeder_wh,
        "children_wh": compared.children_wh,
        "checked": compared.checked,
    }


def _feeder_last_reading(coordinator: FeederCoordinator) -> datetime | None:
    """None until the feeder's first reading: its time on-chain is its registration's."""
    feeder = coordinator.data.feeder
    return _time(feeder.last_timestamp) if feeder.last_wh else None


def _open_period_energy(
    *, translation_key: str, value_fn: Callable[[FeederCoordinator], StateValue]
) -> FeederSensorDescription:
    """Energy the ledger counts in the open period: a total that restarts with each period."""
    return FeederSensorDescription(
        key=translation_key,
        translation_key=translation_key,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=value_fn,
        last_reset_fn=_feeder_period_start,
    )


FEEDER_SENSORS: tuple[FeederSensorDescription, ...] = (
    _open_period_energy(translation_key="feeder_energy", value_fn=lambda c: c.data.open.feeder_wh),
    # Child feeders count as they read, household meters once they close the period.
    _open_period_energy(
        translation_key="children_energy", value_fn=lambda c: c.data.open.children_wh
    ),
    FeederSensorDescription(
        key="loss",
        translation_key="loss",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=_loss,
        attributes_fn=_compared,
    ),
    FeederSensorDescription(
        key="loss_tolerance",
        translation_key="loss_tolerance",
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=2,
        value_fn=lambda c: percent(c.data.feeder.loss_tolerance_bps),
    ),
    FeederSensorDescription(
        key="last_reading",
        translation_key="last_reading",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_feeder_last_reading,
    ),
    FeederSensorDescription(
        key="wallet_coin",
        translation_key="wallet_coin",
        entity_category=EntityCategory.DIAGNOSTIC,
        native_unit_of_measurement=NATIVE_COIN_UNIT,
        suggested_display_precision=6,
        value_fn=lambda c: display_amount(c.data.wallet_coin, COIN_DECIMALS),
    ),
    FeederSensorDescription(
        key="wallet_address",
        translation_key="wallet_address",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: c.wallet,  # the feeder key's address: where its gas is sent
    ),
)
"""A feeder's sensors; with the settlement named, also `SETTLEMENT_SENSORS`."""


def _settled(coordinator: FeederCoordinator) -> Statement | None:
    settlement = coordinator.data.settlement
    return None if settlement is None else settlement.last


def _settled_figure(
    fn: Callable[[Statement], StateValue],
) -> Callable[[FeederCoordinator], StateValue]:
    return lambda coordinator: None if (last := _settled(coordinator)) is None else fn(last)


def _amount_owed(coordinator: FeederCoordinator) -> float | None:
    settlement = coordinator.data.settlement
    if settlement is None:  # pragma: no cover - created only with the settlement named
        return None
    return display_amount(settlement.owed, coordinator.info.token_decimals)


def _statement(coordinator: FeederCoordinator) -> Mapping[str, Any]:
    """The settled period's energies (Wh) and shares (the payment token's base units)."""
    if (last := _settled(coordinator)) is None:
        return {}
    return {
        "period": last.period,
        "plant_wh": last.plant_wh,
        "distributor_wh": last.distributor_wh,
        "households_wh": last.households_wh,
        "households_value": last.households_value,
        "plant_owed": last.plant_owed,
        "distributor_owed": last.distributor_owed,
    }


SETTLEMENT_SENSORS: tuple[FeederSensorDescription, ...] = (
    FeederSensorDescription(
        key="settled_markup",
        translation_key="settled_markup",
        native_unit_of_measurement="bps",
        value_fn=_settled_figure(lambda last: last.markup_bps),
        attributes_fn=_statement,
    ),
    FeederSensorDescription(
        key="settled_loss",
        translation_key="settled_loss",
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=2,
        value_fn=_settled_figure(lambda last: percent(last.loss_bps)),
        attributes_fn=_statement,
    ),
    FeederSensorDescription(
        key="last_settlement",
        translation_key="last_settlement",
        value_fn=_settled_figure(lambda last: last.period),
        attributes_fn=_statement,
    ),
    FeederSensorDescription(
        key="settlement_owed",
        translation_key="settlement_owed",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=4,
        value_fn=_amount_owed,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridLedgerConfigEntry | FeederConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if is_feeder(entry):
        feeder = entry.runtime_data.coordinator
        descriptions = FEEDER_SENSORS
        if entry.runtime_data.settlement is not None:
            descriptions += SETTLEMENT_SENSORS
        async_add_entities(FeederSensor(feeder, description) for description in descriptions)
        return
    coordinator = entry.runtime_data.coordinator
    added: set[str] = set()

    @callback
    def add_sensors() -> None:
        """Add the sensors that exist now: a meter's export sensors appear once the ledger
        takes its export register."""
        new = [d for d in SENSORS if d.key not in added and d.exists_fn(coordinator)]
        added.update(d.key for d in new)
        if new:
            async_add_entities(GridLedgerSensor(coordinator, d) for d in new)

    add_sensors()
    entry.async_on_unload(coordinator.async_add_listener(add_sensors))
    async_add_entities([PendingTransactionsSensor(coordinator, entry.runtime_data.wallet)])
    if (market := entry.runtime_data.market) is not None:
        async_add_entities(MarketSensor(market, description) for description in MARKET_SENSORS)


class GridLedgerSensor(GridLedgerEntity, SensorEntity):
    """A figure read from the contract."""

    entity_description: GridLedgerSensorDescription

    def __init__(
        self, coordinator: GridLedgerCoordinator, description: GridLedgerSensorDescription
    ) -> None:
        super().__init__(coordinator, description)
        kind = "currency" if description.monetary else description.key
        if (unit := _money_unit(coordinator, kind)) is not None:
            self._attr_native_unit_of_measurement = unit

    @property
    def native_value(self) -> StateValue:
        return self.entity_description.value_fn(self.coordinator)

    @property
    def last_reset(self) -> datetime | None:
        if (last_reset_fn := self.entity_description.last_reset_fn) is None:
            return None
        return last_reset_fn(self.coordinator)


PENDING_TRANSACTIONS = SensorEntityDescription(
    key="wallet_pending",
    translation_key="wallet_pending",
    state_class=SensorStateClass.MEASUREMENT,
)


class PendingTransactionsSensor(GridLedgerEntity, SensorEntity):
    """The wallet's transactions sent and not settled yet (readings, payments, tokens, market):
    their count, and their hashes as an attribute; updated as the wallet sends and settles."""

    def __init__(self, coordinator: GridLedgerCoordinator, wallet: Wallet) -> None:
        super().__init__(coordinator, PENDING_TRANSACTIONS)
        self._wallet = wallet

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self._wallet.add_pending_listener(self.async_write_ha_state))

    @property
    def native_value(self) -> int:
        return len(self._wallet.pending_hashes)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        return {"transactions": self._wallet.pending_hashes}


def _lot_view(market: Market, lot: Lot) -> dict[str, Any]:
    decimals = market.coordinator.info.token_decimals
    return {
        "lot_id": lot.lot_id,
        "kwh": kwh(lot.amount_wh),
        "price_per_kwh": display_amount(lot.price_per_kwh, decimals),  # start price or bid
        "bidder": lot.bidder,
        "ends_at": dt_util.utc_from_timestamp(lot.deadline).isoformat(),
    }


def _soonest_end(market: Market) -> datetime | None:
    deadlines = [lot.deadline for lot in market.own_open_lots()]
    return _time(min(deadlines)) if deadlines else None


def _last_price(market: Market) -> float | None:
    if (lot := market.last_traded()) is None:
        return None
    return display_amount(lot.price_per_kwh, market.coordinator.info.token_decimals)


def _best_price(market: Market) -> float | None:
    if (price := market.best_price()) is None:
        return None
    return display_amount(price, market.coordinator.info.token_decimals)


@dataclass(frozen=True, kw_only=True)
class MarketSensorDescription(SensorEntityDescription):
    """How one sensor reads the household's view of the market."""

    value_fn: Callable[[Market], StateValue]
    attributes_fn: Callable[[Market], Mapping[str, Any]] | None = None
    unit: str | None = None  # "currency", "price": the payment token's, per kWh for a price


MARKET_SENSORS: tuple[MarketSensorDescription, ...] = (
    MarketSensorDescription(
        key="market_offers",
        translation_key="market_offers",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda m: len(m.own_open_lots()),
        attributes_fn=lambda m: {"lots": [_lot_view(m, lot) for lot in m.own_open_lots()]},
    ),
    MarketSensorDescription(
        key="market_auction_end",
        translation_key="market_auction_end",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_soonest_end,
    ),
    MarketSensorDescription(
        key="market_last_price",
        translation_key="market_last_price",
        suggested_display_precision=4,
        unit="price",
        value_fn=_last_price,
    ),
    MarketSensorDescription(
        key="market_tokens_offered",
        translation_key="market_tokens_offered",
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=lambda m: sum(lot.amount_wh for lot in m.own_open_lots()),
    ),
    MarketSensorDescription(
        key="market_withdrawable",
        translation_key="market_withdrawable",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=4,
        unit="currency",
        value_fn=lambda m: display_amount(
            m.market.data.refund + m.market.data.proceeds, m.coordinator.info.token_decimals
        ),
        attributes_fn=lambda m: {
            "refund": display_amount(m.market.data.refund, m.coordinator.info.token_decimals),
            "proceeds": display_amount(m.market.data.proceeds, m.coordinator.info.token_decimals),
        },
    ),
    MarketSensorDescription(
        key="market_best_price",
        translation_key="market_best_price",
        suggested_display_precision=4,
        unit="price",
        value_fn=_best_price,
    ),
)


class MarketSensor(MarketEntity, SensorEntity):
    """A figure of the energy market, as the household sees it."""

    entity_description: MarketSensorDescription

    def __init__(self, market: Market, description: MarketSensorDescription) -> None:
        super().__init__(market, description)
        if (unit := _money_unit(market.coordinator, description.unit)) is not None:
            self._attr_native_unit_of_measurement = unit

    @property
    def native_value(self) -> StateValue:
        return self.entity_description.value_fn(self.market)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.market)


class FeederSensor(FeederEntity, SensorEntity):
    """A figure of a feeder read from the contract."""

    entity_description: FeederSensorDescription

    def __init__(
        self, coordinator: FeederCoordinator, description: FeederSensorDescription
    ) -> None:
        super().__init__(coordinator, description)
        if description.device_class is SensorDeviceClass.MONETARY:
            self._attr_native_unit_of_measurement = coordinator.info.token_symbol

    @property
    def native_value(self) -> StateValue:
        return self.entity_description.value_fn(self.coordinator)

    @property
    def last_reset(self) -> datetime | None:
        if (last_reset_fn := self.entity_description.last_reset_fn) is None:
            return None
        return last_reset_fn(self.coordinator)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.coordinator)
