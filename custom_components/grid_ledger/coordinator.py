"""Contract state of one party, a household's meter or a feeder, refreshed on contract events
and on a slow timer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, TypeIs

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .chain import (
    CannotConnectError,
    EventFollower,
    FeederState,
    GridLedgerClient,
    GridLedgerError,
    LedgerEvent,
    LedgerInfo,
    MeterState,
    Wallet,
)
from .chain.settlement import SettlementClient
from .const import (
    CONF_FEEDER_ID,
    CONF_METER_ID,
    DOMAIN,
    ISSUE_NODE_UNREACHABLE,
    LOGGER,
    REFRESH_INTERVAL,
    UNREACHABLE_REPAIR_AFTER,
)
from .repairs import async_clear_issue, async_raise_issue

if TYPE_CHECKING:
    from .billing import Billing
    from .enforcement import PermitEnforcer
    from .feeder import LossWatch
    from .market import Market
    from .producer import Producer
    from .readings import ReadingPipeline
    from .settlement import FeederSettlement

PERMIT_EVENTS = frozenset({"PaymentReceived", "PermitChanged", "ProtectionSet"})
STORAGE_VERSION = 1


def update_failed(err: GridLedgerError) -> UpdateFailed:
    """A failed read as the coordinator reports it (raise it `from err`)."""
    if isinstance(err, CannotConnectError):
        return UpdateFailed(translation_domain=DOMAIN, translation_key="cannot_connect")
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key="update_failed",
        translation_placeholders={"error": str(err)},
    )


def remove_all(*removers: CALLBACK_TYPE) -> CALLBACK_TYPE:
    """One remover for several listeners."""

    @callback
    def _remove() -> None:
        for remove in removers:
            remove()

    return _remove


class Listeners[**P]:
    """Callbacks the integration's own objects notify (a coordinator's update listeners are
    Home Assistant's); `add` returns the remover."""

    def __init__(self) -> None:
        self._listeners: list[Callable[P, None]] = []

    @callback
    def add(self, listener: Callable[P, None]) -> CALLBACK_TYPE:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def notify(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for listener in list(self._listeners):
            listener(*args, **kwargs)


@dataclass(frozen=True, kw_only=True, slots=True)
class GridLedgerRuntimeData:
    """What a set-up entry holds, built completely before it is stored on the entry."""

    client: GridLedgerClient
    wallet: Wallet
    coordinator: GridLedgerCoordinator
    pipeline: ReadingPipeline
    enforcer: PermitEnforcer
    billing: Billing
    producer: Producer
    market: Market | None = None  # the energy market, when the household chose one


type GridLedgerConfigEntry = ConfigEntry[GridLedgerRuntimeData]


@dataclass(frozen=True, kw_only=True, slots=True)
class FeederRuntimeData:
    """What a set-up feeder entry holds: its key's wallet pays the gas of the readings it signs.

    `settlement`: the Settlement the entry names (an option), whose figures the coordinator
    reads and whose actions this wallet sends; None when it names none.
    """

    client: GridLedgerClient
    wallet: Wallet
    coordinator: FeederCoordinator
    pipeline: ReadingPipeline
    losses: LossWatch
    settlement: FeederSettlement | None = None


type FeederConfigEntry = ConfigEntry[FeederRuntimeData]


def is_feeder(entry: ConfigEntry[Any]) -> TypeIs[FeederConfigEntry]:
    """A feeder meter's entry, not a household's."""
    return CONF_FEEDER_ID in entry.data


class ExportTotalsData(TypedDict):
    """What survives a restart: the two totals and the export register they count up to."""

    counted_export_wh: int | None  # None: no export register seen yet
    # The sum of accepted export deltas (Wh) times the feed-in price (base units per kWh):
    # the compensation in thousandths of a base unit, so no delta is ever rounded away.
    compensation_milli: int
    period: int  # the meter's open billing period that `period_wh` counts
    period_wh: int
    # The block of the state whose register `counted_export_wh` is (absent: stored before
    # meter exchanges were counted).
    counted_block: NotRequired[int]
    # [block, log index] of the last `ExportExchanged` counted.
    exchange_counted_through: NotRequired[list[int]]


class ExportTotals:
    """Totals of the meter's accepted export that the ledger does not keep: the compensation
    it earned at the feed-in price (a total that only grows) and the tokens it earned in the
    open billing period. Each counts the export register's rise since the register it last
    counted; both are saved with that register in one write, so a restart neither resets nor
    double counts them. A register that fell (the operator rebased it for a new meter) is
    the new starting point. A recorded meter exchange adds the old meter's export since its
    last reading, which no register the ledger showed carries (`async_count_exchange`)."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self._store: Store[ExportTotalsData] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.export"
        )
        self.data: ExportTotalsData = {
            "counted_export_wh": None,
            "compensation_milli": 0,
            "period": 0,
            "period_wh": 0,
        }

    async def async_load(self) -> None:
        if (stored := await self._store.async_load()) is not None:
            self.data = stored

    @property
    def compensation(self) -> int:
        """In whole payment-token base units, rounded down."""
        return self.data["compensation_milli"] // 1_000

    @property
    def period_wh(self) -> int:
        return self.data["period_wh"]

    async def async_count(self, state: MeterState) -> None:
        if (producer := state.producer) is None:
            return
        data = self.data.copy()
        if state.meter.open_period != data["period"]:
            data["period"], data["period_wh"] = state.meter.open_period, 0
        export_wh, counted = producer.info.export_wh, data["counted_export_wh"]
        if counted is not None and export_wh > counted:
            delta = export_wh - counted
            data["compensation_milli"] += delta * producer.feed_in_price_per_kwh
            data["period_wh"] += delta
        if export_wh != counted:
            data["counted_export_wh"] = export_wh
            data["counted_block"] = state.block_number
        if data != self.data:
            self.data = data
            await self._store.async_save(self.data)

    async def async_count_exchange(self, event: LedgerEvent, feed_in_price_per_kwh: int) -> None:
        """An `ExportExchanged`: the old meter's export since its last reading went from that
        reading's register to the new meter's at once, so no state shows it; it is counted once,
        by the event's place in the chain. If no state after the exchange was counted yet, the
        new meter's register is where counting resumes, so one above the old meter's is not
        taken for export."""
        place = [event.block_number, event.log_index]
        if (through := self.data.get("exchange_counted_through")) is not None and place <= through:
            return
        data = self.data.copy()
        exported = int(event.args["exportedWh"])
        data["compensation_milli"] += exported * feed_in_price_per_kwh
        data["period_wh"] += exported
        if data.get("counted_block", -1) < event.block_number:
            data["counted_export_wh"] = int(event.args["newInitialExportWh"])
            data["counted_block"] = event.block_number
        data["exchange_counted_through"] = place
        self.data = data
        await self._store.async_save(self.data)


class LedgerCoordinator[StateT](DataUpdateCoordinator[StateT]):
    """Reads one party of the ledger at one block: its node outages become a repair, its
    contract events a refresh."""

    config_entry: ConfigEntry[Any]
    urgent_events: frozenset[str] = frozenset()  # acted on at once, past the debouncer

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        client: GridLedgerClient,
        info: LedgerInfo,
        wallet: str,
        *,
        party: str,
        party_id: int,
    ) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {party} {party_id}",
            update_interval=REFRESH_INTERVAL,
        )
        self.party = party  # what the party is: a "meter" or a "feeder"
        self.party_id = party_id  # its id on the ledger
        self.client = client
        self.info = info
        self.wallet = wallet
        self.unreachable_since: float | None = None
        self.follower: EventFollower | None = None  # the party's events, once followed
        self._event_listeners: Listeners[[list[LedgerEvent]]] = Listeners()

    @property
    def identifier(self) -> str:
        """The party's device identifier: stable per chain, contract and party."""
        raise NotImplementedError

    async def _async_read(self) -> StateT:
        """The party's state now; the library's errors are mapped by the caller."""
        raise NotImplementedError

    async def _async_update_data(self) -> StateT:
        try:
            state = await self._async_read()
        except GridLedgerError as err:
            if isinstance(err, CannotConnectError):
                self._note_unreachable()
            raise update_failed(err) from err
        self.unreachable_since = None
        async_clear_issue(self.hass, self.config_entry.entry_id, ISSUE_NODE_UNREACHABLE)
        return state

    def _note_unreachable(self) -> None:
        now = dt_util.utcnow().timestamp()
        if self.unreachable_since is None:
            self.unreachable_since = now
        if now - self.unreachable_since >= UNREACHABLE_REPAIR_AFTER.total_seconds():
            async_raise_issue(
                self.hass,
                self.config_entry.entry_id,
                ISSUE_NODE_UNREACHABLE,
                {"rpc_url": self.client.rpc_url},
            )

    @property
    def device_id(self) -> str | None:
        """The device registry id of the party's device (None before the entities exist)."""
        registry = dr.async_get(self.hass)
        device = registry.async_get_device(identifiers={(DOMAIN, self.identifier)})
        return None if device is None else device.id

    @callback
    def async_add_event_listener(
        self, listener: Callable[[list[LedgerEvent]], None]
    ) -> CALLBACK_TYPE:
        """Also hand the party's raw contract events to `listener`; returns its remover."""
        return self._event_listeners.add(listener)

    async def async_on_events(self, events: list[LedgerEvent]) -> None:
        """The contract changed something of the party: read it again."""
        LOGGER.debug("Contract events: %s", [event.name for event in events])
        self._event_listeners.notify(events)
        if self.urgent_events.intersection(event.name for event in events):
            await self.async_refresh()
            return
        await self.async_request_refresh()


class GridLedgerCoordinator(LedgerCoordinator[MeterState]):
    """Reads the meter, its bill, balance and permit, and the wallet, at one block."""

    config_entry: GridLedgerConfigEntry
    # A permit change is acted on at once (a restore within the block).
    urgent_events = PERMIT_EVENTS

    async def async_on_events(self, events: list[LedgerEvent]) -> None:
        """A meter exchange's last export is counted before the state is read again."""
        for event in events:
            if event.name == "ExportExchanged":
                producer = None if self.data is None else self.data.producer
                price = 0 if producer is None else producer.feed_in_price_per_kwh
                await self.export_totals.async_count_exchange(event, price)
        await super().async_on_events(events)

    def __init__(
        self,
        hass: HomeAssistant,
        entry: GridLedgerConfigEntry,
        client: GridLedgerClient,
        info: LedgerInfo,
        wallet: str,
    ) -> None:
        self.meter_id: int = entry.data[CONF_METER_ID]
        super().__init__(hass, entry, client, info, wallet, party="meter", party_id=self.meter_id)
        self.export_totals = ExportTotals(hass, entry.entry_id)

    @property
    def identifier(self) -> str:
        return f"{self.info.chain_id}-{self.info.address.lower()}-{self.meter_id}"

    async def _async_read(self) -> MeterState:
        state = await self.client.meter_state(self.meter_id, self.wallet)
        await self.export_totals.async_count(state)
        return state


class FeederCoordinator(LedgerCoordinator[FeederState]):
    """Reads the feeder, its energy balance per period and its key's coin, at one block."""

    config_entry: FeederConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: FeederConfigEntry,
        client: GridLedgerClient,
        info: LedgerInfo,
        wallet: str,
        settlement: SettlementClient | None = None,
    ) -> None:
        self.feeder_id: int = entry.data[CONF_FEEDER_ID]
        super().__init__(hass, entry, client, info, wallet, party="feeder", party_id=self.feeder_id)
        self.settlement = settlement  # the Settlement the entry names, if any

    @property
    def identifier(self) -> str:
        return f"{self.info.chain_id}-{self.info.address.lower()}-feeder-{self.feeder_id}"

    async def _async_read(self) -> FeederState:
        state = await self.client.feeder_state(self.feeder_id, self.wallet)
        if self.settlement is None:
            return state
        settled = await self.settlement.state(
            self.feeder_id, self.wallet, state.open.period, state.block_number
        )
        return replace(state, settlement=settled)
