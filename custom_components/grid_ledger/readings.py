"""Reading pipeline: register → signed reading → durable outbox → chain, exactly once.

Registers are cumulative, so only the newest unsent reading matters: it covers every gap left
by an outage. The outbox lives in Home Assistant's `Store` and survives restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
import time
from typing import Any, Protocol, TypedDict

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, UnitOfEnergy
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store

from .chain import (
    GridLedgerClient,
    GridLedgerError,
    InsufficientFundsError,
    Reading,
    ReadingSigner,
    Receipt,
    RevertedError,
    SignedReading,
    TransactionSender,
)
from .const import (
    CONF_BAUDRATE,
    CONF_ENERGY_ENTITY,
    CONF_METER_ID,
    CONF_SERIAL_PORT,
    DOMAIN,
    ISSUE_REGISTER_BACKWARDS,
    ISSUE_WALLET_NO_GAS,
    LOGGER,
    SERIAL_READ_TIMEOUT,
)
from .coordinator import GridLedgerConfigEntry, GridLedgerCoordinator
from .meters.iec62056 import Iec62056Error, read_meter

STORAGE_VERSION = 1
WH_PER_UNIT = {
    UnitOfEnergy.WATT_HOUR: 1,
    UnitOfEnergy.KILO_WATT_HOUR: 1_000,
    UnitOfEnergy.MEGA_WATT_HOUR: 1_000_000,
}
# Reverts that a later, newer reading cannot fix by waiting: the old reading is dropped.
KEEP_ON_REVERT = {"EnforcedPause"}


class Submitted(TypedDict):
    """The last reading that landed on-chain."""

    wh: int
    timestamp: int
    tx_hash: str | None  # None: it landed through another relay (or before a restart)
    block_number: int | None


class Outbox(TypedDict):
    """What the store holds."""

    pending: dict[str, Any] | None
    last_submitted: Submitted | None


class RegisterSource(Protocol):
    """Where the meter's cumulative energy register comes from."""

    @property
    def name(self) -> str:
        """What the household chose, as it is shown in issues."""

    async def async_read_wh(self) -> int | None:
        """The register in whole Wh; None when there is no trustworthy value now."""


class EntityRegister:
    """The state of a Home Assistant energy sensor."""

    def __init__(self, hass: HomeAssistant, entity_id: str) -> None:
        self.hass = hass
        self.name = entity_id

    async def async_read_wh(self) -> int | None:
        state = self.hass.states.get(self.name)
        if state is None or state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            return None
        factor = WH_PER_UNIT.get(state.attributes.get("unit_of_measurement", ""))
        try:
            value = Decimal(state.state)
        except InvalidOperation:
            return None
        if factor is None or not value.is_finite():
            return None
        return int(value * factor)  # whole Wh, rounded down: never attest more than measured


class SerialRegister:
    """The import register (OBIS 1.8.0) of an IEC 62056-21 meter behind an optical head."""

    def __init__(self, port: str, baudrate: int) -> None:
        self.name = port
        self.baudrate = baudrate
        self._failing = False

    async def async_read_wh(self) -> int | None:
        try:
            readout = await read_meter(self.name, self.baudrate, SERIAL_READ_TIMEOUT)
        except Iec62056Error as err:
            # The next good readout covers the gap: registers are cumulative.
            if not self._failing:
                LOGGER.warning("No reading from the meter on %s: %s", self.name, err)
            self._failing = True
            return None
        if self._failing:
            LOGGER.info("The meter on %s answers again", self.name)
            self._failing = False
        return readout.import_wh


def register_source(hass: HomeAssistant, entry: GridLedgerConfigEntry) -> RegisterSource:
    if CONF_SERIAL_PORT in entry.data:
        return SerialRegister(entry.data[CONF_SERIAL_PORT], entry.data[CONF_BAUDRATE])
    return EntityRegister(hass, entry.data[CONF_ENERGY_ENTITY])


class ReadingPipeline:
    """Takes, signs, keeps and submits one meter's readings."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: GridLedgerConfigEntry,
        client: GridLedgerClient,
        sender: TransactionSender,
        signer: ReadingSigner,
        coordinator: GridLedgerCoordinator,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.client = client
        self.sender = sender
        self.signer = signer
        self.coordinator = coordinator
        self.meter_id: int = entry.data[CONF_METER_ID]
        self.source = register_source(hass, entry)
        self.store: Store[Outbox] = Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}")
        self.outbox: Outbox = {"pending": None, "last_submitted": None}
        self._lock = asyncio.Lock()

    async def async_load(self) -> None:
        if (stored := await self.store.async_load()) is not None:
            self.outbox = stored

    @property
    def pending(self) -> SignedReading | None:
        raw = self.outbox["pending"]
        return SignedReading.from_dict(raw) if raw is not None else None

    @property
    def last_submitted(self) -> Submitted | None:
        return self.outbox["last_submitted"]

    def _baseline(self) -> tuple[int, int]:
        """The highest register and timestamp known to be on-chain or on the way."""
        wh, timestamp = 0, 0
        if self.coordinator.data is not None:
            wh = self.coordinator.data.meter.last_wh
            timestamp = self.coordinator.data.meter.last_timestamp
        for known in (self.pending, self.last_submitted):
            if isinstance(known, SignedReading):
                wh, timestamp = max(wh, known.reading.wh), max(timestamp, known.reading.timestamp)
            elif known is not None:
                wh, timestamp = max(wh, known["wh"]), max(timestamp, known["timestamp"])
        return wh, timestamp

    async def _latest_accepted(self) -> int:
        """The latest timestamp the chain accepts now: its latest block's time plus the ledger's
        clock skew. A chain that mines only on transactions keeps an old latest block; a reading
        stamped later would be refused until a block follows, and none would. Its own
        transaction mines one, so the next reading's bound moves on. A node that does not answer
        bounds nothing: the reading waits in the outbox for a chain that has moved on."""
        try:
            latest = await self.client.latest_block_timestamp()
        except GridLedgerError:
            return int(time.time())
        return latest + self.coordinator.info.max_clock_skew

    async def async_take_reading(self) -> SignedReading | None:
        """Sign the register now and put it in the outbox, replacing an older unsent reading."""
        async with self._lock:  # never while a reading is being sent: its settling would drop it
            return await self._async_take_reading()

    async def _async_take_reading(self) -> SignedReading | None:
        if (wh := await self.source.async_read_wh()) is None:
            return None
        last_wh, last_timestamp = self._baseline()
        issue_id = f"{ISSUE_REGISTER_BACKWARDS}_{self.meter_id}"
        if wh < last_wh:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_REGISTER_BACKWARDS,
                translation_placeholders={
                    "entity_id": self.source.name,
                    "wh": str(wh),
                    "last_wh": str(last_wh),
                },
            )
            return None
        ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        timestamp = max(min(int(time.time()), await self._latest_accepted()), last_timestamp + 1)
        signed = self.signer.sign(Reading(self.meter_id, wh, timestamp))
        self.outbox["pending"] = signed.as_dict()
        await self.store.async_save(self.outbox)
        return signed

    async def async_flush(self) -> Receipt | None:
        """Submit the pending reading unless it already landed; keep it if it cannot go now."""
        async with self._lock:
            if (pending := self.pending) is None:
                return None
            meter = await self.client.meter(self.meter_id)
            if meter.last_timestamp >= pending.reading.timestamp:
                LOGGER.debug("Reading at %s already on-chain", pending.reading.timestamp)
                await self._settle(
                    {
                        "wh": pending.reading.wh,
                        "timestamp": pending.reading.timestamp,
                        "tx_hash": None,
                        "block_number": None,
                    }
                )
                return None
            try:
                receipt = await self.sender.send(self.client.submit_reading_call(pending))
            except InsufficientFundsError:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    f"{ISSUE_WALLET_NO_GAS}_{self.meter_id}",
                    is_fixable=False,
                    severity=ir.IssueSeverity.ERROR,
                    translation_key=ISSUE_WALLET_NO_GAS,
                    translation_placeholders={"address": self.sender.address},
                )
                raise
            except RevertedError as err:
                if err.name not in KEEP_ON_REVERT:
                    LOGGER.warning("Reading rejected by the contract: %s", err)
                    await self._settle(None)
                raise
            ir.async_delete_issue(self.hass, DOMAIN, f"{ISSUE_WALLET_NO_GAS}_{self.meter_id}")
            await self._settle(
                {
                    "wh": pending.reading.wh,
                    "timestamp": pending.reading.timestamp,
                    "tx_hash": receipt.tx_hash,
                    "block_number": receipt.block_number,
                }
            )
        await self.coordinator.async_refresh()
        return receipt

    async def _settle(self, submitted: Submitted | None) -> None:
        self.outbox["pending"] = None
        if submitted is not None:
            self.outbox["last_submitted"] = submitted
        await self.store.async_save(self.outbox)

    async def async_submit_now(self) -> Receipt | None:
        """Take a reading and send it (and anything older) now."""
        await self.async_take_reading()
        return await self.async_flush()

    async def _async_tick(self, _now: datetime | None = None) -> None:
        await self._async_quietly(self.async_submit_now)

    async def async_retry(self) -> None:
        """Send the kept reading now, if the node takes it."""
        await self._async_quietly(self.async_flush)

    async def _async_quietly(self, work: Callable[[], Awaitable[Receipt | None]]) -> None:
        """Background runs: failures are logged; `async_flush` decided what stays in the outbox."""
        try:
            await work()
        except GridLedgerError as err:
            LOGGER.debug("Reading not submitted now: %s", err)

    @callback
    def async_start(self, interval: timedelta) -> CALLBACK_TYPE:
        """Read on the interval, and retry the outbox whenever the node answers again."""
        cancel_timer = async_track_time_interval(
            self.hass, self._async_tick, interval, name=f"{DOMAIN} readings"
        )

        @callback
        def _on_refresh() -> None:
            if self.coordinator.last_update_success and self.pending is not None:
                self.entry.async_create_background_task(
                    self.hass, self.async_retry(), f"{DOMAIN} outbox"
                )

        remove_listener = self.coordinator.async_add_listener(_on_refresh)

        @callback
        def _stop() -> None:
            cancel_timer()
            remove_listener()

        return _stop
