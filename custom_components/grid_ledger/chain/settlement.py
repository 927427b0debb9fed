"""The settlement beside a ledger (`Settlement`): a distributor feeder's last settled period and
what an account is owed, read at one block; its calls encoded for the wallet, its logs decoded.

Nothing here sends a transaction: the wallet engine does (see `tokens.TokenEngine.send`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from eth_utils.address import to_checksum_address

from .abi import SETTLEMENT_ABI, SETTLEMENT_EVENTS
from .beside import BesideLedger
from .client import GridLedgerClient
from .errors import NotGridLedgerError, RevertedError

# Periods looked back from the open one for the newest settled statement: settling waits for
# the cut-off after a period's end, so the newest settled one is a few periods back.
SETTLED_WINDOW = 8


@dataclass(frozen=True, slots=True)
class Statement:
    """One settled period of one distributor (`ISettlement.Statement`)."""

    period: int
    plant_wh: int
    distributor_wh: int
    households_wh: int
    loss_bps: int
    markup_bps: int
    households_value: int
    plant_owed: int
    distributor_owed: int

    @classmethod
    def from_tuple(cls, period: int, raw: Any) -> Statement:
        """From a call's tuple or an event's decoded struct (its fields in order)."""
        if isinstance(raw, Mapping):
            raw = tuple(raw.values())
        plant, distributor, households, loss, markup, _settled, value, owed_p, owed_d = raw
        return cls(
            period=period,
            plant_wh=int(plant),
            distributor_wh=int(distributor),
            households_wh=int(households),
            loss_bps=int(loss),
            markup_bps=int(markup),
            households_value=int(value),
            plant_owed=int(owed_p),
            distributor_owed=int(owed_d),
        )


@dataclass(frozen=True, slots=True)
class SettlementState:
    """What the settlement holds for one feeder party, read at the feeder state's block."""

    owed: int  # what the account may withdraw, in the payment token's base units
    last: Statement | None  # the newest settled period of the feeder within `SETTLED_WINDOW`


class SettlementClient(BesideLedger):
    """One `Settlement` on the ledger client's node; checked to settle that ledger."""

    def __init__(self, client: GridLedgerClient, address: str) -> None:
        super().__init__(client, address, SETTLEMENT_ABI, SETTLEMENT_EVENTS)

    async def connect(self) -> None:
        """Check that the contract is a settlement (it has a cut-off) of the client's ledger."""
        functions = self._contract.functions
        try:
            ledger = str(await self.client.guard(functions.ledger().call))
            await self.client.guard(functions.cutoff().call)
        except (RevertedError, NotGridLedgerError) as err:
            raise NotGridLedgerError(f"{self.address} is not a settlement") from err
        if ledger.lower() != self.client.address.lower():
            raise NotGridLedgerError(f"{self.address} settles another ledger")

    async def state(
        self, feeder_id: int, account: str, open_period: int, block: int
    ) -> SettlementState:
        """`account`'s amount owed and the feeder's newest settled period before `open_period`,
        read at `block`."""
        functions = self._contract.functions
        periods = list(range(open_period - 1, max(open_period - 1 - SETTLED_WINDOW, 0), -1))
        owed, *raw = await asyncio.gather(
            self.client.guard(
                partial(functions.owedTo(to_checksum_address(account)).call, block_identifier=block)
            ),
            *(
                self.client.guard(
                    partial(functions.statement(period, feeder_id).call, block_identifier=block)
                )
                for period in periods
            ),
        )
        last = next(
            (
                Statement.from_tuple(period, tuple(statement))
                for period, statement in zip(periods, raw, strict=True)
                if statement[5]
            ),
            None,
        )
        return SettlementState(owed=int(owed), last=last)

    async def owed_to(self, account: str) -> int:
        functions = self._contract.functions
        return int(await self.client.guard(functions.owedTo(to_checksum_address(account)).call))
