"""Money and energy units: the contract's integers (token base units, wei, Wh) as Home Assistant
shows them, and the household's figures back as base units. The only place that converts."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
import math
from typing import Final

from homeassistant.const import UnitOfEnergy

COIN_DECIMALS: Final = 18  # wei per coin (ETH and every EVM chain's native coin)
WH_PER_UNIT: Final = {
    UnitOfEnergy.WATT_HOUR: 1,
    UnitOfEnergy.KILO_WATT_HOUR: 1_000,
    UnitOfEnergy.MEGA_WATT_HOUR: 1_000_000,
}


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
    return wh / WH_PER_UNIT[UnitOfEnergy.KILO_WATT_HOUR]
