"""Money and energy units: the contract's integers (token base units, wei, Wh) as Home Assistant
shows them, and the household's figures back as base units. The only place that converts."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
import math
from typing import Final

from homeassistant.const import UnitOfEnergy
from homeassistant.util.unit_conversion import EnergyConverter

COIN_DECIMALS: Final = 18  # wei per coin (ETH and every EVM chain's native coin)
MAX_REGISTER_WH: Final = 2**40 - 1  # the ledger's register field (`MeterState.MAX_WH`)
MAX_DIGITS: Final = 20  # decimal exponent beyond which a register is absurd in any energy unit


def energy_wh(value: str, unit: str | None) -> int | None:
    """A register state in any energy unit Home Assistant knows, as whole Wh rounded down (never
    attest more than was measured); None when the unit is not an energy unit. Home Assistant's
    own ratio is taken to a double's 15 significant digits and applied in decimal arithmetic, so
    3.6 MJ is exactly 1,000 Wh and 1 GWh exactly 10^9 Wh. Raises `InvalidOperation` when the
    state is not a number, `OverflowError` when it is infinite, NaN or far beyond any register."""
    if unit not in EnergyConverter.VALID_UNITS:
        return None
    per_wh = EnergyConverter.get_unit_ratio(unit, UnitOfEnergy.WATT_HOUR)  # `unit`s in one Wh
    number = Decimal(value.strip())
    if not number.is_finite() or number.adjusted() > MAX_DIGITS:
        raise OverflowError(value)
    wh = number / Decimal(f"{per_wh:.15g}")
    return int(wh.to_integral_value(rounding=ROUND_FLOOR))


def display_amount(amount: int, decimals: int) -> float:
    """Base units as a JSON number in display units; its size never below the exact amount's,
    so an approval of the shown figure always covers the bill."""
    exact = Decimal(abs(amount)).scaleb(-decimals)
    shown = float(exact)
    if Decimal(str(shown)) < exact:
        shown = math.nextafter(shown, math.inf)
    return -shown if amount < 0 else shown


def base_units(
    amount: float | Decimal, decimals: int, *, rounding: str | None = None
) -> int | None:
    """Display units as base units. With no `rounding` (an amount to pay), None when the amount
    has more decimals than the currency; limits round with `ROUND_CEILING` or `ROUND_FLOOR`."""
    scaled = Decimal(str(amount)).scaleb(decimals)
    whole = scaled.to_integral_value(rounding=rounding or ROUND_CEILING)
    if whole != scaled and rounding is None:
        return None
    return int(whole)


def kwh(wh: int) -> float:
    """Watt-hours as kilowatt-hours."""
    return wh / 1_000


def percent(bps: int) -> float:
    """Basis points as a percentage."""
    return bps / 100
