"""The energy market beside a ledger (`EnergyAuction`): its lots read in one call, its calls
encoded for the wallet, its logs decoded, and the ERC-2612 permits an offer or a bid carries.

Nothing here sends a transaction: the wallet engine does (see `tokens.TokenEngine.send`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import IntEnum
from functools import partial
from typing import Any

from eth_utils.address import to_checksum_address

from .abi import AUCTION_ABI, AUCTION_EVENTS, ERC20_ABI
from .beside import BesideLedger
from .client import ZERO_ADDRESS, GridLedgerClient
from .errors import NotGridLedgerError, RevertedError
from .models import Topics
from .payments import permit_digest
from .wallet import Wallet

LOT_WINDOW = 256  # lots per `lots` call; a refresh reads at least the newest window
PERMIT_LIFETIME = 3_600  # seconds an offer's or a bid's permit is valid
# The events that change a lot: its offer, bids, deadline, end or cancellation.
_LOT_EVENTS = ("LotOffered", "BidPlaced", "DeadlineExtended", "LotFinalized", "LotCancelled")


class LotStatus(IntEnum):
    NONE = 0
    OPEN = 1
    SOLD = 2
    UNSOLD = 3
    CANCELLED = 4


@dataclass(frozen=True, slots=True)
class Lot:
    """One lot; `price_per_kwh` is the start price while no bid stands, then the highest bid."""

    lot_id: int
    seller: str
    amount_wh: int
    deadline: int
    fee_bps: int
    status: LotStatus
    bidder: str | None
    price_per_kwh: int

    @classmethod
    def from_tuple(cls, lot_id: int, raw: tuple[Any, ...]) -> Lot:
        seller, amount_wh, deadline, fee_bps, status, bidder, price = raw
        return cls(
            lot_id=lot_id,
            seller=to_checksum_address(seller),
            amount_wh=int(amount_wh),
            deadline=int(deadline),
            fee_bps=int(fee_bps),
            status=LotStatus(int(status)),
            bidder=None if bidder == ZERO_ADDRESS else to_checksum_address(bidder),
            price_per_kwh=int(price),
        )

    def open_at(self, timestamp: int) -> bool:
        """Taking bids at `timestamp`."""
        return self.status is LotStatus.OPEN and timestamp < self.deadline


@dataclass(frozen=True, slots=True)
class MarketState:
    """The lots that may matter (see `AuctionClient.state`) and one account's withdrawable
    money, read at one block."""

    block_number: int
    block_timestamp: int
    lots: list[Lot]
    refund: int  # the account's refunds of outbid payments
    proceeds: int  # the account's proceeds of sales
    # No lot before this one takes bids or is the account's open lot, and none ever will: a
    # closed lot stays closed, and one past its deadline takes no bid.
    live_from: int = 1


def payment_for(amount_wh: int, price_per_kwh: int) -> int:
    """The auction's payment of a bid: amountWh * pricePerKWh / 1000, rounded up."""
    return -(-amount_wh * price_per_kwh // 1_000)


class AuctionClient(BesideLedger):
    """One `EnergyAuction` on the ledger client's node; checked to trade that ledger's tokens."""

    def __init__(self, client: GridLedgerClient, address: str) -> None:
        super().__init__(client, address, AUCTION_ABI, AUCTION_EVENTS)
        self.payment_token: str | None = None
        self.energy_token: str = ZERO_ADDRESS

    async def connect(self) -> None:
        """Check that the contract is an auction of the client's ledger; learn its tokens."""
        functions = self._contract.functions
        try:
            ledger = str(await self.client.guard(functions.ledger().call))
            self.energy_token = str(await self.client.guard(functions.energyToken().call))
            payment = str(await self.client.guard(functions.paymentToken().call))
        except (RevertedError, NotGridLedgerError) as err:
            raise NotGridLedgerError(f"{self.address} is not an energy auction") from err
        if ledger.lower() != self.client.address.lower():
            raise NotGridLedgerError(f"{self.address} trades the tokens of another ledger")
        self.payment_token = None if payment == ZERO_ADDRESS else payment

    def lot_events(self) -> Topics:
        """The log filter of every lot's changes, anyone's: a neighbour's new lot is what an
        automatic bid waits for, a bid on the household's lot what its seller sees, and each
        moves the best price. The withdrawals and the operator's fee settings are left out."""
        topic = {name: "0x" + signature.hex() for signature, name in self._events.items()}
        return [[topic[name] for name in _LOT_EVENTS]]

    # -------------------------------------------------------------------- reads

    async def state(self, account: str, live_from: int = 1) -> MarketState:
        """`account`'s refunds and proceeds and the lots from `live_from` on (an earlier state's
        `live_from`), and at least the newest `LOT_WINDOW`, all read at one block: every lot
        taking bids, and every open lot `account` sold or leads, however old. One `lots` call
        while those fit in the newest window."""
        w3 = self.client.w3
        block = await self.client.guard(lambda: w3.eth.get_block("latest"))
        number, timestamp = int(block["number"]), int(block["timestamp"])
        functions = self._contract.functions
        next_id = int(
            await self.client.guard(partial(functions.nextLotId().call, block_identifier=number))
        )
        first = max(1, min(live_from, next_id - LOT_WINDOW))
        account = to_checksum_address(account)
        reads = [
            functions.refundOf(account),
            functions.proceedsOf(account),
            *(functions.lots(start, LOT_WINDOW) for start in range(first, next_id, LOT_WINDOW)),
        ]
        refund, proceeds, *pages = await asyncio.gather(
            *(self.client.guard(partial(fn.call, block_identifier=number)) for fn in reads)
        )
        raw_lots = [raw for page in pages for raw in page]
        lots = [Lot.from_tuple(first + i, tuple(raw)) for i, raw in enumerate(raw_lots)]
        live = (
            lot.lot_id
            for lot in lots
            if lot.open_at(timestamp)
            or (lot.status is LotStatus.OPEN and account in (lot.seller, lot.bidder))
        )
        return MarketState(
            block_number=number,
            block_timestamp=timestamp,
            lots=lots,
            refund=int(refund),
            proceeds=int(proceeds),
            live_from=next(live, next_id),
        )

    async def lot(self, lot_id: int) -> Lot:
        raw = await self.client.guard(self._contract.functions.lot(lot_id).call)
        return Lot.from_tuple(lot_id, tuple(raw))

    async def minimum_bid(self, lot_id: int) -> int:
        """The lowest price per kWh a bid on the lot may have now."""
        price, _payment = await self.client.guard(self._contract.functions.minimumBid(lot_id).call)
        return int(price)

    async def token_balance(self, token: str, account: str) -> int:
        erc20 = self.client.w3.eth.contract(address=to_checksum_address(token), abi=ERC20_ABI)
        return int(await self.client.guard(erc20.functions.balanceOf(account).call))

    # -------------------------------------------------------------------- calls

    async def permit(
        self, wallet: Wallet, token: str, amount: int
    ) -> tuple[int, int, bytes, bytes]:
        """(deadline, v, r, s) of an ERC-2612 permit for this auction to take `amount` of
        `token` from the wallet."""
        erc20 = self.client.w3.eth.contract(address=to_checksum_address(token), abi=ERC20_ABI)
        separator = bytes(await self.client.guard(erc20.functions.DOMAIN_SEPARATOR().call))
        nonce = int(await self.client.guard(erc20.functions.nonces(wallet.address).call))
        deadline = await self.client.latest_block_timestamp() + PERMIT_LIFETIME
        digest = permit_digest(separator, wallet.address, self.address, amount, nonce, deadline)
        v, r, s = wallet.sign_digest(digest)
        return deadline, v, r, s
