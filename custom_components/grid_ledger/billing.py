"""Billing: the household wallet pays the meter's bills, within the spending cap, never twice.

The payment engine (`chain.payments`) keeps its intent in a Home Assistant `Store`, so a restart
between signing and receipt settles the recorded payment instead of sending a new one. What the
cap has let through in the meter's open period is kept beside it, counted before a payment is
sent and released only when that payment provably did not happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import ROUND_FLOOR
from typing import Any, TypedDict
import uuid

from homeassistant.components import persistent_notification
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .chain import GridLedgerError, LedgerEvent, MeterState, Wallet
from .chain.errors import OverSpendingCapError
from .chain.payments import (
    PAY_GAS_FLOOR,
    PaymentEngine,
    PaymentPendingError,
    PaymentResult,
    PaymentStatus,
)
from .const import (
    CONF_AUTO_PAY,
    CONF_SPENDING_CAP,
    DEFAULT_SPENDING_CAP,
    DOMAIN,
    EVENT_BILL_ISSUED,
    EVENT_LOW_CREDIT,
    EVENT_PAYMENT_APPROVAL_REQUESTED,
    EVENT_PAYMENT_CONFIRMED,
    ISSUE_WALLET_GAS_LOW,
    LOGGER,
)
from .coordinator import GridLedgerConfigEntry, GridLedgerCoordinator, Listeners, remove_all
from .policy import DEFAULT_RESERVE_TRANSACTIONS, PaymentAction, decide_payment, gas_low
from .repairs import async_clear_issue, async_raise_issue
from .units import base_units, display_amount, kwh

STORAGE_VERSION = 1
BID_PREFIX = "bid_"  # `spent` keys of the market's standing bids, by lot


class BillingState(TypedDict):
    """What survives a restart besides the payment intent."""

    bill_period: int  # the newest bill announced with `grid_ledger_bill_issued`
    cap_period: int  # the meter's open period that `spent` counts towards
    # automatic payments of `cap_period` by request id, and standing bids by `bid_<lot>`
    spent: dict[str, int]


class HassPaymentStore:
    """The payment engine's durable intent, in Home Assistant's storage."""

    def __init__(self, hass: HomeAssistant, key: str) -> None:
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, key)

    async def load(self) -> dict[str, Any] | None:
        return await self._store.async_load()

    async def save(self, data: dict[str, Any]) -> None:
        await self._store.async_save(data)


class Billing:
    """Bills, automatic and approved payments, top-ups and the wallet's gas of one meter."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: GridLedgerConfigEntry,
        wallet: Wallet,
        coordinator: GridLedgerCoordinator,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.client = wallet.client
        self.coordinator = coordinator
        self.wallet = wallet
        self.meter_id = coordinator.meter_id
        self.engine = PaymentEngine(
            wallet,
            HassPaymentStore(hass, f"{DOMAIN}.{entry.entry_id}.payment"),
            on_result=self._on_result,
        )
        self._store: Store[BillingState] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.billing"
        )
        self.state: BillingState = {"bill_period": 0, "cap_period": 0, "spent": {}}
        self.gas_low: bool | None = None
        # Whether held energy tokens pay the unpaid bill before money (the producer's say).
        self.tokens_pay_first: Callable[[MeterState], bool] = lambda _data: False
        self.approval: dict[str, Any] | None = None  # the open request, not persisted
        self._lock = asyncio.Lock()
        self._listeners: Listeners[[]] = Listeners()

    # ------------------------------------------------------------------ set-up

    async def async_load(self) -> None:
        if (stored := await self._store.async_load()) is not None:
            self.state = stored

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Settle what a previous run left, then follow the coordinator and the events."""
        self.entry.async_create_background_task(
            self.hass, self._async_resume_then_evaluate(), f"{DOMAIN} billing start"
        )
        return remove_all(
            self.coordinator.async_add_listener(self._schedule_evaluation),
            self.coordinator.async_add_event_listener(self._on_events),
        )

    @callback
    def async_add_listener(self, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update` when the wallet's gas state changes."""
        return self._listeners.add(update)

    @property
    def device_id(self) -> str | None:
        return self.coordinator.device_id

    @property
    def currency(self) -> str:
        return self.coordinator.info.token_symbol

    @property
    def decimals(self) -> int:
        return self.coordinator.info.token_decimals

    @property
    def auto_pay(self) -> bool:
        return bool(self.entry.options.get(CONF_AUTO_PAY, False))

    @property
    def spending_cap(self) -> int:
        """The cap per period in base units, rounded down: never a fraction more."""
        cap = self.entry.options.get(CONF_SPENDING_CAP, DEFAULT_SPENDING_CAP)
        return base_units(cap, self.decimals, rounding=ROUND_FLOOR) or 0

    @property
    def spent(self) -> int:
        return sum(self.state["spent"].values())

    # ------------------------------------------------------------------ triggers

    @callback
    def _schedule_evaluation(self) -> None:
        self.entry.async_create_background_task(
            self.hass, self.async_evaluate(), f"{DOMAIN} billing"
        )

    async def _async_resume_then_evaluate(self) -> None:
        async with self._lock:
            await self._async_settle_pending()
        await self.async_evaluate()

    @callback
    def _on_events(self, events: list[LedgerEvent]) -> None:
        for event in events:
            if event.name == "LowCredit":
                self.entry.async_create_background_task(
                    self.hass,
                    self._async_low_credit(int(event.args["balance"])),
                    f"{DOMAIN} credit",
                )

    async def _async_low_credit(self, balance: int) -> None:
        data = self.coordinator.data
        try:
            threshold = await self.client.low_credit_threshold(data.meter.tariff_id)
        except GridLedgerError as err:
            LOGGER.debug("Low-credit threshold not read: %s", err)
            return
        self._fire(
            EVENT_LOW_CREDIT,
            balance=display_amount(balance, self.decimals),
            threshold=display_amount(threshold, self.decimals),
            currency=self.currency,
        )

    # ------------------------------------------------------------------ decisions

    async def async_evaluate(self) -> None:
        """Announce a new bill, pay it within the cap or ask for approval; watch the gas."""
        async with self._lock:
            if not self.coordinator.last_update_success or self.coordinator.data is None:
                return
            data = self.coordinator.data
            await self._async_check_gas(data)
            await self._async_new_period(data)
            if await self.engine.pending() is not None:
                await self._async_settle_pending()  # its result asks for a fresh read
                return
            if data.amount_due == 0:
                self._close_approval()
                return
            if self.auto_pay and self.tokens_pay_first(data):
                return  # held tokens pay first; their redemption asks for a fresh read
            decision = decide_payment(
                amount_due=data.amount_due,
                cap_per_period=self.spending_cap,
                paid_this_period=self.spent,
                auto_pay=self.auto_pay,
            )
            if decision.action is PaymentAction.PAY:
                await self._async_auto_pay(decision.amount, data.bill.period)
            elif decision.action is PaymentAction.REQUEST_APPROVAL:
                await self._async_request_approval(data)

    async def _async_new_period(self, data: MeterState) -> None:
        changed = False
        if data.meter.open_period != self.state["cap_period"]:
            self.state["cap_period"] = data.meter.open_period
            self.state["spent"] = {}
            changed = True
        if data.bill.period > self.state["bill_period"]:
            self.state["bill_period"] = data.bill.period
            changed = True
            self._fire(
                EVENT_BILL_ISSUED,
                period=data.bill.period,
                amount=display_amount(data.bill.amount, self.decimals),
                amount_due=display_amount(data.amount_due, self.decimals),
                currency=self.currency,
                energy_kwh=kwh(data.bill.energy_wh),
                due_at=dt_util.utc_from_timestamp(data.bill.due_at).isoformat(),
            )
        if changed:
            await self._store.async_save(self.state)

    async def _async_auto_pay(self, amount: int, bill_period: int) -> None:
        request_id = f"auto_{self.meter_id}_{bill_period}"
        self.state["spent"][request_id] = amount  # counted before anything is sent
        await self._store.async_save(self.state)
        try:
            await self.engine.pay_bill(self.meter_id, max_amount=amount, request_id=request_id)
        except PaymentPendingError as err:
            LOGGER.warning("Automatic payment sent, not mined yet: %s", err)
        except GridLedgerError as err:
            LOGGER.warning("Automatic payment of meter %s failed: %s", self.meter_id, err)
        await self._async_after_payment()

    async def _async_settle_pending(self) -> None:
        """Finish the payment a previous run (or a timed-out call) left recorded."""
        try:
            await self.engine.resume()
        except GridLedgerError as err:
            LOGGER.debug("Recorded payment not settled yet: %s", err)
        await self._async_after_payment()

    async def _async_after_payment(self) -> None:
        """Release cap reservations of automatic payments that provably did not happen."""
        if await self.engine.pending() is None:
            for request_id in list(self.state["spent"]):
                if request_id.startswith(BID_PREFIX):
                    continue  # a bid's money is released when it is outbid or fails
                result = await self.engine.result(request_id)
                if result is None or result.status is not PaymentStatus.CONFIRMED:
                    del self.state["spent"][request_id]
        await self._store.async_save(self.state)

    @callback
    def _on_result(self, result: PaymentResult) -> None:
        if result.status is not PaymentStatus.CONFIRMED:
            return
        self._close_approval()
        self._fire(
            EVENT_PAYMENT_CONFIRMED,
            amount=display_amount(result.amount, self.decimals),
            currency=result.currency,
            tx_hash=result.tx_hash,
        )
        self.entry.async_create_background_task(
            self.hass, self.coordinator.async_request_refresh(), f"{DOMAIN} refresh"
        )

    # ------------------------------------------------------------------ approvals

    async def _async_request_approval(self, data: MeterState) -> None:
        if self.approval is not None and self.approval["amount_due"] == data.amount_due:
            return  # asked already in this run
        request_id = f"{self.meter_id}_{data.bill.period}_{uuid.uuid4().hex[:12]}"
        amount = display_amount(data.amount_due, self.decimals)
        self.approval = {"request_id": request_id, "amount_due": data.amount_due}
        self._fire(
            EVENT_PAYMENT_APPROVAL_REQUESTED,
            request_id=request_id,
            amount=amount,
            currency=self.currency,
        )
        strings = await async_get_translations(
            self.hass, self.hass.config.language, "common", {DOMAIN}
        )
        common = f"component.{DOMAIN}.common"
        placeholders = {
            "meter_id": str(self.meter_id),
            "amount": f"{amount:g}",
            "currency": self.currency,
            "cap": f"{display_amount(self.spending_cap, self.decimals):g}",
        }
        persistent_notification.async_create(
            self.hass,
            strings[f"{common}.payment_approval_message"].format(**placeholders),
            strings[f"{common}.payment_approval_title"].format(**placeholders),
            self._notification_id,
        )

    @property
    def _notification_id(self) -> str:
        return f"{DOMAIN}_approval_{self.entry.entry_id}"

    @callback
    def _close_approval(self) -> None:
        if self.approval is not None:
            self.approval = None
            persistent_notification.async_dismiss(self.hass, self._notification_id)

    # ------------------------------------------------------------------ actions

    async def async_pay_bill(self, max_amount: int | None) -> PaymentResult:
        """Pay the whole amount due now (the household asked, or approved it)."""
        async with self._lock:
            try:
                return await self.engine.pay_bill(self.meter_id, max_amount=max_amount)
            finally:
                await self._async_after_payment()

    async def async_top_up(self, amount: int) -> PaymentResult:
        """Add prepaid credit now."""
        async with self._lock:
            try:
                return await self.engine.top_up(self.meter_id, amount)
            finally:
                await self._async_after_payment()

    # ------------------------------------------------------------------ bids

    async def async_reserve_bid(self, lot_id: int, payment: int) -> int | None:
        """Count a bid's escrowed payment against the period's cap before it is sent (it
        replaces the wallet's earlier bid on the lot); returns what it replaced. Raises
        `OverSpendingCapError` when payments and standing bids would exceed the cap."""
        async with self._lock:
            key = f"{BID_PREFIX}{lot_id}"
            previous = self.state["spent"].get(key)
            spent = self.spent - (previous or 0)
            if spent + payment > self.spending_cap:
                raise OverSpendingCapError(payment, spent, self.spending_cap)
            self.state["spent"][key] = payment
            await self._store.async_save(self.state)
            return previous

    async def async_release_bid(self, lot_id: int, previous: int | None = None) -> None:
        """The bid's money came back (outbid), or the bid failed: `previous` stands again."""
        async with self._lock:
            key = f"{BID_PREFIX}{lot_id}"
            if previous is None:
                self.state["spent"].pop(key, None)
            else:
                self.state["spent"][key] = previous
            await self._store.async_save(self.state)

    # ------------------------------------------------------------------ gas

    async def _async_check_gas(self, data: MeterState) -> None:
        try:
            max_fee, _ = await self.wallet.fees(retry=False)
        except GridLedgerError as err:
            LOGGER.debug("Gas not checked: %s", err)
            return
        low = gas_low(
            balance=data.wallet_coin,
            gas_price=max_fee,
            gas_per_transaction=PAY_GAS_FLOOR,  # the dearest transaction the wallet sends
            transactions=DEFAULT_RESERVE_TRANSACTIONS,
        )
        if low == self.gas_low:
            return
        self.gas_low = low
        if low:
            async_raise_issue(
                self.hass,
                self.entry.entry_id,
                ISSUE_WALLET_GAS_LOW,
                {"address": self.wallet.address, "transactions": str(DEFAULT_RESERVE_TRANSACTIONS)},
                severity=ir.IssueSeverity.WARNING,
            )
        else:
            async_clear_issue(self.hass, self.entry.entry_id, ISSUE_WALLET_GAS_LOW)
        self._listeners.notify()

    # ------------------------------------------------------------------ helpers

    def _fire(self, event_type: str, **data: Any) -> None:
        self.hass.bus.async_fire(event_type, {"device_id": self.device_id, **data})
