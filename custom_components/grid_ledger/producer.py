"""The producer half of one meter: its energy tokens' actions (claim, redeem against the bill,
sell back to the operator), the household's choice whether tokens pay bills first, and the
events of tokens minted and redeemed.

With tokens paying bills first, the ledger takes the meter's pending tokens when it closes a
bill; tokens the wallet holds (claimed, or bought in the energy market) are redeemed against
the unpaid bill here, once per bill, as soon as the coordinator shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .billing import HassPaymentStore
from .chain import GridLedgerError, LedgerEvent, MeterState, ProducerState, Wallet
from .chain.errors import InsufficientTokensError, NoEnergyTokenError, NothingToRedeemError
from .chain.tokens import TokenAction, TokenEngine, TokenResult
from .const import (
    CONF_REDEEM_TOKENS,
    DOMAIN,
    EVENT_TOKENS_MINTED,
    EVENT_TOKENS_REDEEMED,
    LOGGER,
)
from .coordinator import GridLedgerConfigEntry, GridLedgerCoordinator, remove_all
from .units import display_amount, kwh


@dataclass(frozen=True, slots=True)
class TokenOutcome:
    """What an action did, for its response."""

    tx_hash: str
    block_number: int
    wh: int  # tokens claimed, redeemed or sold
    amount: int | None = None  # the bill's reduction, or the sell-back's payout (base units)
    withdrawn: bool | None = None  # the payout reached the wallet (sell-back only)


class Producer:
    """Energy tokens of one meter, all sent through the household's wallet."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: GridLedgerConfigEntry,
        wallet: Wallet,
        coordinator: GridLedgerCoordinator,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.coordinator = coordinator
        self.engine = TokenEngine(
            wallet,
            HassPaymentStore(hass, f"{DOMAIN}.{entry.entry_id}.tokens"),
            coordinator.meter_id,
        )
        self._redeem_tried: int | None = None  # the bill period held tokens were redeemed for
        self._redeeming = False  # held tokens' redemption sent, not settled yet

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Settle what a previous run left, bring the ledger to the household's choice of
        whether tokens pay bills first, and announce tokens minted and redeemed."""
        self.entry.async_create_background_task(
            self.hass, self._async_resume_then_sync(), f"{DOMAIN} tokens start"
        )
        return remove_all(
            self.coordinator.async_add_listener(self._on_update),
            self.coordinator.async_add_event_listener(self._on_events),
        )

    @callback
    def _on_update(self) -> None:
        """With tokens paying bills first, held tokens pay an unpaid bill's energy, once."""
        data = self.coordinator.data
        if data is None or (wh := self._held_to_redeem(data)) is None:
            return
        self._redeem_tried = data.bill.period
        self._redeeming = True
        self.entry.async_create_background_task(
            self.hass, self._async_redeem_held(wh), f"{DOMAIN} redeem held tokens"
        )

    def _held_to_redeem(self, data: MeterState) -> int | None:
        """The held tokens to redeem against the unpaid bill now (not tried for it yet)."""
        if not self.redeem_tokens or (producer := data.producer) is None:
            return None
        left = data.bill.energy_wh - producer.info.bill_redeemed_wh
        if data.amount_due == 0 or left <= 0 or producer.token_balance_wh == 0:
            return None
        if self._redeem_tried == data.bill.period:
            return None
        return min(left, producer.token_balance_wh)

    def tokens_pay_first(self, data: MeterState) -> bool:
        """Whether held tokens are about to pay (or are paying) the unpaid bill: an automatic
        payment waits for them and pays what they leave."""
        return self._redeeming or self._held_to_redeem(data) is not None

    async def _async_redeem_held(self, wh: int) -> None:
        try:
            await self.engine.run(TokenAction.REDEEM, wh)
        except GridLedgerError as err:
            LOGGER.warning("Held tokens not redeemed against the bill: %s", err)
        finally:
            self._redeeming = False
        await self.coordinator.async_request_refresh()

    @property
    def redeem_tokens(self) -> bool:
        return bool(self.entry.options.get(CONF_REDEEM_TOKENS, False))

    async def _async_resume_then_sync(self) -> None:
        try:
            await self.engine.resume()
            await self.async_sync_redeem_tokens()
        except GridLedgerError as err:
            LOGGER.warning("Token transaction not settled, retried at the next start: %s", err)

    async def async_sync_redeem_tokens(self) -> None:
        """Send `setRedeemTokens` when the ledger's choice differs from the household's: once,
        since the chain is read after any recorded intent is settled."""
        data = self.coordinator.data
        if data is None or data.producer is None:
            return
        if data.producer.info.redeem_tokens == self.redeem_tokens:
            return
        if not data.producer.info.exports:
            return  # no pending tokens to take: held tokens are redeemed here (`_on_update`)
        await self.engine.run(TokenAction.SET_REDEEM_TOKENS, self.redeem_tokens)
        await self.coordinator.async_request_refresh()

    # ------------------------------------------------------------------ actions

    async def _async_producer(self) -> ProducerState:
        """The producer state read now (an action decides on the chain's latest state)."""
        await self.coordinator.async_refresh()
        if not self.coordinator.last_update_success:
            raise self.coordinator.last_exception or GridLedgerError("no contract state")
        if (producer := self.coordinator.data.producer) is None:
            raise NoEnergyTokenError(f"meter {self.coordinator.meter_id}: no energy token")
        return producer

    async def async_claim(self) -> TokenOutcome:
        """Mint the meter's pending tokens to the wallet."""
        await self._async_producer()
        result = await self.engine.run(TokenAction.CLAIM)
        return self._outcome(result, "TokensClaimed")

    async def async_redeem(self, wh: int | None) -> TokenOutcome:
        """Pay the unpaid bill with `wh` tokens; None: as many as the bill's energy takes."""
        producer = await self._async_producer()
        data = self.coordinator.data
        left = data.bill.energy_wh - producer.info.bill_redeemed_wh if data.amount_due else 0
        if wh is None:
            wh = min(max(left, 0), producer.tokens_wh)
            if wh == 0:
                raise NothingToRedeemError(self.coordinator.meter_id)
        elif wh > producer.tokens_wh:
            raise InsufficientTokensError(wh, producer.tokens_wh)
        elif left <= 0:
            raise NothingToRedeemError(self.coordinator.meter_id)
        result = await self.engine.run(TokenAction.REDEEM, wh)
        return self._outcome(result, "TokensRedeemed")

    async def async_sell_back(self, wh: int) -> TokenOutcome:
        """Sell `wh` tokens to the operator at the feed-in price, and withdraw the payout."""
        producer = await self._async_producer()
        if wh > producer.tokens_wh:
            raise InsufficientTokensError(wh, producer.tokens_wh)
        sold = self._outcome(await self.engine.run(TokenAction.SELL_BACK, wh), "TokensSoldBack")
        try:
            await self.engine.run(TokenAction.WITHDRAW_PROCEEDS)
        except GridLedgerError as err:  # the proceeds stay the wallet's, on the ledger
            LOGGER.warning("Sell-back proceeds not withdrawn yet: %s", err)
            withdrawn = False
        else:
            withdrawn = True
        await self.coordinator.async_request_refresh()
        return TokenOutcome(sold.tx_hash, sold.block_number, sold.wh, sold.amount, withdrawn)

    def _outcome(self, result: TokenResult, event_name: str) -> TokenOutcome:
        self.entry.async_create_background_task(
            self.hass, self.coordinator.async_request_refresh(), f"{DOMAIN} refresh"
        )
        event = result.event(event_name)
        args: dict[str, Any] = {} if event is None else event.args
        amount = args.get("amount")
        return TokenOutcome(
            result.receipt.tx_hash,
            result.receipt.block_number,
            int(args.get("wh", 0)),
            None if amount is None else int(amount),
        )

    # ------------------------------------------------------------------ events

    @callback
    def _on_events(self, events: list[LedgerEvent]) -> None:
        for event in events:
            if event.name == "TokensClaimed":
                self._fire(EVENT_TOKENS_MINTED, event, payer=str(event.args["payer"]))
            elif event.name == "TokensRedeemed":
                decimals = self.coordinator.info.token_decimals
                self._fire(
                    EVENT_TOKENS_REDEEMED,
                    event,
                    holder=str(event.args["holder"]),
                    amount=display_amount(int(event.args["amount"]), decimals),
                    currency=self.coordinator.info.token_symbol,
                )

    def _fire(self, event_type: str, event: LedgerEvent, **data: Any) -> None:
        self.hass.bus.async_fire(
            event_type,
            {
                "device_id": self.coordinator.device_id,
                "kwh": kwh(int(event.args["wh"])),
                "tx_hash": event.tx_hash,
                **data,
            },
        )
