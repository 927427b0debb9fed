"""Typed models mirroring the contract's data, in its own units (Wh, token base units, unix s)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settlement import SettlementState


class Mode(IntEnum):
    """How a household pays."""

    POSTPAID = 0
    PREPAID = 1


@dataclass(frozen=True, slots=True)
class LedgerInfo:
    """What the client learned about the node and the contract when it connected."""

    chain_id: int
    address: str
    version: str
    payment_token: str | None
    token_symbol: str
    token_decimals: int
    period_length: int
    permit_forever: int
    genesis: int  # unix time the first billing period starts
    max_clock_skew: int  # seconds a reading may be ahead of the block that includes it
    energy_token: str | None = None  # the kWh energy token; None: the ledger mints none

    def period_start(self, period: int) -> int:
        """When billing period `period` starts (unix s), as the contract counts periods."""
        return 0 if period == 0 else self.genesis + (period - 1) * self.period_length

    def period_end_after(self, timestamp: int) -> int:
        """When the period that holds `timestamp` ends (unix s)."""
        return timestamp + self.period_length - (timestamp - self.genesis) % self.period_length

    def period_of(self, timestamp: int) -> int:
        """The billing period that holds `timestamp` (0 before genesis), as the contract counts."""
        if timestamp < self.genesis:
            return 0
        return (timestamp - self.genesis) // self.period_length + 1


@dataclass(frozen=True, slots=True)
class Meter:
    """A meter's stored state (`IGridLedger.MeterInfo`)."""

    meter_id: int
    signer: str
    payer: str
    feeder_id: int
    tariff_id: int
    mode: Mode
    is_protected: bool
    last_wh: int
    last_timestamp: int
    max_power_w: int
    open_period: int
    period_start_wh: int  # the register when the open period began

    @classmethod
    def from_tuple(cls, meter_id: int, raw: tuple[Any, ...]) -> Meter:
        return cls(
            meter_id=meter_id,
            signer=str(raw[0]),
            payer=str(raw[1]),
            feeder_id=int(raw[2]),
            tariff_id=int(raw[3]),
            mode=Mode(int(raw[5])),
            is_protected=bool(raw[6]),
            last_wh=int(raw[7]),
            last_timestamp=int(raw[8]),
            max_power_w=int(raw[9]),
            open_period=int(raw[10]),
            period_start_wh=int(raw[11]),
        )

    @property
    def open_period_wh(self) -> int:
        """The import of the open period so far, not billed yet: what its bill will take."""
        return self.last_wh - self.period_start_wh


MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class TariffBand:
    """A time-of-use band: local minutes of the day in [start, end); start > end wraps."""

    start_minute: int
    end_minute: int
    price_per_kwh: int

    def covers(self, minute: int) -> bool:
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return self.start_minute > self.end_minute and (
            minute >= self.start_minute or minute < self.end_minute
        )


@dataclass(frozen=True, slots=True)
class Tariff:
    """The tariff version in force (`IGridLedger.Tariff`)."""

    price_per_kwh: int
    utc_offset_seconds: int
    low_credit_threshold: int
    bands: tuple[TariffBand, ...]

    @classmethod
    def from_tuple(cls, raw: tuple[Any, ...]) -> Tariff:
        return cls(
            price_per_kwh=int(raw[0]),
            utc_offset_seconds=int(raw[1]),
            low_credit_threshold=int(raw[3]),
            bands=tuple(TariffBand(int(b[0]), int(b[1]), int(b[2])) for b in raw[4]),
        )

    def price_at_minute(self, minute: int) -> int:
        """The price of a local minute of the day: the first band that covers it wins."""
        minute %= MINUTES_PER_DAY
        band = next((b for b in self.bands if b.covers(minute)), None)
        return self.price_per_kwh if band is None else band.price_per_kwh

    def next_fair_reading(self, now: int) -> int | None:
        """When (unix s, after `now`) a reading keeps the next band change fair, or None
        without bands. The ledger prices the energy since the last reading at the dearest band
        the minutes between them touch, so the reading goes on the dearer side of the change:
        the last second before a dearer band starts, the first second of a cheaper one."""
        edges = {minute for b in self.bands for minute in (b.start_minute, b.end_minute)}
        local = now + self.utc_offset_seconds
        midnight = local - local % 86_400 - self.utc_offset_seconds  # today's, in UTC
        times = []
        for day in (0, 1):
            for minute in edges:
                before, after = self.price_at_minute(minute - 1), self.price_at_minute(minute)
                if before == after:
                    continue
                change = midnight + day * 86_400 + minute * 60
                times.append(change - 1 if after > before else change)
        return min((t for t in times if t > now), default=None)


@dataclass(frozen=True, slots=True)
class Bill:
    """The meter's latest bill (period 0: none yet)."""

    period: int
    energy_wh: int
    amount: int
    due_at: int


@dataclass(frozen=True, slots=True)
class ProducerInfo:
    """A meter's producer state (`IGridLedgerProducers.ProducerInfo`): its export register and
    the energy tokens it earned and has not claimed (`pending_wh`)."""

    exports: bool
    redeem_tokens: bool
    max_export_w: int
    export_wh: int
    pending_wh: int
    bill_redeemed_wh: int  # of the latest bill's energy, already paid with tokens

    @classmethod
    def from_tuple(cls, raw: tuple[Any, ...]) -> ProducerInfo:
        return cls(
            exports=bool(raw[0]),
            redeem_tokens=bool(raw[1]),
            max_export_w=int(raw[2]),
            export_wh=int(raw[3]),
            pending_wh=int(raw[4]),
            bill_redeemed_wh=int(raw[5]),
        )


@dataclass(frozen=True, slots=True)
class ProducerState:
    """What a producer sees, read at the meter state's block: its export register, its tokens
    (Wh: one base unit of the 3-decimal token) and its tariff's feed-in price."""

    info: ProducerInfo
    token_balance_wh: int  # minted tokens the wallet holds
    feed_in_price_per_kwh: int  # payment-token base units; 0: the operator buys none back
    network_charge_per_kwh: int
    proceeds: int  # sell-back proceeds the wallet may withdraw

    @property
    def tokens_wh(self) -> int:
        """Every token the household can use: held, and earned but not claimed yet."""
        return self.token_balance_wh + self.info.pending_wh


@dataclass(frozen=True, slots=True)
class MeterState:
    """Everything a household sees about its meter, read at one block."""

    block_number: int
    block_timestamp: int
    meter: Meter
    balance: int
    amount_due: int
    bill: Bill
    permit_until: int
    price_per_kwh: int
    wallet_coin: int
    wallet_token: int | None
    producer: ProducerState | None = None  # None: the ledger has no energy token


BPS = 10_000  # basis points in a whole
UNRATED_W = 2**40 * 3_600  # a rating no register can outrun in a second: no bound at all


@dataclass(frozen=True, slots=True)
class Feeder:
    """A feeder's stored state (`IGridLedger.FeederInfo`): a transformer or plant meter with its
    own signer, under `parent_id` (0: a root)."""

    feeder_id: int
    signer: str
    parent_id: int
    loss_tolerance_bps: int
    last_wh: int
    last_timestamp: int
    max_power_w: int

    @classmethod
    def from_tuple(cls, feeder_id: int, raw: tuple[Any, ...]) -> Feeder:
        return cls(
            feeder_id=feeder_id,
            signer=str(raw[0]),
            parent_id=int(raw[1]),
            loss_tolerance_bps=int(raw[2]),
            last_wh=int(raw[3]),
            last_timestamp=int(raw[4]),
            max_power_w=int(raw[5]),
        )


@dataclass(frozen=True, slots=True)
class FeederPeriod:
    """A feeder's energy balance in one period (`IGridLedger.FeederPeriod`): what its own meter
    measured, and what its children reported. A household meter's energy counts there when the
    meter closes the period (its first reading of a later one), a child feeder's as it reads;
    `checked`: the ledger compared the two (`LossChecked`)."""

    period: int
    feeder_wh: int
    children_wh: int
    checked: bool

    @property
    def loss_bps(self) -> int | None:
        """The share of the feeder's energy its children did not report, in basis points,
        rounded toward zero as the ledger's `LossDetected` states it; negative when they
        reported more than the feeder measured. None: the feeder measured nothing."""
        if self.feeder_wh == 0:
            return None
        lost = self.feeder_wh - self.children_wh
        return (1 if lost >= 0 else -1) * (abs(lost) * BPS // self.feeder_wh)

    def exceeds(self, tolerance_bps: int) -> bool:
        """The ledger's rule for `LossDetected`: more lost than the tolerance."""
        loss = self.loss_bps
        return loss is not None and loss > tolerance_bps


@dataclass(frozen=True, slots=True)
class FeederState:
    """Everything a feeder's operator sees about it, read at one block.

    `compared` is the newest period the ledger compares with the feeder's children (two periods
    back: its household meters have closed it by then), or the one before while that one waits
    for the feeder's first reading of the new period, which checks it.

    `settlement`: the feeder party's share from the Settlement contract (when the entry names
    one), read at the same block: its newest settled period and what the feeder's key is owed.
    """

    block_number: int
    block_timestamp: int
    feeder: Feeder
    open: FeederPeriod  # the period of the block: the feeder's energy so far
    compared: FeederPeriod
    wallet_coin: int  # the feeder key's coin: it pays the readings' gas
    settlement: SettlementState | None = None

    @property
    def meter(self) -> Feeder:
        """The feeder's own meter as the reading pipeline bounds any meter's register. The
        ledger takes a feeder's first register as it comes (power is checked from the second
        reading on), so a feeder that never read (register 0 on-chain) is not held to its
        rating."""
        if self.feeder.last_wh == 0:
            return replace(self.feeder, max_power_w=UNRATED_W)
        return self.feeder

    @property
    def producer(self) -> None:
        """A feeder's readings carry one register: no export, no energy tokens."""
        return None

    @property
    def loss_detected(self) -> bool:
        """The ledger checked the compared period and found more lost than the tolerance (the
        feeder's tolerance now: one the operator changed since is applied to it anew)."""
        return self.compared.checked and self.compared.exceeds(self.feeder.loss_tolerance_bps)


@dataclass(frozen=True, slots=True)
class Reading:
    """A meter's cumulative registers at a time: what the meter key signs. With `export_wh` it
    is a `BidirectionalReading` (import OBIS 1.8.0 in `wh`, export OBIS 2.8.0), else a
    `Reading` of the import register alone. A feeder's `FeederReading` carries the feeder's id
    in `meter_id` and no export register."""

    meter_id: int
    wh: int
    timestamp: int
    export_wh: int | None = None


@dataclass(frozen=True, slots=True)
class SignedReading:
    """A reading with its 65-byte (r, s, v) signature."""

    reading: Reading
    signature: bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "meter_id": self.reading.meter_id,
            "wh": self.reading.wh,
            "export_wh": self.reading.export_wh,
            "timestamp": self.reading.timestamp,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignedReading:
        export_wh = data.get("export_wh")  # absent in readings kept before export existed
        return cls(
            Reading(
                int(data["meter_id"]),
                int(data["wh"]),
                int(data["timestamp"]),
                None if export_wh is None else int(export_wh),
            ),
            bytes.fromhex(str(data["signature"])),
        )


@dataclass(frozen=True, slots=True)
class ContractCall:
    """A call the wallet is to send: target, ABI-encoded data, coin sent along (wei), and the
    least gas it is sent with (its cost may depend on the block it lands in)."""

    to: str
    data: str
    value: int = 0
    min_gas: int = 0


@dataclass(frozen=True, slots=True)
class Receipt:
    """A mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    effective_gas_price: int
    succeeded: bool = True


@dataclass(slots=True)
class SignedTx:
    """One signed variant of a wallet transaction: the exact bytes the node is handed."""

    hash: str
    raw: str
    max_fee: int
    priority: int
    accepted: bool = False  # a node took it once

    def as_dict(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "raw": self.raw,
            "max_fee": self.max_fee,
            "priority": self.priority,
            "accepted": self.accepted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignedTx:
        return cls(
            hash=str(data["hash"]),
            raw=str(data["raw"]),
            max_fee=int(data["max_fee"]),
            priority=int(data["priority"]),
            accepted=bool(data.get("accepted", False)),
        )


@dataclass(slots=True)
class WalletTx:
    """A transaction of the wallet at one nonce, with every variant signed for it (fee bumps
    re-sign the same call at the same nonce, so at most one variant is ever mined)."""

    role: str
    to: str
    data: str
    value: int
    gas: int
    nonce: int
    max_fee: int
    priority: int
    variants: list[SignedTx] = field(default_factory=list)
    # The newest block when the nonce was read as unused: whatever transaction takes the nonce is
    # in a later block. None in records made before it was kept.
    after_block: int | None = None

    @property
    def newest(self) -> SignedTx | None:
        return self.variants[-1] if self.variants else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "to": self.to,
            "data": self.data,
            "value": self.value,
            "gas": self.gas,
            "nonce": self.nonce,
            "max_fee": self.max_fee,
            "priority": self.priority,
            "variants": [variant.as_dict() for variant in self.variants],
            "after_block": self.after_block,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WalletTx:
        return cls(
            role=str(data["role"]),
            to=str(data["to"]),
            data=str(data["data"]),
            value=int(data["value"]),
            gas=int(data["gas"]),
            nonce=int(data["nonce"]),
            max_fee=int(data["max_fee"]),
            priority=int(data["priority"]),
            variants=[SignedTx.from_dict(variant) for variant in data["variants"]],
            after_block=None if data.get("after_block") is None else int(data["after_block"]),
        )


# A log filter's topics by position: one value, any of several, or None for any.
type Topics = list[str | list[str] | None]


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """A decoded contract event."""

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int
