"""A feeder party's side of the settlement (`Settlement`, its address an option of the feeder
entry): its markup, loss and amount owed read into the feeder's state, refreshed on the
settlement's `PeriodSettled` and `Withdrawn` events (also those emitted while Home Assistant was
down); withdrawing what the feeder's key is owed, and settling a period, sent by the wallet's
intent engine (at most once each).
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.core import HomeAssistant

from .billing import HassPaymentStore
from .chain import EventFollower, LedgerEvent, Wallet
from .chain.errors import NothingOwedError
from .chain.settlement import SettlementClient, Statement
from .chain.tokens import TokenEngine
from .const import DOMAIN
from .coordinator import FeederConfigEntry, FeederCoordinator


@dataclass(frozen=True, slots=True)
class SettlementOutcome:
    """What a settlement action did, for its response."""

    tx_hash: str
    block_number: int
    amount: int | None = None  # withdrawn
    statement: Statement | None = None  # settled


class FeederSettlement:
    """One feeder entry's side of the settlement: reads, events and actions."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: FeederConfigEntry,
        wallet: Wallet,
        coordinator: FeederCoordinator,
        settlement: SettlementClient,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.wallet = wallet
        self.coordinator = coordinator
        self.settlement = settlement
        self.engine = TokenEngine(
            wallet,
            HassPaymentStore(hass, f"{DOMAIN}.{entry.entry_id}.settlement"),
            coordinator.feeder_id,
        )
        self.follower = EventFollower(
            coordinator.client,
            [],
            self.async_on_events,
            source=settlement,
            store=HassPaymentStore(hass, f"{DOMAIN}.{entry.entry_id}.settlement_events"),
        )

    async def async_load(self) -> None:
        """Resume the event follower where it stopped. An intent a previous run left is
        settled before the next action sends anything."""
        await self.follower.async_load()

    def async_start(self) -> None:
        self.follower.start()
        self.entry.async_on_unload(self.follower.stop)

    def concerns(self, event: LedgerEvent) -> bool:
        """The event changes what this entry shows: its feeder settled, or its key withdrew."""
        args = event.args
        if event.name == "PeriodSettled":
            return int(args["distributorId"]) == self.coordinator.feeder_id or (
                self.wallet.address in (args["plantOwner"], args["payee"])
            )
        if event.name == "Withdrawn":
            return bool(args["account"] == self.wallet.address)
        return False

    async def async_on_events(self, events: list[LedgerEvent]) -> None:
        """Read the feeder again at once: these events come once a period or a withdrawal."""
        if any(self.concerns(event) for event in events):
            await self.coordinator.async_refresh()

    async def async_withdraw(self) -> SettlementOutcome:
        """Withdraw everything the feeder's key is owed, read just before."""
        if (owed := await self.settlement.owed_to(self.wallet.address)) == 0:
            raise NothingOwedError(self.wallet.address)
        result = await self.engine.send(
            "withdraw",
            self.settlement.call("withdraw", owed),
            [owed],
            self.settlement.receipt_events,
        )
        await self.coordinator.async_refresh()
        return SettlementOutcome(result.receipt.tx_hash, result.receipt.block_number, amount=owed)

    async def async_settle(self, period: int) -> SettlementOutcome:
        """Settle `period` for this entry's feeder (anyone may, once, after the cut-off)."""
        feeder_id = self.coordinator.feeder_id
        result = await self.engine.send(
            "settle",
            self.settlement.call("settle", period, feeder_id),
            [period, feeder_id],
            self.settlement.receipt_events,
        )
        await self.coordinator.async_refresh()
        settled = result.event("PeriodSettled")
        statement = (
            None if settled is None else Statement.from_tuple(period, settled.args["result"])
        )
        return SettlementOutcome(
            result.receipt.tx_hash, result.receipt.block_number, statement=statement
        )
