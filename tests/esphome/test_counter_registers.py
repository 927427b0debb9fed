"""packages/grid_ledger_counter_registers.yaml as real firmware (ATM90E32 and DSMR meters).

tests/esphome/counter_meter.yaml is a host-platform meter whose counters arrive through an
API action, in the DSMR case: the counters keep counting while the device is off.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import shutil
import signal

import pytest

from tests.esphome.simulator import (
    CONFIG_DIR,
    SimulatorBuild,
    SimulatorClient,
    SimulatorProcess,
    compile_simulator,
    running_simulator,
)

TEST_YAML = Path(__file__).with_name("counter_meter.yaml")
NAME = "grid-ledger-counter-meter-test"
# A utility meter's lifetime registers, in Wh.
DELIVERED, RETURNED = 12_345_000.0, 2_000_000.0


@pytest.fixture(scope="module")
def counter_meter_build() -> SimulatorBuild:
    """Compiled from a copy next to the packages (includes are relative to the YAML)."""
    workdir = CONFIG_DIR / ".esphome" / "counter-meter"
    shutil.copytree(CONFIG_DIR / "packages", workdir / "packages", dirs_exist_ok=True)
    shutil.copy(TEST_YAML, workdir / TEST_YAML.name)
    return compile_simulator({"name": NAME}, config=workdir / TEST_YAML.name)


async def _telegram(client: SimulatorClient, delivered: float, returned: float) -> None:
    await client.execute("read_counters", import_wh=delivered, export_wh=returned)


async def test_registers_follow_the_meters_counters(
    counter_meter_build: SimulatorBuild, tmp_path: Path, socket_enabled: None
) -> None:
    with running_simulator(counter_meter_build.program, tmp_path) as meter:
        await _follow_counters_across_a_restart(meter)


async def _follow_counters_across_a_restart(counter_meter: SimulatorProcess) -> None:
    async with SimulatorClient(counter_meter.port) as client:
        await client.wait_value("energy", 0.0)
        await client.wait_value("energy_exported", 0.0)

        # The first telegram only sets the baselines: no lifetime total is counted.
        await _telegram(client, DELIVERED, RETURNED)
        await asyncio.sleep(1.5)
        assert client.value("energy") == 0.0
        assert client.value("energy_exported") == 0.0

        await _telegram(client, DELIVERED + 250, RETURNED)
        await client.wait_value("energy", 250.0)
        await _telegram(client, DELIVERED + 250, RETURNED + 40)
        await client.wait_value("energy_exported", 40.0)
        assert client.value("energy") == 250.0

    # Energy used while the reader is off is counted at its next telegram, once.
    await asyncio.sleep(1.5)  # the registers reach the prefs file (flash_write_interval)
    counter_meter.restart(signal.SIGTERM)
    async with SimulatorClient(counter_meter.port) as client:
        await client.wait_value("energy", 250.0)
        await client.wait_value("energy_exported", 40.0)
        await _telegram(client, DELIVERED + 400, RETURNED + 100)
        await client.wait_value("energy", 400.0)
        await client.wait_value("energy_exported", 100.0)

        # A register that goes back (replaced meter, bad telegram) is a new baseline, never
        # a negative step nor a lifetime total counted again.
        await _telegram(client, 7, 3)
        await asyncio.sleep(1.5)
        assert client.value("energy") == 400.0
        assert client.value("energy_exported") == 100.0
        await _telegram(client, 17, 3)
        await client.wait_value("energy", 410.0)
        assert client.value("energy_exported") == 100.0

        # A power cut right after a telegram, before or after its values reach the prefs
        # file: the next telegram still counts every Wh exactly once.
        await _telegram(client, 1017, 53)
        await client.wait_value("energy", 1410.0)
    counter_meter.restart(signal.SIGKILL)
    async with SimulatorClient(counter_meter.port) as client:
        await client.wait_for(lambda: client.value("energy") is not None, 5, "energy")
        await _telegram(client, 1117, 63)
        await client.wait_value("energy", 1510.0)
        await client.wait_value("energy_exported", 160.0)
