"""Actions of the integration: pay the bill, top up credit, submit a reading now; claim energy
tokens, redeem them against the bill, sell them back to the operator; offer them in the energy
market, bid for others' offers, cancel an offer, finalize a lot, withdraw refunds and proceeds.

Each targets one meter by its device (`device_id`) or its entry (`config_entry_id`). A feeder
meter takes `submit_reading`, and, when its entry names the settlement, `withdraw_settlement`
(the party's amount owed, through the feeder entry's wallet) and `settle_period`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
import contextlib
from dataclasses import dataclass
from decimal import ROUND_CEILING
from functools import partial
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .billing import Billing
from .chain import (
    CannotConnectError,
    GridLedgerError,
    InsufficientFundsError,
    LedgerInfo,
    Receipt,
    RevertedError,
    TransactionTimeoutError,
)
from .chain.errors import (
    AmountAboveLimitError,
    InsufficientBalanceError,
    InsufficientTokensError,
    NoEnergyTokenError,
    NothingDueError,
    NothingOwedError,
    NothingToRedeemError,
    NothingToWithdrawError,
    OverSpendingCapError,
)
from .chain.payments import PaymentResult
from .const import DOMAIN
from .contract_errors import contract_error
from .coordinator import FeederConfigEntry, GridLedgerConfigEntry, is_feeder
from .market import Market, MarketOutcome
from .producer import TokenOutcome
from .settlement import FeederSettlement, SettlementOutcome
from .units import base_units, display_amount, kwh, percent

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_DEVICE_ID = "device_id"
ATTR_AMOUNT = "amount"
SERVICE_SUBMIT_READING = "submit_reading"
SERVICE_PAY_BILL = "pay_bill"
SERVICE_TOP_UP = "top_up"
SERVICE_CLAIM_TOKENS = "claim_tokens"
SERVICE_REDEEM_TOKENS = "redeem_tokens"
SERVICE_SELL_BACK = "sell_back"
SERVICE_OFFER_ENERGY = "offer_energy"
SERVICE_BID_ENERGY = "bid_energy"
SERVICE_CANCEL_OFFER = "cancel_offer"
SERVICE_FINALIZE_LOT = "finalize_lot"
SERVICE_WITHDRAW_REFUNDS = "withdraw_refunds"
SERVICE_WITHDRAW_SETTLEMENT = "withdraw_settlement"
SERVICE_SETTLE_PERIOD = "settle_period"
ATTR_PERIOD = "period"
ATTR_START_PRICE = "start_price"
ATTR_PRICE = "price"
ATTR_DURATION = "duration"
ATTR_LOT_ID = "lot_id"
WH_DECIMALS = 3  # amounts of energy tokens are given in kWh, in whole Wh

TARGET: dict[vol.Marker, Any] = {
    vol.Exclusive(ATTR_DEVICE_ID, "meter"): cv.string,
    vol.Exclusive(ATTR_CONFIG_ENTRY_ID, "meter"): cv.string,
}
POSITIVE_AMOUNT = vol.All(vol.Coerce(float), vol.Range(min=0, min_included=False))
SUBMIT_READING_SCHEMA = vol.All(
    vol.Schema(TARGET), cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID)
)
PAY_BILL_SCHEMA = vol.All(
    vol.Schema({**TARGET, vol.Optional(ATTR_AMOUNT): POSITIVE_AMOUNT}),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID),
)
TOP_UP_SCHEMA = vol.All(
    vol.Schema({**TARGET, vol.Required(ATTR_AMOUNT): POSITIVE_AMOUNT}),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID),
)
CLAIM_TOKENS_SCHEMA = SUBMIT_READING_SCHEMA
REDEEM_TOKENS_SCHEMA = PAY_BILL_SCHEMA  # an optional amount, in kWh
SELL_BACK_SCHEMA = TOP_UP_SCHEMA  # a required amount, in kWh
LOT_ID = vol.All(vol.Coerce(int), vol.Range(min=1))
OFFER_ENERGY_SCHEMA = vol.All(
    vol.Schema(
        {
            **TARGET,
            vol.Required(ATTR_AMOUNT): POSITIVE_AMOUNT,  # kWh
            vol.Required(ATTR_START_PRICE): POSITIVE_AMOUNT,  # per kWh, in the payment currency
            vol.Required(ATTR_DURATION): vol.All(cv.time_period, cv.positive_timedelta),
        }
    ),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID),
)
BID_ENERGY_SCHEMA = vol.All(
    vol.Schema(
        {**TARGET, vol.Required(ATTR_LOT_ID): LOT_ID, vol.Required(ATTR_PRICE): POSITIVE_AMOUNT}
    ),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID),
)
LOT_SCHEMA = vol.All(
    vol.Schema({**TARGET, vol.Required(ATTR_LOT_ID): LOT_ID}),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID),
)
WITHDRAW_REFUNDS_SCHEMA = SUBMIT_READING_SCHEMA
WITHDRAW_SETTLEMENT_SCHEMA = SUBMIT_READING_SCHEMA
SETTLE_PERIOD_SCHEMA = vol.All(
    vol.Schema({**TARGET, vol.Required(ATTR_PERIOD): vol.All(vol.Coerce(int), vol.Range(min=1))}),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID),
)


def entry_of(hass: HomeAssistant, call: ServiceCall) -> GridLedgerConfigEntry | FeederConfigEntry:
    """The loaded entry of the meter a call targets, by device or by entry id."""
    if (device_id := call.data.get(ATTR_DEVICE_ID)) is not None:
        device = dr.async_get(hass).async_get(device_id)
        entry_ids = [] if device is None else list(device.config_entries)
        entry_id = next(
            (
                candidate
                for candidate in entry_ids
                if (found := hass.config_entries.async_get_entry(candidate)) is not None
                and found.domain == DOMAIN
            ),
            None,
        )
        if entry_id is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="device_not_found",
                translation_placeholders={"device_id": device_id},
            )
    else:
        entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
    entry: ConfigEntry[Any] | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id},
        )
    return entry


def household_entry_of(hass: HomeAssistant, call: ServiceCall) -> GridLedgerConfigEntry:
    """The loaded entry of the household meter a call targets: its bill, credit and tokens."""
    entry = entry_of(hass, call)
    if is_feeder(entry):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_a_household_meter",
            translation_placeholders={"action": f"{DOMAIN}.{call.service}", "entry": entry.title},
        )
    return entry


@dataclass(frozen=True, kw_only=True)
class ErrorKeys:
    """The translation keys an action answers the wallet's and the chain's failures with."""

    unreachable: str
    pending: str
    no_gas: str


READING_ERRORS = ErrorKeys(
    unreachable="reading_queued",
    pending="reading_queued",
    no_gas="wallet_no_gas",
)
PAYMENT_ERRORS = ErrorKeys(
    unreachable="cannot_connect",
    pending="payment_pending",
    no_gas="payment_no_gas",
)
TOKEN_ERRORS = ErrorKeys(
    unreachable="cannot_connect",
    pending="token_transaction_pending",
    no_gas="token_no_gas",
)
MARKET_ERRORS = TOKEN_ERRORS  # the same intents of the same wallet
SETTLEMENT_ERRORS = ErrorKeys(
    unreachable="cannot_connect",
    pending="settlement_transaction_pending",
    no_gas="settlement_no_gas",
)


def translated_error(
    err: GridLedgerError, keys: ErrorKeys, entry: GridLedgerConfigEntry | FeederConfigEntry
) -> HomeAssistantError:
    """A library error as the translated error an action raises: the household's own mistakes
    (nothing due, over the approved amount) as validation errors."""
    info = entry.runtime_data.coordinator.info
    decimals = info.token_decimals

    def amount(value: int) -> str:
        return f"{display_amount(value, decimals):g}"

    error = HomeAssistantError
    placeholders: dict[str, str] | None = None
    match err:
        case NothingDueError():
            error, key = ServiceValidationError, "nothing_due"
        case AmountAboveLimitError():
            error, key = ServiceValidationError, "amount_above_approval"
            placeholders = {
                "amount_due": amount(err.amount_due),
                "amount": amount(err.limit),
                "currency": entry.runtime_data.coordinator.info.token_symbol,
            }
        case NothingToRedeemError():
            error, key = ServiceValidationError, "nothing_to_redeem"
        case InsufficientTokensError():
            error, key = ServiceValidationError, "more_than_held"
            placeholders = {"kwh": f"{kwh(err.wh):g}", "held_kwh": f"{kwh(err.available):g}"}
        case NoEnergyTokenError():
            error, key = ServiceValidationError, "no_energy_token"
        case OverSpendingCapError():
            error, key = ServiceValidationError, "over_spending_cap"
            placeholders = {
                "payment": amount(err.payment),
                "spent": amount(err.spent),
                "cap": amount(err.cap),
                "currency": info.token_symbol,
            }
        case NothingToWithdrawError():
            error, key = ServiceValidationError, "nothing_to_withdraw"
        case NothingOwedError():
            error, key = ServiceValidationError, "nothing_owed"
        case InsufficientBalanceError():
            key = "insufficient_balance"
            placeholders = {
                "balance": amount(err.balance),
                "needed": amount(err.needed),
                "currency": err.currency,
            }
        case InsufficientFundsError():
            key = keys.no_gas
            if keys is not READING_ERRORS:
                placeholders = {"address": entry.runtime_data.wallet.address}
        case TransactionTimeoutError():
            key = keys.pending
            if keys is not READING_ERRORS:
                placeholders = {"tx_hash": err.tx_hash}
        case CannotConnectError():
            key = keys.unreachable
        case RevertedError():
            return contract_error(err, decimals=decimals, currency=info.token_symbol)
        case _:
            key, placeholders = "update_failed", {"error": str(err)}
    return error(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


@contextlib.asynccontextmanager
async def translated_errors(
    entry: GridLedgerConfigEntry | FeederConfigEntry, keys: ErrorKeys
) -> AsyncIterator[None]:
    """Raise library errors as the action's translated errors."""
    try:
        yield
    except GridLedgerError as err:
        raise translated_error(err, keys, entry) from err


async def async_submit_reading(
    entry: GridLedgerConfigEntry | FeederConfigEntry,
) -> Receipt | None:
    """Submit a reading now; chain errors become translated Home Assistant errors."""
    async with translated_errors(entry, READING_ERRORS):
        return await entry.runtime_data.pipeline.async_submit_now()


def payment_response(billing: Billing, result: PaymentResult) -> dict[str, Any]:
    return {
        "tx_hash": result.tx_hash,
        "block_number": result.block_number,
        "amount": display_amount(result.amount, billing.decimals),
        "currency": result.currency,
    }


async def async_in_entry[T](
    entry: GridLedgerConfigEntry | FeederConfigEntry, work: Coroutine[Any, Any, T], name: str
) -> T:
    """Run a payment as a task of the entry: unloading it stops the wait for a receipt (the
    recorded intent is settled at the next start), and the caller is told so."""
    task = entry.async_create_background_task(entry.runtime_data.coordinator.hass, work, name)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not task.cancelled() or (current is not None and current.cancelling()):
            raise
        raise HomeAssistantError(
            translation_domain=DOMAIN, translation_key="payment_interrupted"
        ) from None


def token_response(entry: GridLedgerConfigEntry, outcome: TokenOutcome) -> dict[str, Any]:
    info = entry.runtime_data.coordinator.info
    response: dict[str, Any] = {
        "tx_hash": outcome.tx_hash,
        "block_number": outcome.block_number,
        "kwh": kwh(outcome.wh),
    }
    if outcome.amount is not None:
        response |= {
            "amount": display_amount(outcome.amount, info.token_decimals),
            "currency": info.token_symbol,
        }
    if outcome.withdrawn is not None:
        response["withdrawn"] = outcome.withdrawn
    return response


def token_wh(amount: float) -> int:
    """An amount of energy tokens in kWh as whole Wh (the token's base unit)."""
    if (wh := base_units(amount, WH_DECIMALS)) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_amount",
            translation_placeholders={"amount": str(amount), "decimals": str(WH_DECIMALS)},
        )
    return wh


def market_of(entry: GridLedgerConfigEntry) -> Market:
    """The energy market the household chose in the options."""
    if (market := entry.runtime_data.market) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_market",
            translation_placeholders={"entry": entry.title},
        )
    return market


def money(info: LedgerInfo, value: int) -> float:
    """An amount of the payment token in its display unit."""
    return display_amount(value, info.token_decimals)


def sent_response(info: LedgerInfo, tx_hash: str, block_number: int) -> dict[str, Any]:
    """Where an action's transaction was mined, and the currency its amounts are in."""
    return {"tx_hash": tx_hash, "block_number": block_number, "currency": info.token_symbol}


def market_response(entry: GridLedgerConfigEntry, outcome: MarketOutcome) -> dict[str, Any]:
    """What a market action did, in kWh and in the payment currency."""
    info = entry.runtime_data.coordinator.info
    amount = partial(money, info)
    response = sent_response(info, outcome.tx_hash, outcome.block_number)
    if outcome.lot_id is not None:
        response["lot_id"] = outcome.lot_id
    if outcome.wh is not None:
        response["kwh"] = kwh(outcome.wh)
    if outcome.deadline is not None:
        response["ends_at"] = dt_util.utc_from_timestamp(outcome.deadline).isoformat()
    for name in ("price_per_kwh", "payment", "refund", "proceeds"):
        if (value := getattr(outcome, name)) is not None:
            response[name] = amount(value)
    return response


def feeder_settlement_of(hass: HomeAssistant, call: ServiceCall) -> FeederSettlement:
    """The settlement side of the feeder entry a call targets."""
    entry = entry_of(hass, call)
    if not is_feeder(entry):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_a_feeder_meter",
            translation_placeholders={"action": f"{DOMAIN}.{call.service}", "entry": entry.title},
        )
    if (settlement := entry.runtime_data.settlement) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_settlement",
            translation_placeholders={"entry": entry.title},
        )
    return settlement


def settlement_response(entry: FeederConfigEntry, outcome: SettlementOutcome) -> dict[str, Any]:
    """What a settlement action did, in the payment currency (and bps for a markup)."""
    info = entry.runtime_data.coordinator.info
    amount = partial(money, info)
    response = sent_response(info, outcome.tx_hash, outcome.block_number)
    if outcome.amount is not None:
        response["amount"] = amount(outcome.amount)
    if (statement := outcome.statement) is not None:
        response |= {
            "period": statement.period,
            "loss_percent": percent(statement.loss_bps),
            "markup_bps": statement.markup_bps,
            "plant_owed": amount(statement.plant_owed),
            "distributor_owed": amount(statement.distributor_owed),
        }
    return response


def price_units(entry: GridLedgerConfigEntry, price: float) -> int:
    """A price per kWh in the payment currency as base units, exactly."""
    decimals = entry.runtime_data.coordinator.info.token_decimals
    if (units := base_units(price, decimals)) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_amount",
            translation_placeholders={"amount": str(price), "decimals": str(decimals)},
        )
    return units


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    async def _submit_reading(call: ServiceCall) -> ServiceResponse:
        entry = entry_of(hass, call)
        await async_submit_reading(entry)
        submitted = entry.runtime_data.pipeline.last_submitted
        if submitted is None:  # pragma: no cover - a submission that did not raise landed
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="reading_queued")
        return {
            "submitted": True,
            "tx_hash": submitted.tx_hash,  # None: it landed through another relay
            "block_number": submitted.block_number,
            "wh": submitted.wh,
            "timestamp": submitted.timestamp,
        }

    async def _pay_bill(call: ServiceCall) -> ServiceResponse:
        entry = household_entry_of(hass, call)
        billing = _billing(entry)
        limit = None
        if (amount := call.data.get(ATTR_AMOUNT)) is not None:
            limit = base_units(amount, billing.decimals, rounding=ROUND_CEILING)  # an approval
        async with translated_errors(entry, PAYMENT_ERRORS):
            result = await async_in_entry(
                entry, billing.async_pay_bill(limit), f"{DOMAIN} pay bill"
            )
        return payment_response(billing, result)

    async def _top_up(call: ServiceCall) -> ServiceResponse:
        entry = household_entry_of(hass, call)
        billing = _billing(entry)
        amount = base_units(call.data[ATTR_AMOUNT], billing.decimals)
        if amount is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_amount",
                translation_placeholders={
                    "amount": str(call.data[ATTR_AMOUNT]),
                    "decimals": str(billing.decimals),
                },
            )
        async with translated_errors(entry, PAYMENT_ERRORS):
            result = await async_in_entry(entry, billing.async_top_up(amount), f"{DOMAIN} top up")
        return payment_response(billing, result)

    async def _claim_tokens(call: ServiceCall) -> ServiceResponse:
        entry = household_entry_of(hass, call)
        producer = entry.runtime_data.producer
        async with translated_errors(entry, TOKEN_ERRORS):
            outcome = await async_in_entry(entry, producer.async_claim(), f"{DOMAIN} claim")
        return token_response(entry, outcome)

    async def _redeem_tokens(call: ServiceCall) -> ServiceResponse:
        entry = household_entry_of(hass, call)
        amount = call.data.get(ATTR_AMOUNT)
        wh = None if amount is None else token_wh(amount)
        producer = entry.runtime_data.producer
        async with translated_errors(entry, TOKEN_ERRORS):
            outcome = await async_in_entry(entry, producer.async_redeem(wh), f"{DOMAIN} redeem")
        return token_response(entry, outcome)

    async def _sell_back(call: ServiceCall) -> ServiceResponse:
        entry = household_entry_of(hass, call)
        wh = token_wh(call.data[ATTR_AMOUNT])
        producer = entry.runtime_data.producer
        async with translated_errors(entry, TOKEN_ERRORS):
            outcome = await async_in_entry(entry, producer.async_sell_back(wh), f"{DOMAIN} sell")
        return token_response(entry, outcome)

    async def _market_action(
        call: ServiceCall,
        act: Callable[[Market], Coroutine[Any, Any, MarketOutcome]],
    ) -> ServiceResponse:
        entry = household_entry_of(hass, call)
        market = market_of(entry)
        async with translated_errors(entry, MARKET_ERRORS):
            outcome = await async_in_entry(entry, act(market), f"{DOMAIN} {call.service}")
        return market_response(entry, outcome)

    async def _offer_energy(call: ServiceCall) -> ServiceResponse:
        entry = household_entry_of(hass, call)
        wh = token_wh(call.data[ATTR_AMOUNT])
        price = price_units(entry, call.data[ATTR_START_PRICE])
        seconds = int(call.data[ATTR_DURATION].total_seconds())
        return await _market_action(call, lambda market: market.async_offer(wh, price, seconds))

    async def _bid_energy(call: ServiceCall) -> ServiceResponse:
        price = price_units(household_entry_of(hass, call), call.data[ATTR_PRICE])
        lot_id = call.data[ATTR_LOT_ID]
        return await _market_action(call, lambda market: market.async_bid(lot_id, price))

    async def _cancel_offer(call: ServiceCall) -> ServiceResponse:
        lot_id = call.data[ATTR_LOT_ID]
        return await _market_action(call, lambda market: market.async_cancel(lot_id))

    async def _finalize_lot(call: ServiceCall) -> ServiceResponse:
        lot_id = call.data[ATTR_LOT_ID]
        return await _market_action(call, lambda market: market.async_finalize(lot_id))

    async def _withdraw_refunds(call: ServiceCall) -> ServiceResponse:
        return await _market_action(call, lambda market: market.async_withdraw())

    async def _settlement_action(
        call: ServiceCall,
        act: Callable[[FeederSettlement], Coroutine[Any, Any, SettlementOutcome]],
    ) -> ServiceResponse:
        settlement = feeder_settlement_of(hass, call)
        entry = settlement.entry
        async with translated_errors(entry, SETTLEMENT_ERRORS):
            outcome = await async_in_entry(entry, act(settlement), f"{DOMAIN} {call.service}")
        return settlement_response(entry, outcome)

    async def _withdraw_settlement(call: ServiceCall) -> ServiceResponse:
        return await _settlement_action(call, lambda settlement: settlement.async_withdraw())

    async def _settle_period(call: ServiceCall) -> ServiceResponse:
        period = call.data[ATTR_PERIOD]
        return await _settlement_action(call, lambda settlement: settlement.async_settle(period))

    for name, handler, schema in (
        (SERVICE_SUBMIT_READING, _submit_reading, SUBMIT_READING_SCHEMA),
        (SERVICE_PAY_BILL, _pay_bill, PAY_BILL_SCHEMA),
        (SERVICE_TOP_UP, _top_up, TOP_UP_SCHEMA),
        (SERVICE_CLAIM_TOKENS, _claim_tokens, CLAIM_TOKENS_SCHEMA),
        (SERVICE_REDEEM_TOKENS, _redeem_tokens, REDEEM_TOKENS_SCHEMA),
        (SERVICE_SELL_BACK, _sell_back, SELL_BACK_SCHEMA),
        (SERVICE_OFFER_ENERGY, _offer_energy, OFFER_ENERGY_SCHEMA),
        (SERVICE_BID_ENERGY, _bid_energy, BID_ENERGY_SCHEMA),
        (SERVICE_CANCEL_OFFER, _cancel_offer, LOT_SCHEMA),
        (SERVICE_FINALIZE_LOT, _finalize_lot, LOT_SCHEMA),
        (SERVICE_WITHDRAW_REFUNDS, _withdraw_refunds, WITHDRAW_REFUNDS_SCHEMA),
        (SERVICE_WITHDRAW_SETTLEMENT, _withdraw_settlement, WITHDRAW_SETTLEMENT_SCHEMA),
        (SERVICE_SETTLE_PERIOD, _settle_period, SETTLE_PERIOD_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=SupportsResponse.OPTIONAL
        )


def _billing(entry: GridLedgerConfigEntry) -> Billing:
    billing = entry.runtime_data.billing
    if billing is None:  # pragma: no cover - set before the entry is loaded
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry.entry_id},
        )
    return billing
