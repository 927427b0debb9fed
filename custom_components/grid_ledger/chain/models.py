"""Typed models mirroring the contract's data, in its own units (Wh, token base units, unix s)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


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
    max_clock_skew: int  # seconds a reading may be ahead of the block that includes it


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
        )


@dataclass(frozen=True, slots=True)
class Bill:
    """The meter's latest bill (period 0: none yet)."""

    period: int
    energy_wh: int
    amount: int
    due_at: int


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


@dataclass(frozen=True, slots=True)
class Reading:
    """A meter's cumulative register at a time: what the meter key signs."""

    meter_id: int
    wh: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class SignedReading:
    """A reading with its 65-byte (r, s, v) signature."""

    reading: Reading
    signature: bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "meter_id": self.reading.meter_id,
            "wh": self.reading.wh,
            "timestamp": self.reading.timestamp,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignedReading:
        return cls(
            Reading(int(data["meter_id"]), int(data["wh"]), int(data["timestamp"])),
            bytes.fromhex(str(data["signature"])),
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """A mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    effective_gas_price: int


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """A decoded contract event."""

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int
