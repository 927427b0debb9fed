"""Reading pipeline: registers → signed reading → durable outbox → chain, exactly once.

Registers are cumulative, so only the newest unsent reading matters: it covers every gap left
by an outage. The outbox lives in Home Assistant's `Store` and survives restarts. A meter whose
export the ledger enabled signs both registers, import (OBIS 1.8.0) and export (OBIS 2.8.0), in
one `BidirectionalReading`; each register's glitches (a unit, a reset, a jump) are handled the
same way. A feeder's readings take the same way, signed as `FeederReading`s: the pipeline is
told what it signs and which call submits it (`ReadingKind`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import InvalidOperation
import time
from typing import Any, Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import (
    async_call_later,
    async_track_point_in_utc_time,
    async_track_time_interval,
)
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .chain import (
    ContractCall,
    GridLedgerError,
    InsufficientFundsError,
    LedgerInfo,
    ProducerState,
    Reading,
    ReadingSigner,
    Receipt,
    RevertedError,
    SignedReading,
    Tariff,
    TransactionRejectedError,
    Wallet,
    WalletTx,
)
from .const import (
    CONF_BAUDRATE,
    CONF_ENERGY_ENTITY,
    CONF_EXPORT_ENTITY,
    CONF_SERIAL_PORT,
    DOMAIN,
    ISSUE_EXPORT_NOT_ENABLED,
    ISSUE_EXPORT_REGISTER_BACKWARDS,
    ISSUE_EXPORT_REGISTER_IMPLAUSIBLE,
    ISSUE_EXPORT_SOURCE_MISSING,
    ISSUE_REGISTER_BACKWARDS,
    ISSUE_REGISTER_IMPLAUSIBLE,
    ISSUE_REGISTER_OUT_OF_RANGE,
    ISSUE_REGISTER_UNAVAILABLE,
    ISSUE_REGISTER_UNIT,
    ISSUE_WALLET_NO_GAS,
    LOGGER,
    REGISTER_REPAIR_AFTER,
    SERIAL_READ_TIMEOUT,
)
from .coordinator import GridLedgerCoordinator
from .meters.iec62056 import Iec62056Error, read_meter
from .repairs import async_clear_issue, async_raise_issue
from .units import MAX_REGISTER_WH, energy_wh

STORAGE_VERSION = 1
# Reverts that a later, newer reading cannot fix by waiting: the old reading is dropped.
KEEP_ON_REVERT = {"EnforcedPause"}
# Source problems that waiting does not fix: repaired at once. An unavailable register is
# repaired only once it lasts `REGISTER_REPAIR_AFTER` (restarts and reconnects are normal).
REPAIR_AT_ONCE = {ISSUE_REGISTER_UNIT, ISSUE_REGISTER_OUT_OF_RANGE}
SOURCE_ISSUES = (ISSUE_REGISTER_UNAVAILABLE, *REPAIR_AT_ONCE)


@dataclass(frozen=True, slots=True)
class RegisterKind:
    """One of a meter's registers: the issues its glitches raise (the source's own problems
    use the `SOURCE_ISSUES` keys with `parts`)."""

    name: str
    backwards: str
    implausible: str
    parts: tuple[str, ...]


IMPORT = RegisterKind("import", ISSUE_REGISTER_BACKWARDS, ISSUE_REGISTER_IMPLAUSIBLE, ())
EXPORT = RegisterKind(
    "export", ISSUE_EXPORT_REGISTER_BACKWARDS, ISSUE_EXPORT_REGISTER_IMPLAUSIBLE, ("export",)
)
REGISTERS = {kind.name: kind for kind in (IMPORT, EXPORT)}


@dataclass(frozen=True, slots=True)
class Submitted:
    """The last reading that landed on-chain."""

    wh: int
    timestamp: int
    tx_hash: str | None  # None: it landed through another relay
    block_number: int | None
    export_wh: int | None = None  # None: an import-only reading

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Submitted:
        export_wh = data.get("export_wh")
        return cls(
            wh=int(data["wh"]),
            timestamp=int(data["timestamp"]),
            tx_hash=data.get("tx_hash"),
            block_number=data.get("block_number"),
            export_wh=None if export_wh is None else int(export_wh),
        )


@dataclass(slots=True)
class Adjustment:
    """How one register's source becomes the attested register. Attested = source + `offset`:
    a meter exchange adds the old meter's last attested register, a discarded jump subtracts
    the jump. `held_wh`: an implausible jump held back until the household decides (see
    `ReadingPipeline._plausible`); `releasing`: they said it is real, it is attested at the
    rating's pace."""

    offset: int = 0
    held_wh: int = 0
    releasing: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Adjustment:
        return cls(
            int(data.get("offset", 0)),
            int(data.get("held_wh", 0)),
            bool(data.get("releasing", False)),
        )


@dataclass(slots=True)
class PendingReading:
    """The newest signed reading not known on-chain, and the wallet transaction that carries it
    once one is signed (recorded before it is broadcast, so a restart settles the same bytes)."""

    signed: SignedReading
    tx: WalletTx | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.signed.as_dict(), "tx": None if self.tx is None else self.tx.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingReading:
        tx = data.get("tx")
        return cls(SignedReading.from_dict(data), None if tx is None else WalletTx.from_dict(tx))


@dataclass(slots=True)
class Outbox:
    """What the store holds. The import register's adjustment is kept at the top level, where
    it was before meters exported."""

    pending: PendingReading | None = None
    last_submitted: Submitted | None = None
    adjustments: dict[str, Adjustment] = field(
        default_factory=lambda: {kind: Adjustment() for kind in REGISTERS}
    )

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": None if self.pending is None else self.pending.as_dict(),
            "last_submitted": None
            if self.last_submitted is None
            else self.last_submitted.as_dict(),
            **self.adjustments[IMPORT.name].as_dict(),
            EXPORT.name: self.adjustments[EXPORT.name].as_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outbox:
        pending, submitted = data.get("pending"), data.get("last_submitted")
        return cls(
            None if pending is None else PendingReading.from_dict(pending),
            None if submitted is None else Submitted.from_dict(submitted),
            {
                IMPORT.name: Adjustment.from_dict(data),
                EXPORT.name: Adjustment.from_dict(data.get(EXPORT.name) or {}),
            },
        )


class NoReadingError(HomeAssistantError):
    """No reading can be taken now; the translation says why and what to do."""

    def __init__(self, *, translation_key: str, placeholders: dict[str, str]) -> None:
        super().__init__(
            translation_domain=DOMAIN,
            translation_key=translation_key,
            translation_placeholders=placeholders,
        )


class RegisterSource(Protocol):
    """Where one of the meter's cumulative energy registers comes from."""

    @property
    def name(self) -> str:
        """What the household chose, as it is shown in issues."""

    async def async_read_wh(self) -> int | None:
        """The register in whole Wh; None when there is no trustworthy value now, or
        `NoReadingError` saying what is wrong with it."""


class EntityRegister:
    """The state of a Home Assistant energy sensor, in any energy unit Home Assistant offers."""

    def __init__(self, hass: HomeAssistant, entity_id: str) -> None:
        self.hass = hass
        self.name = entity_id

    async def async_read_wh(self) -> int | None:
        state = self.hass.states.get(self.name)
        if state is None:
            raise self._error(ISSUE_REGISTER_UNAVAILABLE, state="missing")
        if state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            raise self._error(ISSUE_REGISTER_UNAVAILABLE, state=state.state)
        unit = state.attributes.get("unit_of_measurement")
        try:
            wh = energy_wh(state.state, unit)
        except InvalidOperation:
            raise self._error(ISSUE_REGISTER_UNAVAILABLE, state=state.state) from None
        except OverflowError:
            raise self._error(ISSUE_REGISTER_OUT_OF_RANGE, state=state.state) from None
        if wh is None:
            raise self._error(ISSUE_REGISTER_UNIT, unit=str(unit))
        if not 0 <= wh <= MAX_REGISTER_WH:
            raise self._error(ISSUE_REGISTER_OUT_OF_RANGE, state=state.state)
        return wh

    def _error(self, key: str, **placeholders: str) -> NoReadingError:
        return NoReadingError(
            translation_key=key, placeholders={"source": self.name, **placeholders}
        )


class SerialRegister:
    """The import register (OBIS 1.8.0) of an IEC 62056-21 meter behind an optical head; the
    same readout's export register (OBIS 2.8.0) is kept for `SerialExportRegister`."""

    def __init__(self, port: str, baudrate: int) -> None:
        self.name = port
        self.baudrate = baudrate
        self.export_wh: int | None = None
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
        self.export_wh = readout.export_wh
        return readout.import_wh


class SerialExportRegister:
    """The export register of the serial meter's readout just taken for its import register;
    None when the meter's frame has no 2.8.0."""

    def __init__(self, meter: SerialRegister) -> None:
        self.meter = meter
        self.name = meter.name

    async def async_read_wh(self) -> int | None:
        return self.meter.export_wh


def register_sources(
    hass: HomeAssistant, entry: ConfigEntry[Any], *, exports: bool = True
) -> tuple[RegisterSource, RegisterSource | None]:
    """The import register's source, and the export register's (None: none configured, or a
    kind of reading that carries no export register): an export sensor if one was picked, else
    a serial meter's readout."""
    export_entity = entry.data.get(CONF_EXPORT_ENTITY)
    export = None if export_entity is None else EntityRegister(hass, export_entity)
    if CONF_SERIAL_PORT in entry.data:
        meter = SerialRegister(entry.data[CONF_SERIAL_PORT], entry.data[CONF_BAUDRATE])
        return meter, (export or SerialExportRegister(meter)) if exports else None
    return EntityRegister(hass, entry.data[CONF_ENERGY_ENTITY]), export


class RegisterOnChain(Protocol):
    """The register the ledger holds for the meter: where the next reading starts from, and
    the rating that bounds its rise."""

    @property
    def last_wh(self) -> int: ...

    @property
    def last_timestamp(self) -> int: ...

    @property
    def max_power_w(self) -> int: ...


class ChainState(Protocol):
    """What the pipeline reads of its coordinator's data."""

    @property
    def meter(self) -> RegisterOnChain: ...

    @property
    def producer(self) -> ProducerState | None: ...


class StateCoordinator(Protocol):
    """The coordinator that follows the meter on-chain; refreshed once a reading landed."""

    info: LedgerInfo
    last_update_success: bool

    @property
    def data(self) -> ChainState: ...

    async def async_refresh(self) -> None: ...

    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]: ...


class ReadingKind(Protocol):
    """What a pipeline signs and which call submits it: a household meter's readings
    (`MeterReadings`) or a feeder's (`feeder.FeederReadings`)."""

    @property
    def meter_id(self) -> int:
        """The id its readings carry: the meter's, or the feeder's."""
        ...

    @property
    def signer(self) -> ReadingSigner: ...

    @property
    def exports(self) -> bool:
        """Its readings carry the export register where the ledger takes one."""
        ...

    def submit_call(self, signed: SignedReading) -> ContractCall:
        """The contract call that submits `signed`."""
        ...

    async def async_last_timestamp(self) -> int:
        """The time of the newest reading on-chain now."""
        ...

    async def async_tariff(self) -> Tariff | None:
        """The tariff that prices its readings (read at its band edges); None: none does."""
        ...


class MeterReadings:
    """A household meter's readings: `Reading`s, or `BidirectionalReading`s once the ledger
    takes its export register, signed with the meter key and priced by its tariff."""

    exports = True

    def __init__(self, coordinator: GridLedgerCoordinator, signer: ReadingSigner) -> None:
        self.coordinator = coordinator
        self.client = coordinator.client
        self.signer = signer
        self.meter_id = coordinator.meter_id

    def submit_call(self, signed: SignedReading) -> ContractCall:
        return self.client.submit_reading_call(signed)

    async def async_last_timestamp(self) -> int:
        return (await self.client.meter(self.meter_id)).last_timestamp

    async def async_tariff(self) -> Tariff:
        return await self.client.tariff(self.coordinator.data.meter.tariff_id)


class ReadingPipeline:
    """Takes, signs, keeps and submits one meter's readings (a household's, or a feeder's)
    through its entry's wallet."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        wallet: Wallet,
        kind: ReadingKind,
        coordinator: StateCoordinator,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.wallet = wallet
        self.client = wallet.client
        self.kind = kind
        self.signer = kind.signer
        self.coordinator = coordinator
        self.meter_id = kind.meter_id
        self.source, self.export_source = register_sources(hass, entry, exports=kind.exports)
        self.store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}"
        )
        self.outbox = Outbox()
        self._lock = asyncio.Lock()
        self._unusable_since: dict[str, datetime] = {}
        self._cancel_band_reading: CALLBACK_TYPE | None = None
        self._stopped = False

    async def async_load(self) -> None:
        if (stored := await self.store.async_load()) is not None:
            self.outbox = Outbox.from_dict(stored)

    @property
    def pending(self) -> SignedReading | None:
        return None if self.outbox.pending is None else self.outbox.pending.signed

    @property
    def last_submitted(self) -> Submitted | None:
        return self.outbox.last_submitted

    def _baseline(self) -> tuple[int, int]:
        """The highest register and timestamp known to be on-chain or on the way."""
        wh, timestamp = 0, 0
        if self.coordinator.data is not None:
            wh = self.coordinator.data.meter.last_wh
            timestamp = self.coordinator.data.meter.last_timestamp
        if (pending := self.pending) is not None:
            wh, timestamp = max(wh, pending.reading.wh), max(timestamp, pending.reading.timestamp)
        if (submitted := self.last_submitted) is not None:
            wh, timestamp = max(wh, submitted.wh), max(timestamp, submitted.timestamp)
        return wh, timestamp

    def _export_baseline(self) -> int:
        """The highest export register known to be on-chain or on the way."""
        producer = None if self.coordinator.data is None else self.coordinator.data.producer
        known = [0 if producer is None else producer.info.export_wh]
        if (pending := self.pending) is not None and pending.reading.export_wh is not None:
            known.append(pending.reading.export_wh)
        if (submitted := self.last_submitted) is not None and submitted.export_wh is not None:
            known.append(submitted.export_wh)
        return max(known)

    def _exports(self) -> tuple[bool, int]:
        """Whether the ledger takes this meter's export register, and its export rating (W)."""
        data = self.coordinator.data
        producer = None if data is None else data.producer
        if producer is None or not producer.info.exports:
            return False, 0
        return True, producer.info.max_export_w

    async def _latest_accepted(self) -> int | None:
        """The latest timestamp the chain accepts now: its latest block's time plus the ledger's
        clock skew, and never in a period the chain has not reached (the ledger refuses a reading
        that would close the open period early). A chain that mines only on transactions keeps
        an old latest block; a reading stamped later would be refused until a block follows, and
        none would. Its own transaction mines one, so the next reading's bound moves on; the
        reading that closes a period is the first one after the chain has entered the next. A
        node that does not answer bounds nothing (None): the reading waits in the outbox for a
        chain that has moved on."""
        try:
            latest = await self.client.latest_block_timestamp()
        except GridLedgerError:
            return None
        info = self.coordinator.info
        return min(latest + info.max_clock_skew, info.period_end_after(latest) - 1)

    async def async_take_reading(self) -> SignedReading:
        """Sign the register now and put it in the outbox, replacing an older unsent reading;
        `NoReadingError` says why there is none."""
        async with self._lock:  # never while a reading is being sent: its settling would drop it
            return await self._async_take_reading()

    async def _async_take_reading(self) -> SignedReading:
        register = await self._async_read_register(self.source, IMPORT)
        export_register = await self._async_read_export_register()
        self._adopt_recorded_exchange()
        last_wh, last_timestamp = self._baseline()
        candidate = register + self._adjustment(IMPORT).offset
        if candidate < last_wh:
            self._register_backwards(IMPORT, self.source, register, last_wh)
        async_clear_issue(self.hass, self.entry.entry_id, ISSUE_REGISTER_BACKWARDS)
        last_export = self._export_baseline()
        export_candidate = None
        if export_register is not None and self.export_source is not None:
            export_candidate = export_register + self._adjustment(EXPORT).offset
            if export_candidate < last_export:
                self._register_backwards(EXPORT, self.export_source, export_register, last_export)
            async_clear_issue(self.hass, self.entry.entry_id, ISSUE_EXPORT_REGISTER_BACKWARDS)
        now = int(time.time())
        bound = await self._latest_accepted()
        timestamp = max(now if bound is None else min(now, bound), last_timestamp + 1)
        if bound is not None and timestamp > bound:  # the last reading took the latest second
            raise NoReadingError(
                translation_key="reading_waits_for_chain",
                placeholders={"chain_time": dt_util.utc_from_timestamp(bound).isoformat()},
            )
        elapsed = timestamp - last_timestamp
        rating_w = 0 if self.coordinator.data is None else self.coordinator.data.meter.max_power_w
        wh = self._plausible(IMPORT, register, candidate, last_wh, rating_w * elapsed // 3600)
        export_wh = None
        if export_register is not None and export_candidate is not None:
            export_rating_w = self._exports()[1]
            export_wh = self._plausible(
                EXPORT,
                export_register,
                export_candidate,
                last_export,
                export_rating_w * elapsed // 3600,
            )
        signed = self.signer.sign(Reading(self.meter_id, wh, timestamp, export_wh))
        self.outbox.pending = PendingReading(signed)
        await self._async_save()
        return signed

    def _adjustment(self, kind: RegisterKind) -> Adjustment:
        return self.outbox.adjustments[kind.name]

    async def _async_read_register(self, source: RegisterSource, kind: RegisterKind) -> int:
        """The source's register; a problem becomes a repair at once, or once it lasts."""
        entry_id = self.entry.entry_id
        try:
            if (wh := await source.async_read_wh()) is None:
                raise NoReadingError(
                    translation_key=ISSUE_REGISTER_UNAVAILABLE,
                    placeholders={"source": source.name, "state": "no readout"},
                )
        except NoReadingError as err:
            now = dt_util.utcnow()
            since = self._unusable_since.setdefault(kind.name, now)
            key = str(err.translation_key)
            if key in REPAIR_AT_ONCE or now - since >= REGISTER_REPAIR_AFTER:
                placeholders = dict(err.translation_placeholders or {})
                async_raise_issue(self.hass, entry_id, key, placeholders, parts=kind.parts)
            raise
        self._unusable_since.pop(kind.name, None)
        for key in SOURCE_ISSUES:
            async_clear_issue(self.hass, entry_id, key, *kind.parts)
        return wh

    async def _async_read_export_register(self) -> int | None:
        """The export register when the ledger takes it, else None (an import-only reading).

        The ledger and the configuration must agree: export enabled on-chain without a source
        here, or a source here for a meter the ledger keeps import-only, is a repair that says
        what to configure; the readings go on with the import register meanwhile. A configured
        export source that cannot be read stops the reading as the import register's does.
        """
        entry_id, source = self.entry.entry_id, self.export_source
        exports, _ = self._exports()
        if not exports:
            async_clear_issue(self.hass, entry_id, ISSUE_EXPORT_SOURCE_MISSING)
            configured = isinstance(source, EntityRegister) or (
                isinstance(source, SerialExportRegister) and (source.meter.export_wh or 0) > 0
            )
            if configured and source is not None:
                async_raise_issue(
                    self.hass,
                    entry_id,
                    ISSUE_EXPORT_NOT_ENABLED,
                    {"source": source.name, "meter_id": str(self.meter_id)},
                    severity=ir.IssueSeverity.WARNING,
                )
            else:
                async_clear_issue(self.hass, entry_id, ISSUE_EXPORT_NOT_ENABLED)
            return None
        async_clear_issue(self.hass, entry_id, ISSUE_EXPORT_NOT_ENABLED)
        serial_without_export = (
            isinstance(source, SerialExportRegister) and source.meter.export_wh is None
        )
        if source is None or serial_without_export:
            async_raise_issue(
                self.hass,
                entry_id,
                ISSUE_EXPORT_SOURCE_MISSING,
                {
                    "meter_id": str(self.meter_id),
                    "source": self.source.name,
                },
                fix_data={"entry_id": entry_id, "key": CONF_EXPORT_ENTITY},
            )
            return None
        async_clear_issue(self.hass, entry_id, ISSUE_EXPORT_SOURCE_MISSING)
        return await self._async_read_register(source, EXPORT)

    def _adopt_recorded_exchange(self) -> None:
        """The operator recorded a meter exchange on-chain (`MeterExchanged`, with
        `ExportExchanged` when it carries both registers, or `ExportEnabled` rebasing the export
        register): the chain's register is below a reading this meter attested at or before the
        chain's last timestamp, which no reading can do. The chain's
        new register is the baseline now: the source's register is attested as it reads (no
        offset, nothing held back, no repair), and an unsent reading of the old register is
        replaced."""
        data, outbox = self.coordinator.data, self.outbox
        known = [] if outbox.last_submitted is None else [outbox.last_submitted]
        if (pending := self.pending) is not None:
            reading = pending.reading
            known.append(Submitted(reading.wh, reading.timestamp, None, None, reading.export_wh))
        chain_wh, chain_timestamp = data.meter.last_wh, data.meter.last_timestamp
        chain_export = None if data.producer is None else data.producer.info.export_wh
        before = [r for r in known if r.timestamp <= chain_timestamp]
        exchanged = [
            kind
            for kind, chain, attested in (
                (IMPORT, chain_wh, [r.wh for r in before]),
                (EXPORT, chain_export, [r.export_wh for r in before if r.export_wh is not None]),
            )
            if chain is not None and any(wh > chain for wh in attested)
        ]
        if not exchanged:
            return
        LOGGER.info("Meter exchange recorded on-chain: new registers from %s Wh", chain_wh)
        outbox.pending = None  # signed against the old register; this reading replaces it
        outbox.last_submitted = Submitted(chain_wh, chain_timestamp, None, None, chain_export)
        for kind in exchanged:
            outbox.adjustments[kind.name] = Adjustment()
            for key in (kind.backwards, kind.implausible):
                async_clear_issue(self.hass, self.entry.entry_id, key)

    def _register_backwards(
        self, kind: RegisterKind, source: RegisterSource, register: int, last_wh: int
    ) -> None:
        """A lower register: a reset or an exchanged meter. The repair's fix flow records the
        new meter (`async_record_exchange`); nothing is attested until then."""
        registers = {
            "wh": str(register),
            "last_wh": str(last_wh - self._adjustment(kind).offset),
        }
        async_raise_issue(
            self.hass,
            self.entry.entry_id,
            kind.backwards,
            {"entity_id": source.name, **registers},
            fix_data={"entry_id": self.entry.entry_id, "register": kind.name},
        )
        raise NoReadingError(
            translation_key=kind.backwards,
            placeholders={"source": source.name, **registers},
        )

    def _plausible(
        self, kind: RegisterKind, register: int, candidate: int, last_wh: int, allowance: int
    ) -> int:
        """The register to attest: at most `allowance` Wh (what the meter's rating allows since
        the last reading) above the last one. A jump beyond it is held back, with a repair,
        until the household decides: released at the rating's pace (`releasing`) or discarded
        (`async_decide_jump`). Energy counted after the jump is attested as usual meanwhile."""
        adjustment = self._adjustment(kind)
        allowed = last_wh + allowance
        if adjustment.releasing:
            if candidate <= allowed:
                adjustment.releasing = False
            return min(candidate, allowed)
        # A register that fell back takes its jump with it.
        held = min(adjustment.held_wh, max(candidate - last_wh, 0))
        wh = min(candidate - held, allowed)
        adjustment.held_wh = candidate - wh
        if not adjustment.held_wh:
            async_clear_issue(self.hass, self.entry.entry_id, kind.implausible)
            return wh
        source = self.source if kind is IMPORT else self.export_source
        name = "" if source is None else source.name
        LOGGER.warning(
            "%s reads %s Wh, beyond the meter's rating: %s Wh attested, %s Wh held back",
            name,
            register,
            wh,
            adjustment.held_wh,
        )
        rating_w = self._exports()[1] if kind is EXPORT else self.coordinator.data.meter.max_power_w
        async_raise_issue(
            self.hass,
            self.entry.entry_id,
            kind.implausible,
            {
                "source": name,
                "wh": str(register),
                "attested_wh": str(wh - adjustment.offset),
                "held_wh": str(adjustment.held_wh),
                "rating_w": str(rating_w),
            },
            fix_data={"entry_id": self.entry.entry_id, "register": kind.name},
        )
        return wh

    async def async_record_exchange(self, new_register_wh: int, register: str = "import") -> None:
        """The household confirmed a new meter whose register started at `new_register_wh`:
        attestation resumes from the last attested register, so the on-chain register keeps
        rising and every Wh counted on the new meter is attested once."""
        kind = REGISTERS[register]
        async with self._lock:
            last_wh = self._baseline()[0] if kind is IMPORT else self._export_baseline()
            self.outbox.adjustments[kind.name] = Adjustment(offset=last_wh - new_register_wh)
            await self._async_save()
        for key in (kind.backwards, kind.implausible):
            async_clear_issue(self.hass, self.entry.entry_id, key)

    async def async_decide_jump(self, *, real: bool, register: str = "import") -> None:
        """The household's answer to an implausible jump: real (attest it at the rating's pace)
        or a glitch (never attest it: the offset drops it for good)."""
        kind = REGISTERS[register]
        async with self._lock:
            adjustment = self._adjustment(kind)
            if real:
                adjustment.releasing = True
            else:
                adjustment.offset -= adjustment.held_wh
            adjustment.held_wh = 0
            await self._async_save()
        async_clear_issue(self.hass, self.entry.entry_id, kind.implausible)

    async def async_flush(self) -> Receipt | None:
        """Submit the pending reading unless it already landed; keep it if it cannot go now.

        A reading whose transaction is recorded is settled from that transaction alone (its
        same signed bytes are handed to the node again while it is unmined); a new
        transaction is signed only once the recorded one is provably dead.
        """
        async with self._lock:
            if (pending := self.outbox.pending) is None:
                return None
            try:
                receipt = await self._async_send(pending)
            except InsufficientFundsError:
                async_raise_issue(
                    self.hass,
                    self.entry.entry_id,
                    ISSUE_WALLET_NO_GAS,
                    {"address": self.wallet.address},
                )
                raise
            except RevertedError as err:
                if err.name not in KEEP_ON_REVERT:
                    LOGGER.warning("Reading rejected by the contract: %s", err)
                    await self._settle(None)
                raise
            async_clear_issue(self.hass, self.entry.entry_id, ISSUE_WALLET_NO_GAS)
            reading = pending.signed.reading
            tx_hash = None if receipt is None else receipt.tx_hash
            block = None if receipt is None else receipt.block_number
            submitted = Submitted(reading.wh, reading.timestamp, tx_hash, block, reading.export_wh)
            await self._settle(submitted)
        await self.coordinator.async_refresh()
        return receipt

    async def _async_send(self, pending: PendingReading) -> Receipt | None:
        """The receipt of the reading's transaction; None when the reading landed otherwise."""
        if pending.tx is not None and (receipt := await self._async_settle_tx(pending.tx)):
            return receipt
        if await self.kind.async_last_timestamp() >= pending.signed.reading.timestamp:
            LOGGER.debug("Reading at %s already on-chain", pending.signed.reading.timestamp)
            return None
        async with self.wallet.nonce_lock:
            call = self.kind.submit_call(pending.signed)
            tx = await self.wallet.prepare("reading", call, retry=True)
            await self.wallet.sign(tx)
            pending.tx = tx
            await self._async_save()  # durable before the node sees it
            await self.wallet.first_broadcast([tx], self._async_save)
        receipt = await self._async_settle_tx(tx)
        if receipt is None:
            raise GridLedgerError("the reading's transaction was replaced; it is sent again")
        return receipt

    async def _async_settle_tx(self, tx: WalletTx) -> Receipt | None:
        """The recorded transaction's receipt; None when it is provably dead. A mined failure
        raises its decoded revert."""
        try:
            settled = await self.wallet.settle([tx], self._async_save)
        except TransactionRejectedError as err:
            raise err.error from err
        if (receipt := settled.receipt) is not None and not receipt.succeeded:
            raise await self.wallet.revert_reason(tx, receipt.block_number)
        return receipt

    async def _settle(self, submitted: Submitted | None) -> None:
        self.outbox.pending = None
        if submitted is not None:
            self.outbox.last_submitted = submitted
        await self._async_save()

    async def _async_save(self) -> None:
        await self.store.async_save(self.outbox.as_dict())

    async def async_submit_now(self) -> Receipt | None:
        """Take a reading and send it (or, when none can be taken now, the kept one).

        Raises `NoReadingError` when there is neither; None: the reading landed otherwise.
        """
        try:
            await self.async_take_reading()
        except NoReadingError:
            if self.outbox.pending is None:
                raise
        return await self.async_flush()

    async def _async_tick(self, _now: datetime | None = None) -> None:
        """The interval's reading."""
        await self._async_quietly(self.async_submit_now)
        if self._cancel_band_reading is None:  # after the reading: its timestamp comes first
            await self._async_schedule_band_reading()

    async def _async_schedule_band_reading(self) -> None:
        """Read at the next price edge: a time-of-use band change, on its dearer side, and the
        last second of the billing period (a new tariff version, or another tariff the operator
        moved the meter to, applies from a period's start). The ledger prices an interval that
        spans an edge at its dearer side as far as the meter's rating allows, so an honest
        household reads at each edge and no interval spans one. A feeder's readings have no
        price: it reads at the period's end, so each period holds the energy measured in it."""
        try:
            tariff = await self.kind.async_tariff()
        except GridLedgerError as err:  # the next interval tries again
            LOGGER.debug("Time-of-use bands not read: %s", err)
            return
        if self._stopped:
            return
        now = int(time.time())
        at = self.coordinator.info.period_end_after(now + 1) - 1
        if tariff is not None and (band := tariff.next_fair_reading(now)) is not None:
            at = min(at, band)
        self._cancel_band_reading = async_track_point_in_utc_time(
            self.hass, self._async_band_reading, dt_util.utc_from_timestamp(at)
        )

    async def _async_band_reading(self, _now: datetime) -> None:
        self._cancel_band_reading = None
        await self._async_tick()

    async def async_retry(self) -> None:
        """Send the kept reading now, if the node takes it."""
        await self._async_quietly(self.async_flush)

    async def _async_quietly(self, work: Callable[[], Awaitable[Receipt | None]]) -> None:
        """Background runs never raise: a repair, or the log, reports every failure, and
        `async_flush` decided what stays in the outbox."""
        try:
            await work()
        except NoReadingError as err:  # a repair says why once it matters
            LOGGER.debug("No reading taken: %s", err.translation_key)
        except GridLedgerError as err:
            LOGGER.debug("Reading not submitted now: %s", err)
        except Exception:
            LOGGER.exception("A background reading failed; the next interval tries again")

    @callback
    def async_start(self, interval: timedelta) -> CALLBACK_TYPE:
        """Read on the interval, counted from the last reading known (on-chain, sent or kept),
        so that a restart or a reload neither postpones the next reading nor doubles it; and
        retry the outbox whenever the node answers again."""
        timers: list[CALLBACK_TYPE] = []

        @callback
        def _first(_now: datetime) -> None:
            timers.append(
                async_track_time_interval(
                    self.hass, self._async_tick, interval, name=f"{DOMAIN} readings"
                )
            )
            self.entry.async_create_background_task(
                self.hass, self._async_tick(), f"{DOMAIN} reading"
            )

        due_in = self._baseline()[1] + interval.total_seconds() - time.time()
        if due_in > 0:
            timers.append(async_call_later(self.hass, due_in, _first))
        else:
            _first(dt_util.utcnow())

        @callback
        def _on_refresh() -> None:
            if self.coordinator.last_update_success and self.pending is not None:
                self.entry.async_create_background_task(
                    self.hass, self.async_retry(), f"{DOMAIN} outbox"
                )

        remove_listener = self.coordinator.async_add_listener(_on_refresh)
        self.entry.async_create_background_task(
            self.hass, self._async_schedule_band_reading(), f"{DOMAIN} band readings"
        )

        @callback
        def _stop() -> None:
            self._stopped = True
            for cancel in timers:
                cancel()
            remove_listener()
            if self._cancel_band_reading is not None:
                self._cancel_band_reading()

        return _stop
