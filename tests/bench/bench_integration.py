"""Home Assistant integration figures, on a fresh anvil with the contracts deployed.

- energy register changed, then `grid_ledger.submit_reading` → reading mined (median, p95);
- readings signed per second (meter key, coincurve), and signed + submitted + mined per second;
- config entry setup time (median);
- resident memory added by importing and setting up the integration.

    python -m tests.bench.bench_integration
"""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path
import statistics
import subprocess
import sys
import time

from tests.anvil import REPO, Anvil
from tests.bench import Row
from tests.bench.home_assistant import bench_home_assistant
from tests.chain_fixtures import build_contracts

AREA = "integration"
READINGS = 60
SIGNATURES = 5_000
SUBMISSIONS = 60
SETUPS = 5


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


IMPORT_PROBE = """
import gc, os
from pathlib import Path
def rss():
    gc.collect()
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
import homeassistant.core, homeassistant.helpers.entity_platform, aiohttp
before = rss()
import custom_components.grid_ledger
import custom_components.grid_ledger.config_flow, custom_components.grid_ledger.sensor
import custom_components.grid_ledger.binary_sensor, custom_components.grid_ledger.button
import custom_components.grid_ledger.diagnostics
print((rss() - before) / 2**20)
"""


def _import_memory_mb() -> float:
    """RSS that importing the integration adds to a fresh interpreter with HA core loaded."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], check=True, capture_output=True, text=True, cwd=REPO
    )
    return float(result.stdout.strip().splitlines()[-1])


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def _measure(node: Anvil) -> list[Row]:
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    rows: list[Row] = []
    async with bench_home_assistant() as hass:
        from custom_components.grid_ledger.chain import (
            GridLedgerClient,
            Reading,
            ReadingSigner,
            Wallet,
        )
        from tests.ha.conftest import (
            ENERGY_ENTITY,
            RELAY_ENTITY,
            deploy,
            make_entry,
            register_meter,
        )

        ledger = deploy(node, token=True)
        entries: list[MockConfigEntry] = []

        async def set_register(wh: int) -> None:
            hass.states.async_set(
                ENERGY_ENTITY,
                str(wh),
                {"unit_of_measurement": "Wh", "device_class": "energy"},
            )
            await hass.async_block_till_done()

        await set_register(1_000)
        hass.states.async_set(RELAY_ENTITY, "on")
        gc.collect()
        before = _rss_mb()
        setup_times = []
        for _ in range(SETUPS):
            entry = make_entry(ledger, register_meter(ledger))
            entry.add_to_hass(hass)
            started = time.perf_counter()
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            setup_times.append(time.perf_counter() - started)
            entries.append(entry)
        gc.collect()
        added = _rss_mb() - before
        rows.append(
            Row(AREA, "config entry setup, median", statistics.median(setup_times) * 1e3, "ms")
        )
        rows.append(
            Row(AREA, "memory added by importing the integration", _import_memory_mb(), "MiB")
        )
        rows.append(Row(AREA, "memory added per set-up entry", added / SETUPS, "MiB"))

        entry = entries[0]
        latencies = []
        for wh in range(1_001, 1_001 + READINGS):
            started = time.perf_counter()
            await set_register(wh)
            response = await hass.services.async_call(
                "grid_ledger",
                "submit_reading",
                {"config_entry_id": entry.entry_id},
                blocking=True,
                return_response=True,
            )
            latencies.append(time.perf_counter() - started)
            assert response is not None
            assert response["wh"] == wh
        rows.append(
            Row(
                AREA,
                "register change + submit_reading → mined, median",
                statistics.median(latencies) * 1e3,
                "ms",
            )
        )
        rows.append(
            Row(
                AREA,
                "register change + submit_reading → mined, p95",
                _p95(latencies) * 1e3,
                "ms",
            )
        )

        meter = register_meter(ledger)
        signer = ReadingSigner(meter.meter_key, ledger.anvil.chain_id, ledger.address)
        started = time.perf_counter()
        for i in range(SIGNATURES):
            signer.sign(Reading(meter.meter_id, 1_000 + i, 1_800_000_000 + i))
        rows.append(
            Row(AREA, "readings signed", SIGNATURES / (time.perf_counter() - started), "/s")
        )

        client = GridLedgerClient(ledger.anvil.rpc_url, ledger.address)
        await client.connect()
        wallet = Wallet(client, meter.wallet_key)
        timestamp = int(ledger.contract.functions.meter(meter.meter_id).call()[8])
        started = time.perf_counter()
        for i in range(1, SUBMISSIONS + 1):
            signed = signer.sign(Reading(meter.meter_id, 1_000 + i, timestamp + i))
            await wallet.send(client.submit_reading_call(signed))
        rows.append(
            Row(
                AREA,
                "readings signed + submitted + mined, one wallet",
                SUBMISSIONS / (time.perf_counter() - started),
                "/s",
            )
        )
        await client.close()
        for entry in entries:
            await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    return rows


def run() -> list[Row]:
    build_contracts()
    with Anvil() as node:
        return asyncio.run(_measure(node))


if __name__ == "__main__":
    for row in run():
        print(row, file=sys.stdout)
