"""Time-of-use fairness: the ledger prices the energy between two readings at the dearest band
their minutes touch, so the integration signs a reading on the dearer side of each band change."""

from __future__ import annotations

from datetime import UTC, datetime
import time

from eth_account import Account
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from web3 import Web3

from custom_components.grid_ledger.chain import Tariff, TariffBand, generate_private_key
from tests.chain_fixtures import PREPAID

from .conftest import LocalChain, MeterSetup, make_entry, set_register
from .test_readings import on_chain, setup, submit

DAY = 86_400


def tariff(*bands: tuple[int, int, int], offset: int = 0) -> Tariff:
    return Tariff(100, offset, 0, tuple(TariffBand(*band) for band in bands))


def at(day_seconds: int, day: int = 0) -> int:
    """A UTC instant on 2026-11-25 (plus `day` days)."""
    return 1_795_564_800 + day * DAY + day_seconds  # 2026-11-25T00:00:00Z


def test_the_reading_goes_on_the_dearer_side_of_each_band_change() -> None:
    peak = tariff((7 * 60, 22 * 60, 300), offset=3600)  # 07:00-22:00 local, UTC+1
    assert peak.next_fair_reading(at(5 * 3600)) == at(6 * 3600 - 1)  # before the dear band
    assert peak.next_fair_reading(at(6 * 3600 - 1)) == at(21 * 3600)  # into the cheap night
    assert peak.next_fair_reading(at(22 * 3600)) == at(6 * 3600 - 1, day=1)


def test_band_edges_that_change_no_price_need_no_reading() -> None:
    assert tariff().next_fair_reading(at(0)) is None
    same = tariff((60, 120, 100))  # a band at the base price
    assert same.next_fair_reading(at(0)) is None
    night = tariff((22 * 60, 6 * 60, 50), (6 * 60, 22 * 60, 50))  # wraps midnight, equal prices
    assert night.next_fair_reading(at(0)) is None


def test_a_band_over_midnight_and_a_cheaper_one_inside_a_dearer_one() -> None:
    bands = tariff((23 * 60, 1 * 60, 400), (12 * 60, 13 * 60, 50))
    assert bands.next_fair_reading(at(11 * 3600)) == at(12 * 3600)  # cheaper: first second
    assert bands.next_fair_reading(at(12 * 3600)) == at(13 * 3600 - 1)  # dearer: last second
    assert bands.next_fair_reading(at(13 * 3600)) == at(23 * 3600 - 1)
    assert bands.next_fair_reading(at(23 * 3600)) == at(3600, day=1)


@pytest.mark.usefixtures("socket_enabled")
async def test_a_reading_at_each_band_change_keeps_cheap_energy_cheap(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    ledger = local_chain.ledger
    now = int(time.time())
    minute = now % DAY // 60
    start, end = (minute + 2) % 1440, (minute + 4) % 1440
    ledger.deployment.set_tariff(2, 1_000, [(start, end, 3_000)])
    meter_key = generate_private_key()
    meter_id = 4_242
    payer, payer_key = ledger.anvil.accounts[1]
    ledger.deployment.register_meter(
        meter_id,
        Account.from_key(meter_key).address,
        Web3.to_checksum_address(payer),
        tariff_id=2,
        mode=PREPAID,
        initial_wh=1_000,
    )
    meter = MeterSetup(meter_id, meter_key, Web3.to_checksum_address(payer), payer_key)
    await set_register(hass, 1.0)
    entry = make_entry(ledger, meter)
    await setup(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)

    def balance() -> int:
        return int(ledger.contract.functions.meterBalance(meter_id).call())

    async def at_time(moment: int) -> None:
        when = datetime.fromtimestamp(moment, UTC)
        freezer.move_to(when)
        async_fire_time_changed(hass, when)
        await hass.async_block_till_done(wait_background_tasks=True)

    dear_from = now - now % 60 + 120
    before = balance()
    await at_time(dear_from - 1)  # the last second before the dear band
    assert on_chain(ledger, meter_id) == (1_000, dear_from - 1)
    await set_register(hass, 1.5)  # half a kWh in the dear band
    await at_time(dear_from + 120)  # the first second of the cheap one
    assert on_chain(ledger, meter_id) == (1_500, dear_from + 120)
    assert before - balance() == 1_500  # 0.5 kWh at 3,000 per kWh

    before = balance()
    await set_register(hass, 2.0)  # half a kWh in the cheap band after it
    ledger.anvil.increase_time(dear_from + 720 - ledger.anvil.timestamp())
    freezer.move_to(datetime.fromtimestamp(dear_from + 720, UTC))
    assert (await submit(hass, entry))["wh"] == 2_000
    assert before - balance() == 500  # cheap, although the reading before it was in the dear band
