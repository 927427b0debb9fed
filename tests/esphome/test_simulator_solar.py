"""The simulator's solar profile against the import and export registers.

The same session build as the other simulator tests: solar is switched on over the API
("Simulated PV peak" and "Simulated day length" numbers), never by a second compile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
import signal
import time

from tests.esphome.simulator import SimulatorClient, SimulatorProcess

HOUR = 3600
# One simulated day in 30 s: 1.25 s per simulated hour, sampled once a second.
DAY_S = 30.0
# Against the 800..1600 W test load, PV exceeds the load from about 08:30 to 15:30.
# Its current at peak (13 A) stays under the 16 A cut-off of the test build.
PV_PEAK_W = 3000.0
MIDDAY = (10.5, 13.5)
# Sunrise 06:00, sunset 18:00: no PV at all outside these hours.
NIGHT_FROM, NIGHT_UNTIL = 19.5, 4.5


@dataclass(frozen=True)
class Row:
    """The client's latest view of the meter at one moment."""

    at: float
    hour: float
    load_w: float
    pv_w: float
    imported_wh: float
    exported_wh: float


def _float(client: SimulatorClient, object_id: str) -> float:
    value = client.value(object_id)
    assert isinstance(value, float), f"{object_id} is {value!r}"
    return value


def _row(client: SimulatorClient) -> Row:
    return Row(
        at=time.monotonic(),
        hour=_float(client, "simulated_hour_of_day"),
        load_w=_float(client, "simulated_load_power"),
        pv_w=_float(client, "solar_power"),
        imported_wh=_float(client, "energy"),
        exported_wh=_float(client, "energy_exported"),
    )


def _longest_run(rows: list[Row], condition: Callable[[float], bool]) -> list[Row]:
    """The longest stretch of consecutive rows whose simulated hour satisfies condition."""
    best: list[Row] = []
    run: list[Row] = []
    for row in rows:
        if condition(row.hour):
            run.append(row)
            if len(run) > len(best):
                best = list(run)
        else:
            run = []
    return best


async def test_without_solar_nothing_is_exported(simulator: SimulatorProcess) -> None:
    async with SimulatorClient(simulator.port) as client:
        await client.wait_for(lambda: client.value("energy_exported") is not None, 5, "export")
        await client.wait_for(lambda: _float(client, "energy") > 0, 5, "import > 0")
        start = _row(client)
        await asyncio.sleep(3)
        end = _row(client)
        assert end.pv_w == 0.0
        # The test build's day starts at 09:00 and lasts the default 300 s.
        assert 9.0 <= start.hour < end.hour < 10.0
        assert _float(client, "power") == end.load_w > 0
        assert end.exported_wh == start.exported_wh == 0.0
        assert end.imported_wh > start.imported_wh


async def test_solar_exports_at_midday_and_imports_at_night(
    simulator: SimulatorProcess,
) -> None:
    async with SimulatorClient(simulator.port) as client:
        client.set_solar(PV_PEAK_W, DAY_S)
        await client.wait_value("simulated_day_length", DAY_S)
        await client.wait_value("simulated_pv_peak", PV_PEAK_W)
        await client.wait_for(lambda: client.value("energy_exported") is not None, 5, "export")
        await asyncio.sleep(1.5)  # one sample with the new profile

        rows = [_row(client)]
        while rows[-1].at - rows[0].at < 1.25 * DAY_S:
            await asyncio.sleep(0.05)
            rows.append(_row(client))

    # Both registers only ever grow.
    for before, after in pairwise(rows):
        assert after.imported_wh >= before.imported_wh
        assert after.exported_wh >= before.exported_wh

    # Midday: PV above the load, so only the export register moves.
    midday = _longest_run(rows, lambda hour: MIDDAY[0] <= hour <= MIDDAY[1])
    assert midday[-1].at - midday[0].at >= 2.5, "no midday observed"
    assert all(row.pv_w > row.load_w for row in midday)
    assert midday[-1].exported_wh - midday[0].exported_wh > 0.3
    assert midday[-1].imported_wh == midday[0].imported_wh

    # Night: no PV, so only the import register moves.
    night = _longest_run(rows, lambda hour: hour >= NIGHT_FROM or hour <= NIGHT_UNTIL)
    assert night[-1].at - night[0].at >= 6, "no night observed"
    assert all(row.pv_w == 0.0 for row in night)
    assert night[-1].imported_wh - night[0].imported_wh > 0.5
    assert night[-1].exported_wh == night[0].exported_wh

    # Conservation: import minus export is the integral of load minus PV over the day,
    # taken from sample to sample (a new simulated hour marks each sample).
    samples = [row for before, row in pairwise(rows) if row.hour != before.hour]
    net_wh = through_wh = 0.0
    for before, after in pairwise(samples):
        hours = (after.at - before.at) / HOUR
        net_before, net_after = before.load_w - before.pv_w, after.load_w - after.pv_w
        net_wh += (net_before + net_after) / 2 * hours
        through_wh += (abs(net_before) + abs(net_after)) / 2 * hours
    registers_wh = (samples[-1].imported_wh - samples[0].imported_wh) - (
        samples[-1].exported_wh - samples[0].exported_wh
    )
    assert through_wh > 5
    assert abs(registers_wh - net_wh) <= 0.01 * through_wh, (registers_wh, net_wh, through_wh)

    # The export register is restored like the import one.
    exported = rows[-1].exported_wh
    await asyncio.sleep(0.5)
    simulator.restart(signal.SIGTERM)
    async with SimulatorClient(simulator.port) as client:
        await client.wait_for(
            lambda: client.value("energy_exported") is not None, 5, "export after restart"
        )
        assert _float(client, "energy_exported") >= exported > 0
        # Solar is a run-time setting: a restart is back to the build's default (off).
        await client.wait_value("simulated_pv_peak", 0.0)
