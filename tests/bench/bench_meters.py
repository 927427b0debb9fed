"""Meter figures: simulator firmware compile times and IEC 62056-21 parser throughput."""

from __future__ import annotations

import asyncio
import time

from custom_components.grid_ledger.meters.iec62056 import (
    MeterIdentification,
    read_meter,
    readout_from_message,
)
from tests.bench import Row
from tests.esphome.simulator import TEST_SUBSTITUTIONS, compile_simulator
from tests.meters.emulator import DEFAULT_MESSAGE, MeterEmulator

AREA = "meters"
# A build of its own, so the cold figure never wipes the test suite's build.
BENCH_SUBSTITUTIONS = {**TEST_SUBSTITUTIONS, "name": "grid-ledger-sim-bench"}


def _compile_rows() -> list[Row]:
    cold = compile_simulator(BENCH_SUBSTITUTIONS, clean=True)
    warm = compile_simulator(BENCH_SUBSTITUTIONS)
    edited = compile_simulator({**BENCH_SUBSTITUTIONS, "sim_base_power_w": "1300"})
    return [
        Row(AREA, "simulator compile, cold (no build dir)", round(cold.seconds, 1), "s"),
        Row(AREA, "simulator compile, warm (unchanged)", round(warm.seconds, 2), "s"),
        Row(AREA, "simulator compile, one substitution changed", round(edited.seconds, 1), "s"),
    ]


def _parser_rows() -> list[Row]:
    identification = MeterIdentification("ISK", 9600, "MT174")
    frames = 0
    start = time.perf_counter()
    while time.perf_counter() - start < 1.0:
        for _ in range(200):
            readout_from_message(identification, DEFAULT_MESSAGE)
        frames += 200
    rate = frames / (time.perf_counter() - start)
    return [
        Row(
            AREA,
            f"IEC 62056-21 parser ({len(DEFAULT_MESSAGE)} B, 7 registers)",
            round(rate),
            "frames/s",
        )
    ]


async def _readout_seconds() -> float:
    async with MeterEmulator() as meter:
        start = time.perf_counter()
        await read_meter(meter.port, 9600, read_timeout=10)
        return time.perf_counter() - start


def run() -> list[Row]:
    rows = _parser_rows()
    rows.append(
        Row(
            AREA,
            "IEC 62056-21 readout over a pty, 9600 baud",
            round(asyncio.run(_readout_seconds()), 3),
            "s",
        )
    )
    return rows + _compile_rows()
