"""The household in the energy market (`EnergyAuction`, its address an option of the entry):
offers of its tokens, bids with its money, cancellations, finalizations and withdrawals, all
sent by the wallet's intent engine (at most once each); the market's lots read in one call; the
auction's events announced on the bus, each once, also those emitted while Home Assistant was
down.

A bid's escrowed payment counts against the period's spending cap, as an automatic payment
does: it is reserved before the bid is sent, and released when the bid fails or is outbid (its
money then waits as a refund).

Auto-trading (options): held tokens are offered at no less than a floor price while the
household has no open lot, for a billing period at most (so a buyer's bill can use them); the
tokens its meter earned are claimed to be offered too. With tokens paying bills first, only
the surplus is offered: the tokens beyond the unpaid bill's energy they have not paid yet and
the import of the open period so far. The cheapest lot whose next bid is at or below
a ceiling is bid for, within the spending cap. The household's own lot, sold or not, and the
lot it won are finalized once their deadline has passed (nobody else has a reason to): the
market is read again at that deadline. Each decision is taken on the chain's state read after
the previous one was mined, under one lock, and sent by the same intents as the actions:
nothing is sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_FLOOR
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .billing import Billing, HassPaymentStore
from .chain import (
    EventFollower,
    GridLedgerError,
    LedgerEvent,
    MeterState,
    ProducerState,
    Wallet,
)
from .chain.errors import (
    InsufficientTokensError,
    NothingToWithdrawError,
    OverSpendingCapError,
    RevertedError,
)
from .chain.market import AuctionClient, Lot, LotStatus, MarketState, payment_for
from .chain.tokens import TokenAction, TokenEngine, TokenResult
from .const import (
    AUTO_OFFER_DURATION,
    CONF_AUTO_BID_CEILING,
    CONF_AUTO_SELL_FLOOR,
    CONF_REDEEM_TOKENS,
    DOMAIN,
    EVENT_LOT_EXPIRED,
    EVENT_LOT_SOLD,
    EVENT_LOT_WON,
    EVENT_OUTBID,
    LOGGER,
    REFRESH_INTERVAL,
)
from .coordinator import GridLedgerConfigEntry, GridLedgerCoordinator, update_failed
from .units import base_units, display_amount

DEADLINE_MARGIN = 3  # seconds after a lot's deadline before the market is read again


@dataclass(frozen=True, slots=True)
class MarketOutcome:
    """What a market action did, for its response."""

    tx_hash: str
    block_number: int
    lot_id: int | None = None
    wh: int | None = None
    price_per_kwh: int | None = None
    payment: int | None = None  # escrowed by a bid, paid by a finalized lot
    deadline: int | None = None
    refund: int | None = None  # withdrawn refunds
    proceeds: int | None = None  # withdrawn proceeds


class MarketCoordinator(DataUpdateCoordinator[MarketState]):
    """The lots that may matter to the household and the market's best price (the newest
    window, and any older lot still taking bids or open with the household in it) and the
    wallet's refunds and proceeds, read at one block: on every lot's events, after
    its own actions, at its lots' deadlines and every `REFRESH_INTERVAL`."""

    def __init__(
        self, hass: HomeAssistant, entry: GridLedgerConfigEntry, auction: AuctionClient, wallet: str
    ) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} market {auction.address}",
            update_interval=REFRESH_INTERVAL,
        )
        self.auction = auction
        self.wallet = wallet

    async def _async_update_data(self) -> MarketState:
        try:
            live_from = 1 if self.data is None else self.data.live_from
            return await self.auction.state(self.wallet, live_from)
        except GridLedgerError as err:
            raise update_failed(err) from err


class Market:
    """One household's side of the auction."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: GridLedgerConfigEntry,
        wallet: Wallet,
        coordinator: GridLedgerCoordinator,
        billing: Billing,
        engine: TokenEngine,
        auction: AuctionClient,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.wallet = wallet
        self.coordinator = coordinator
        self.billing = billing
        self.engine = engine  # the producer's: one recorded intent per wallet and meter
        self.auction = auction
        self.market = MarketCoordinator(hass, entry, auction, wallet.address)
        self.follower = EventFollower(
            coordinator.client,
            auction.lot_events(),
            self.async_on_events,
            source=auction,
            store=HassPaymentStore(hass, f"{DOMAIN}.{entry.entry_id}.market_events"),
        )
        self._auto_lock = asyncio.Lock()
        self._deadline_call: CALLBACK_TYPE | None = None
        # Whether held tokens pay the unpaid bill before anything is offered (the producer's).
        self.tokens_pay_first: Callable[[MeterState], bool] = lambda _data: False
        self._deadline_at: int | None = None

    @property
    def address(self) -> str:
        return self.wallet.address

    async def async_load(self) -> None:
        await self.follower.async_load()
        await self.market.async_config_entry_first_refresh()

    def async_start(self) -> None:
        """Follow the auction's events (from where the last run stopped) until unloaded, and
        trade automatically on each fresh read of the market when the options say so."""
        self.follower.start()
        self.entry.async_on_unload(self.follower.stop)
        if self._auto_sell_floor or self._auto_bid_ceiling:
            # The market's reads, and the meter's: a reading brings the tokens it earned.
            for coordinator in (self.market, self.coordinator):
                self.entry.async_on_unload(
                    coordinator.async_add_listener(self._schedule_auto_trade)
                )
            self.entry.async_on_unload(self._cancel_deadline_call)
            self._schedule_auto_trade()

    # ------------------------------------------------------------------ auto-trading

    def _price_option(self, key: str) -> int:
        value = self.entry.options.get(key) or 0
        return base_units(value, self.coordinator.info.token_decimals, rounding=ROUND_FLOOR) or 0

    @property
    def _auto_sell_floor(self) -> int:
        return self._price_option(CONF_AUTO_SELL_FLOOR)

    @property
    def _auto_bid_ceiling(self) -> int:
        return self._price_option(CONF_AUTO_BID_CEILING)

    @callback
    def _schedule_auto_trade(self) -> None:
        self._schedule_deadline_read()
        if not self._auto_lock.locked():
            self.entry.async_create_background_task(
                self.hass, self.async_auto_trade(), f"{DOMAIN} auto-trade"
            )

    @callback
    def _schedule_deadline_read(self) -> None:
        """The market read again just after the soonest deadline of a lot the household
        finalizes: no event marks a deadline passing."""
        data = self.market.data
        deadlines = [lot.deadline for lot in self.lots_to_finalize(ended=False)]
        if not deadlines or min(deadlines) == self._deadline_at:
            return
        self._cancel_deadline_call()
        self._deadline_at = soonest = min(deadlines)
        # The chain mines its next block a little after the deadline: read after it.
        delay = max(0, soonest - data.block_timestamp) + DEADLINE_MARGIN

        @callback
        def read(_now: Any) -> None:
            self._deadline_call = self._deadline_at = None
            self.entry.async_create_background_task(
                self.hass, self.market.async_refresh(), f"{DOMAIN} market deadline"
            )

        self._deadline_call = async_call_later(self.hass, delay, read)

    @callback
    def _cancel_deadline_call(self) -> None:
        if self._deadline_call is not None:
            self._deadline_call()
        self._deadline_call = self._deadline_at = None

    async def async_auto_trade(self) -> None:
        """One round of automatic finalizations, offers and bids, each decided on fresh chain
        state."""
        async with self._auto_lock:
            try:
                await self._async_auto_finalize()
                await self._async_auto_sell()
                await self._async_auto_bid()
            except GridLedgerError as err:
                LOGGER.warning("Automatic trade not made: %s", err)

    async def _async_auto_finalize(self) -> None:
        """The household's own ended lots and the lots it won, finalized: its tokens or its
        money move only then."""
        ended = self.lots_to_finalize(ended=True)
        for lot in ended:
            try:
                await self.async_finalize(lot.lot_id)
            except RevertedError as err:
                if err.name != "LotClosed":
                    raise
                LOGGER.debug("Lot %s finalized by the other side first", lot.lot_id)
        if ended:
            await self._async_reread()

    async def _async_auto_sell(self) -> None:
        if not (floor := self._auto_sell_floor) or self.own_open_lots():
            return
        await self.coordinator.async_refresh()
        data = self.coordinator.data
        if data is None or (producer := data.producer) is None or self.tokens_pay_first(data):
            return  # held tokens pay the unpaid bill first: decided again on what they leave
        if (wh := self._tokens_to_offer(data, producer)) <= 0:
            return
        if wh > producer.token_balance_wh:
            # Earned tokens are claimed to the wallet to be offered.
            await self.engine.run(TokenAction.CLAIM)
            await self.coordinator.async_refresh()
            data = self.coordinator.data
            if (producer := data.producer) is None or self.tokens_pay_first(data):
                return  # a bill issued meanwhile takes the held tokens first
            wh = min(self._tokens_to_offer(data, producer), producer.token_balance_wh)
            if wh <= 0:
                return
        price = max(floor, self.best_price() or 0)
        # A billing period at most: what a buyer wins can pay its next bill.
        duration = min(AUTO_OFFER_DURATION, self.coordinator.info.period_length)
        await self.async_offer(wh, price, duration)
        await self._async_reread()

    def _tokens_to_offer(self, data: MeterState, producer: ProducerState) -> int:
        """The tokens (earned and held) automatic offers may take; 0 or less: none. With tokens
        paying bills first, only the surplus: beyond the energy of the unpaid bill that tokens
        have not paid yet, and the import of the open period so far, which its bill will take."""
        if not self.entry.options.get(CONF_REDEEM_TOKENS):
            return producer.tokens_wh
        owed = data.bill.energy_wh - producer.info.bill_redeemed_wh if data.amount_due else 0
        return producer.tokens_wh - max(owed, 0) - data.meter.open_period_wh

    async def _async_auto_bid(self) -> None:
        if not (ceiling := self._auto_bid_ceiling):
            return
        data = self.market.data
        lots = sorted(
            (
                lot
                for lot in data.lots
                if lot.open_at(data.block_timestamp)
                and self.address not in (lot.seller, lot.bidder)
                and lot.price_per_kwh <= ceiling
            ),
            key=lambda lot: lot.price_per_kwh,
        )
        for lot in lots:
            price = await self.auction.minimum_bid(lot.lot_id)
            if price > ceiling:
                continue
            try:
                await self.async_bid(lot.lot_id, price)
            except OverSpendingCapError as err:
                LOGGER.info("Automatic bid on lot %s over the spending cap: %s", lot.lot_id, err)
                return
            await self._async_reread()
            return  # one bid a round: the next round decides on the state it left

    async def _async_reread(self) -> None:
        """The state the trade left, before anything else is decided."""
        await self.market.async_refresh()
        await self.coordinator.async_refresh()

    # ------------------------------------------------------------------ reads

    def own_open_lots(self) -> list[Lot]:
        """The household's lots still taking bids or waiting to be finalized."""
        data = self.market.data
        return [
            lot for lot in data.lots if lot.seller == self.address and lot.status is LotStatus.OPEN
        ]

    def lots_to_finalize(self, *, ended: bool) -> list[Lot]:
        """The household's own lots and the lots it holds the standing bid on, still open,
        whose deadline has passed (`ended`) or has not yet."""
        data = self.market.data
        return [
            lot
            for lot in data.lots
            if lot.status is LotStatus.OPEN
            and self.address in (lot.seller, lot.bidder)
            and (data.block_timestamp >= lot.deadline) is ended
        ]

    def best_price(self) -> int | None:
        """The highest current price per kWh among lots taking bids (start price or bid)."""
        data = self.market.data
        prices = [lot.price_per_kwh for lot in data.lots if lot.open_at(data.block_timestamp)]
        return max(prices, default=None)

    def last_traded(self) -> Lot | None:
        """The newest sold lot the household sold or bought."""
        return next(
            (
                lot
                for lot in reversed(self.market.data.lots)
                if lot.status is LotStatus.SOLD and self.address in (lot.seller, lot.bidder)
            ),
            None,
        )

    # ------------------------------------------------------------------ actions

    async def async_offer(self, wh: int, start_price: int, duration: int) -> MarketOutcome:
        """Escrow `wh` tokens in a new lot with an ERC-2612 permit: one transaction."""
        held = await self.auction.token_balance(self.auction.energy_token, self.address)
        if wh > held:
            raise InsufficientTokensError(wh, held)
        deadline, v, r, s = await self.auction.permit(self.wallet, self.auction.energy_token, wh)
        call = self.auction.call("offerWithPermit", wh, start_price, duration, deadline, v, r, s)
        result = await self._send("offerWithPermit", call, [wh, start_price, duration])
        offered = result.event("LotOffered")
        args: dict[str, Any] = {} if offered is None else offered.args
        return MarketOutcome(
            result.receipt.tx_hash,
            result.receipt.block_number,
            lot_id=_int(args.get("lotId")),
            wh=wh,
            price_per_kwh=start_price,
            deadline=_int(args.get("deadline")),
        )

    async def async_bid(self, lot_id: int, price: int) -> MarketOutcome:
        """Bid `price` per kWh for the whole lot, escrowing its payment, within the cap."""
        lot = await self.auction.lot(lot_id)
        payment = payment_for(lot.amount_wh, price)
        previous = await self.billing.async_reserve_bid(lot_id, payment)
        try:
            if (token := self.auction.payment_token) is None:
                call = self.auction.call("bid", lot_id, price, value=payment)
                result = await self._send("bid", call, [lot_id, price])
            else:
                deadline, v, r, s = await self.auction.permit(self.wallet, token, payment)
                call = self.auction.call("bidWithPermit", lot_id, price, deadline, v, r, s)
                result = await self._send("bidWithPermit", call, [lot_id, price])
        except GridLedgerError:
            if await self.engine.pending() is None:  # not recorded, or provably not mined
                await self.billing.async_release_bid(lot_id, previous)
            raise
        placed = result.event("BidPlaced")
        return MarketOutcome(
            result.receipt.tx_hash,
            result.receipt.block_number,
            lot_id=lot_id,
            wh=lot.amount_wh,
            price_per_kwh=price,
            payment=payment if placed is None else int(placed.args["payment"]),
        )

    async def async_cancel(self, lot_id: int) -> MarketOutcome:
        """Take back an own lot while no bid stands."""
        result = await self._send("cancel", self.auction.call("cancel", lot_id), [lot_id])
        return MarketOutcome(result.receipt.tx_hash, result.receipt.block_number, lot_id=lot_id)

    async def async_finalize(self, lot_id: int) -> MarketOutcome:
        """End a lot after its deadline (anyone may)."""
        result = await self._send("finalize", self.auction.call("finalize", lot_id), [lot_id])
        ended = result.event("LotFinalized")
        args: dict[str, Any] = {} if ended is None else ended.args
        return MarketOutcome(
            result.receipt.tx_hash,
            result.receipt.block_number,
            lot_id=lot_id,
            price_per_kwh=_int(args.get("pricePerKWh")),
            payment=_int(args.get("payment")),
        )

    async def async_withdraw(self) -> MarketOutcome:
        """Withdraw the wallet's refunds and proceeds (each only when there is some)."""
        await self.market.async_refresh()
        if not self.market.last_update_success:
            raise self.market.last_exception or GridLedgerError("no market state")
        data = self.market.data
        if data.refund == 0 and data.proceeds == 0:
            raise NothingToWithdrawError(self.address)
        last: TokenResult | None = None
        for function, amount in (
            ("withdrawRefund", data.refund),
            ("withdrawProceeds", data.proceeds),
        ):
            if amount:
                last = await self._send(function, self.auction.call(function), [])
        assert last is not None
        await self.market.async_request_refresh()
        return MarketOutcome(
            last.receipt.tx_hash,
            last.receipt.block_number,
            refund=data.refund,
            proceeds=data.proceeds,
        )

    async def _send(self, function: str, call: Any, args: list[Any]) -> TokenResult:
        result = await self.engine.send(function, call, args, self.auction.receipt_events)
        self.entry.async_create_background_task(
            self.hass, self.market.async_request_refresh(), f"{DOMAIN} market refresh"
        )
        return result

    # ------------------------------------------------------------------ events

    async def async_on_events(self, events: list[LedgerEvent]) -> None:
        """Announce what the auction's events mean to the household; read the market again."""
        for event in events:
            args = event.args
            if event.name == "BidPlaced" and args["previousBidder"] == self.address:
                await self.billing.async_release_bid(int(args["lotId"]))
                self._fire(EVENT_OUTBID, event, price_per_kwh=self._amount(args["pricePerKWh"]))
            elif event.name == "LotFinalized":
                winner, seller = args["winner"], args["seller"]
                price = self._amount(args["pricePerKWh"])
                if winner == self.address:
                    self._fire(EVENT_LOT_WON, event, price_per_kwh=price)
                if seller == self.address and int(args["payment"]) > 0:
                    payment = int(args["payment"]) - int(args["fee"])
                    self._fire(
                        EVENT_LOT_SOLD, event, price_per_kwh=price, proceeds=self._amount(payment)
                    )
                elif seller == self.address:
                    self._fire(EVENT_LOT_EXPIRED, event)
        await self.market.async_request_refresh()
        if any(event.name == "LotFinalized" for event in events):
            await self.coordinator.async_request_refresh()  # tokens moved

    def _amount(self, value: Any) -> float:
        return display_amount(int(value), self.coordinator.info.token_decimals)

    def _fire(self, event_type: str, event: LedgerEvent, **data: Any) -> None:
        self.hass.bus.async_fire(
            event_type,
            {
                "device_id": self.coordinator.device_id,
                "lot_id": int(event.args["lotId"]),
                "currency": self.coordinator.info.token_symbol,
                "tx_hash": event.tx_hash,
                **data,
            },
        )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
