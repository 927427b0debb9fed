"""Readings on a chain that mines only on transactions: no reading waits for a block that no one
else will mine."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .conftest import RELAY_ENTITY, LocalChain, make_entry, register_meter, set_register

# `ledger` builds the contracts that `local_chain` deploys.
pytestmark = pytest.mark.usefixtures("socket_enabled", "ledger")


async def test_readings_keep_landing_while_no_block_follows(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    """Automine only (no interval mining), and nobody else transacts: Home Assistant's clock runs
    ahead of the latest block by more than the ledger's clock skew, interval after interval."""
    ledger = local_chain.ledger
    skew = int(ledger.contract.functions.maxClockSkew().call())
    meter = register_meter(ledger)
    await set_register(hass, 1.0)
    hass.states.async_set(RELAY_ENTITY, "on")
    entry = make_entry(ledger, meter)  # a reading every 15 minutes
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert skew < 15 * 60
    landed: list[tuple[int, int]] = []
    for interval in range(1, 5):
        # The node's clock runs in real time: a second on, the reading's own block is later
        # than the last one, which is all the chain moves by.
        await asyncio.sleep(1.1)
        await set_register(hass, 1.0 + interval / 1000)
        freezer.tick(timedelta(minutes=15))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        info = ledger.contract.functions.meter(meter.meter_id).call()
        block = ledger.w3.eth.get_block("latest")
        landed.append((int(info[7]), int(info[8])))
        assert landed[-1][0] == 1000 + interval, f"interval {interval}: {landed}"
        assert landed[-1][1] <= int(block["timestamp"]) + skew
    timestamps = [timestamp for _, timestamp in landed]
    assert timestamps == sorted(set(timestamps))
