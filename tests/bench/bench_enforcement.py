"""Permit enforcement latency, wall clock, against anvil and Home Assistant's test harness.

- `permitUntil` → relay off: from the permit's end (epoch second) to the relay switch reporting
  off. The trip runs from a point-in-time callback at `permitUntil`, which first reads the
  contract once more.
- payment sent → relay on: from broadcasting the payment to the relay switch reporting on, so
  the wait for its block is included (an upper bound on mined → relay on). The contract's
  `PaymentReceived`/`PermitChanged` events reach the integration by block polling (HTTP, every
  2 s) or a log subscription (WebSocket).

anvil mines a block every 2 s (an L2-like chain), so the payment target is 1 block + 1 s = 3 s.
Each sample is a fresh ledger whose period ends a set-up budget after the sample starts, one
meter that used energy (its bill is unpaid at the period's end), and a real template switch as
the relay.

    python -m tests.bench.bench_enforcement
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from tests.anvil import Anvil
from tests.bench import Row
from tests.bench.home_assistant import bench_home_assistant
from tests.chain_fixtures import LedgerConfig, build_contracts, deploy_ledger, web3_for

AREA = "enforcement"
SAMPLES = 5
BLOCK_TIME = 2
PERIOD = 3600
# Seconds from the start of a sample's set-up to its permit's end: deployment, registration,
# the reading and the entry's set-up must all be done by then. They take about two seconds, but
# on a machine shared with test runs they took over the four seconds once given, so the reading
# landed after the period and the permit ended elsewhere.
SETUP_BUDGET = 12


async def _sample(hass: Any, node: Anvil, rpc_url: str) -> tuple[float, float]:
    """One trip and one restore: (seconds after permitUntil, seconds after the payment was sent)."""
    from eth_account import Account
    from homeassistant.core import Event, callback
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from custom_components.grid_ledger.const import CONF_READING_INTERVAL, DOMAIN
    from tests.ha.conftest import Ledger, entry_data, register_meter, set_register
    from tests.ha.enforcement_fixtures import Grid

    node.rpc("evm_setAutomine", True)  # set-up at once; blocks every 2 s from the entry on
    started = time.time()
    genesis = node.timestamp() - PERIOD + SETUP_BUDGET
    config = LedgerConfig(period_length=PERIOD, payment_window=0, grace=0, genesis=genesis)
    period_end = genesis + PERIOD
    deployment = await hass.async_add_executor_job(
        lambda: deploy_ledger(web3_for(node), node.accounts[0][1], token=False, config=config)
    )
    ledger = Ledger(node, deployment)
    meter = await hass.async_add_executor_job(register_meter, ledger)
    grid = Grid(node, ledger, meter, freezer=None)  # type: ignore[arg-type]
    signer = Account.from_key(meter.meter_key)
    stamp = node.timestamp() + 3
    _within_budget(stamp, period_end, started, "the reading")
    signature = deployment.sign_reading(signer, meter.meter_id, 1_002, stamp)
    await hass.async_add_executor_job(
        deployment.transact,
        ledger.contract.functions.submitReading((meter.meter_id, 1_002, stamp), signature),
    )
    until = grid.permit_until()
    if until != period_end:
        raise RuntimeError(f"the permit ends at {until}, not at the period's end {period_end}")
    node.rpc("evm_setIntervalMining", BLOCK_TIME)
    await set_register(hass, 1.002)

    changes: list[tuple[str, float]] = []

    @callback
    def _on_relay(event: Event[Any]) -> None:
        if event.data["entity_id"] == "switch.house_supply" and event.data["new_state"]:
            changes.append((event.data["new_state"].state, time.time()))

    remove = hass.bus.async_listen("state_changed", _on_relay)
    entry = MockConfigEntry(
        domain=DOMAIN,
        data=entry_data(ledger, meter, rpc_url),
        options={CONF_READING_INTERVAL: 1440},
    )
    entry.add_to_hass(hass)
    if not await hass.config_entries.async_setup(entry.entry_id):
        raise RuntimeError(f"the entry did not set up: {entry.state}")
    await hass.async_block_till_done()
    _within_budget(time.time(), until, started, "the entry's set-up")
    try:
        while not any(state == "off" for state, _ in changes):
            assert time.time() < until + 30, "no trip"
            await asyncio.sleep(0.01)
        tripped_after = next(at for state, at in changes if state == "off") - until

        while node.timestamp() < until:  # the bill exists from the first block past the period
            assert time.time() < until + 30, "no block past the period"
            await asyncio.sleep(0.1)
        due = grid.amount_due()
        if due <= 0:
            raise RuntimeError("no bill at the period's end: the trip has nothing to restore")
        payer = Account.from_key(meter.wallet_key)
        call = ledger.contract.functions.payBill(meter.meter_id)

        changes.clear()
        sent = time.time()  # the block wait is inside the figure: an upper bound on mined → on
        await hass.async_add_executor_job(
            lambda: deployment.transact(call, sender=payer, value=due)
        )
        while not any(state == "on" for state, _ in changes):
            assert time.time() < sent + 30, "no restore"
            await asyncio.sleep(0.01)
        restored_after = next(at for state, at in changes if state == "on") - sent
    finally:
        remove()
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    return tripped_after, restored_after


def _within_budget(moment: float, period_end: int, started: float, what: str) -> None:
    """A sample whose set-up runs into its permit's end would time nothing: say so."""
    if moment >= period_end - 1:
        raise RuntimeError(
            f"{what} came {time.time() - started:.1f} s into the sample, too late for a permit "
            f"ending {SETUP_BUDGET} s after it started"
        )


async def _measure(node: Anvil) -> list[Row]:
    from tests.ha.enforcement_fixtures import setup_relay

    rows: list[Row] = []
    async with bench_home_assistant() as hass:
        await setup_relay(hass)
        for transport, url in (("HTTP polling", node.rpc_url), ("WebSocket", node.ws_url)):
            trips, restores = [], []
            for _ in range(SAMPLES):
                await hass.services.async_call(
                    "input_boolean", "turn_on", {"entity_id": "input_boolean.supply"}
                )
                tripped, restored = await _sample(hass, node, url)
                trips.append(tripped)
                restores.append(restored)
            rows += [
                Row(
                    AREA,
                    f"permitUntil → relay off, {transport}, median",
                    statistics.median(trips) * 1e3,
                    "ms",
                    "≤ 1000 ms",
                ),
                Row(
                    AREA,
                    f"permitUntil → relay off, {transport}, max",
                    max(trips) * 1e3,
                    "ms",
                    "≤ 1000 ms",
                ),
                Row(
                    AREA,
                    f"payment sent → relay on, {transport}, median",
                    statistics.median(restores) * 1e3,
                    "ms",
                    f"≤ {BLOCK_TIME * 1000 + 1000} ms (1 block + 1 s)",
                ),
                Row(
                    AREA,
                    f"payment sent → relay on, {transport}, max",
                    max(restores) * 1e3,
                    "ms",
                    f"≤ {BLOCK_TIME * 1000 + 1000} ms (1 block + 1 s)",
                ),
            ]
    return rows


def run() -> list[Row]:
    build_contracts()
    with Anvil(block_time=BLOCK_TIME) as node:
        return asyncio.run(_measure(node))


if __name__ == "__main__":
    for row in run():
        print(f"{row.metric:55} {row.value:10.1f} {row.unit:4} {row.target}")
