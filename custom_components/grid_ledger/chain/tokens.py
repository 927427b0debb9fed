"""Energy-token transactions of one meter's payer, each carried out at most once.

Claiming pending tokens, redeeming them against the bill, selling them back to the operator,
withdrawing the proceeds and choosing whether tokens pay bills first, and the energy market's
offers, bids, cancellations, finalizations and withdrawals (`send`), are *intents*: the wallet's
transaction is recorded in a `PaymentStore` before the node sees it, and a recorded intent is
settled from the chain alone (its receipt, or its nonce taken by another transaction) before
anything new is signed. A revert the node predicts while estimating the gas is raised before
anything is recorded, decoded by the ledger's custom errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
import uuid

from .errors import GridLedgerError, TransactionRejectedError
from .models import ContractCall, LedgerEvent, Receipt, WalletTx
from .payments import PaymentStore
from .wallet import Wallet

STORE_VERSION = 1

# The events of a mined transaction that its result reports.
type Events = Callable[[Receipt], Awaitable[list[LedgerEvent]]]


class TokenAction(StrEnum):
    """The ledger function an intent calls."""

    CLAIM = "claimTokens"
    REDEEM = "redeemTokens"
    SELL_BACK = "sellBack"
    WITHDRAW_PROCEEDS = "withdrawProceeds"
    SET_REDEEM_TOKENS = "setRedeemTokens"


class TokenIntentDroppedError(GridLedgerError):
    """The intent's transaction was provably never mined: another one took its nonce."""


@dataclass(slots=True)
class TokenIntent:
    """A decided token transaction and the wallet's record of it."""

    id: str
    action: str  # a `TokenAction`, or the market function it calls
    meter_id: int
    args: list[Any]
    tx: WalletTx

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": str(self.action),
            "meter_id": self.meter_id,
            "args": self.args,
            "tx": self.tx.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenIntent:
        return cls(
            id=str(data["id"]),
            action=str(data["action"]),
            meter_id=int(data["meter_id"]),
            args=list(data["args"]),
            tx=WalletTx.from_dict(data["tx"]),
        )

    def redacted(self) -> dict[str, Any]:
        """The intent without its signed raw transactions (for diagnostics)."""
        view = self.as_dict()
        for variant in view["tx"]["variants"]:
            variant.pop("raw", None)
        return view


@dataclass(frozen=True, slots=True)
class TokenResult:
    """A mined token transaction and the meter's events it emitted."""

    action: str
    receipt: Receipt
    events: list[LedgerEvent]

    def event(self, name: str) -> LedgerEvent | None:
        return next((event for event in self.events if event.name == name), None)


class TokenEngine:
    """Sends one meter's token transactions from its payer's wallet, one intent at a time."""

    def __init__(self, wallet: Wallet, store: PaymentStore, meter_id: int) -> None:
        self.wallet = wallet
        self.client = wallet.client
        self.meter_id = meter_id
        self._store = store
        self._lock = asyncio.Lock()

    async def pending(self) -> TokenIntent | None:
        data = await self._store.load() or {}
        if data.get("version", STORE_VERSION) != STORE_VERSION:
            raise GridLedgerError(f"unknown token store version {data['version']}")
        pending = data.get("pending")
        return None if pending is None else TokenIntent.from_dict(pending)

    async def resume(self) -> TokenResult | None:
        """Settle the intent a previous run left; None when there was none. Raises
        `TransactionTimeoutError` while it is still unmined (it stays recorded)."""
        async with self._lock:
            if (intent := await self.pending()) is None:
                return None
            return await self._finish(intent)

    async def run(self, action: TokenAction, *args: Any) -> TokenResult:
        """Call `action(meter_id, *args)` (no meter for `withdrawProceeds`) once, after any
        recorded intent is settled."""
        fn_args = [*args] if action is TokenAction.WITHDRAW_PROCEEDS else [self.meter_id, *args]
        call: ContractCall = self.client.ledger_call(str(action), *fn_args)
        return await self.send(str(action), call, list(args))

    async def send(
        self, action: str, call: ContractCall, args: list[Any], events: Events | None = None
    ) -> TokenResult:
        """Send `call` once from the wallet, after any recorded intent is settled; its result
        carries the events `events` finds in the receipt (the meter's ledger events unless
        given)."""
        async with self._lock:
            if (left := await self.pending()) is not None:
                # A dropped one never happened: the new intent is decided on the chain's state.
                with contextlib.suppress(TokenIntentDroppedError):
                    await self._finish(left)
            async with self.wallet.nonce_lock:
                tx = await self.wallet.prepare(action, call, retry=True)
                await self.wallet.sign(tx)
                intent = TokenIntent(uuid.uuid4().hex, action, self.meter_id, args, tx)
                await self._save(intent)  # durable before the node sees it
                await self.wallet.first_broadcast([tx], lambda: self._save(intent))
            return await self._finish(intent, events)

    async def _finish(self, intent: TokenIntent, events: Events | None = None) -> TokenResult:
        try:
            settled = await self.wallet.settle([intent.tx], lambda: self._save(intent))
        except TransactionRejectedError as err:
            await self._save(None)  # the node holds none of its variants: it can never be mined
            raise err.error from err
        await self._save(None)
        if (receipt := settled.receipt) is None:
            raise TokenIntentDroppedError(f"{intent.action} of meter {intent.meter_id} dropped")
        if not receipt.succeeded:
            raise await self.wallet.revert_reason(intent.tx, receipt.block_number)
        try:
            if events is None:
                found = await self.client.receipt_events(receipt, intent.meter_id)
            else:
                found = await events(receipt)
        except GridLedgerError:  # mined all the same; the event follower still sees its logs
            found = []
        return TokenResult(intent.action, receipt, found)

    async def _save(self, intent: TokenIntent | None) -> None:
        pending = None if intent is None else intent.as_dict()
        await self._store.save({"version": STORE_VERSION, "pending": pending})
