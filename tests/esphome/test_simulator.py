"""The meter package running as real ESPHome firmware on the host platform.

Each test starts its own simulator process (free port, own prefs directory) from the one
session build and drives it over the native API the way Home Assistant does.
"""

from __future__ import annotations

import asyncio
import signal
import time

from tests.esphome.simulator import (
    CHECK_INTERVAL_S,
    HA_ABSENT_TIMEOUT_S,
    SimulatorClient,
    SimulatorProcess,
    parse_permit_until,
)

# Latency allowance on top of the check interval: API batching (100 ms) and a busy host.
SLACK_S = 0.6
HOUR = 3600


def _energy(client: SimulatorClient) -> float:
    value = client.value("energy")
    assert isinstance(value, float)
    return value


async def test_exposes_meter_entities_and_permit_action(simulator: SimulatorProcess) -> None:
    async with SimulatorClient(simulator.port) as client:
        assert {
            "energy",
            "power",
            "current",
            "relay",
            "permit_state",
            "permit_until",
            "fail-safe_policy",
            "simulated_load_factor",
        } <= client.entity_ids()
        args = {arg.name: arg.type.name for arg in client.service("set_permit_until").args}
        assert args == {"until": "INT"}
        await client.wait_value("permit_state", "unset")
        await client.wait_value("relay", True)
        assert client.value("permit_until") == ""
        assert client.value("fail-safe_policy") == "fail_open"


async def test_energy_register_follows_simulated_power(simulator: SimulatorProcess) -> None:
    async with SimulatorClient(simulator.port) as client:
        client.set_load_factor(0)
        await client.wait_value("power", 0.0)
        idle_start = _energy(client)
        await asyncio.sleep(2.5)
        assert _energy(client) == idle_start

        client.set_load_factor(2)
        await client.wait_for(lambda: client.value("power") != 0.0, 3, "power > 0")
        samples: list[float] = []
        start_energy, start = _energy(client), time.monotonic()
        while time.monotonic() - start < 4:
            power = client.value("power")
            assert isinstance(power, float)
            samples.append(power)
            await asyncio.sleep(0.25)
        elapsed_h = (time.monotonic() - start) / HOUR
        gained = _energy(client) - start_energy
        expected = sum(samples) / len(samples) * elapsed_h
        # Twice the 800..1600 W profile (under the 16 A cut-off): over 1.7 Wh in 4 s.
        assert gained > 1.7
        assert 0.6 * expected < gained < 1.4 * expected


async def test_past_permit_trips_and_future_permit_restores(
    simulator: SimulatorProcess,
) -> None:
    async with SimulatorClient(simulator.port) as client:
        await client.wait_value("relay", True)

        sent = time.monotonic()
        await client.set_permit_until(int(time.time()) - 60)
        tripped = await client.wait_value("relay", False, within=CHECK_INTERVAL_S + SLACK_S)
        assert tripped - sent <= CHECK_INTERVAL_S + SLACK_S
        await client.wait_value("permit_state", "expired")
        await client.wait_value("power", 0.0, within=3)

        future = int(time.time()) + HOUR
        sent = time.monotonic()
        await client.set_permit_until(future)
        restored = await client.wait_value("relay", True, within=CHECK_INTERVAL_S + SLACK_S)
        assert restored - sent <= CHECK_INTERVAL_S + SLACK_S
        await client.wait_value("permit_state", "active")
        await client.wait_for(
            lambda: parse_permit_until(str(client.value("permit_until"))) == future,
            2,
            "permit_until sensor",
        )


async def test_epoch_zero_is_an_expired_permit_not_an_absent_one(
    simulator: SimulatorProcess,
) -> None:
    async with SimulatorClient(simulator.port) as client:
        await client.wait_value("permit_state", "unset")
        await client.set_permit_until(0)
        await client.wait_value("relay", False, within=CHECK_INTERVAL_S + SLACK_S)
        await client.wait_value("permit_state", "expired")
        assert client.value("permit_until") == "1970-01-01T00:00:00+00:00"


async def test_trips_at_expiry_on_device_time_after_warning(
    simulator: SimulatorProcess,
) -> None:
    async with SimulatorClient(simulator.port) as client:
        await client.wait_value("relay", True)
        expiry = int(time.time()) + 4
        await client.set_permit_until(expiry)
        # Inside the warning window: warning state and a blinking warning output.
        await client.wait_value("permit_state", "warning", within=2)
        blinks_from = len(client.logs)

        await client.wait_value(
            "relay", False, within=expiry - time.time() + CHECK_INTERVAL_S + SLACK_S
        )
        opened = time.time()
        # The device trips once its clock reaches the expiry, never before.
        assert expiry <= opened <= expiry + CHECK_INTERVAL_S + SLACK_S
        assert sum("Warning output on" in line for line in client.logs[blinks_from:]) >= 2
        await client.wait_value("permit_state", "expired")


async def test_permit_and_register_survive_restart(simulator: SimulatorProcess) -> None:
    future = int(time.time()) + 2 * HOUR
    async with SimulatorClient(simulator.port) as client:
        await client.set_permit_until(future)
        await client.wait_value("permit_state", "active")
        await asyncio.sleep(2)
        energy_before = _energy(client)
        assert energy_before > 0

    simulator.restart(signal.SIGTERM)
    async with SimulatorClient(simulator.port) as client:
        await client.wait_value("permit_state", "active")
        assert parse_permit_until(str(client.value("permit_until"))) == future
        assert client.value("relay") is True
        assert _energy(client) >= energy_before

        await client.set_permit_until(int(time.time()) - 5)
        await client.wait_value("relay", False, within=CHECK_INTERVAL_S + SLACK_S)
        past = parse_permit_until(str(client.value("permit_until")))

    # A power cut (SIGKILL, nothing flushed at exit) keeps the expired permit and the trip.
    await asyncio.sleep(0.3)
    simulator.restart(signal.SIGKILL)
    async with SimulatorClient(simulator.port) as client:
        await client.wait_value("relay", False, within=CHECK_INTERVAL_S + SLACK_S)
        await client.wait_value("permit_state", "expired")
        assert parse_permit_until(str(client.value("permit_until"))) == past


async def test_fail_open_restores_supply_when_ha_is_absent(
    simulator: SimulatorProcess,
) -> None:
    async with SimulatorClient(simulator.port) as client:
        await client.set_permit_until(int(time.time()) - 60)
        await client.wait_value("relay", False, within=CHECK_INTERVAL_S + SLACK_S)
    left = time.monotonic()

    # A log reader does not subscribe to states, so it does not count as Home Assistant.
    async with SimulatorClient(simulator.port, subscribe=False) as watcher:
        restored = await watcher.wait_log(
            "Supply restored: fail_open", within=HA_ABSENT_TIMEOUT_S + CHECK_INTERVAL_S + 3
        )
    assert restored - left >= HA_ABSENT_TIMEOUT_S - CHECK_INTERVAL_S

    # Home Assistant back: the local permit copy applies again.
    async with SimulatorClient(simulator.port) as client:
        await client.wait_value("permit_state", "expired", within=CHECK_INTERVAL_S + SLACK_S)
        await client.wait_value("relay", False, within=CHECK_INTERVAL_S + SLACK_S)


async def test_fail_closed_cuts_supply_when_ha_is_absent(
    simulator: SimulatorProcess,
) -> None:
    async with SimulatorClient(simulator.port) as client:
        client.select_policy("fail_closed")
        await client.wait_value("fail-safe_policy", "fail_closed")
        await client.set_permit_until(int(time.time()) + HOUR)
        await client.wait_value("relay", True)
    left = time.monotonic()

    async with SimulatorClient(simulator.port, subscribe=False) as watcher:
        cut = await watcher.wait_log(
            "Supply cut: fail_closed", within=HA_ABSENT_TIMEOUT_S + CHECK_INTERVAL_S + 3
        )
    assert cut - left >= HA_ABSENT_TIMEOUT_S - CHECK_INTERVAL_S

    async with SimulatorClient(simulator.port) as client:
        await client.wait_value("relay", True, within=CHECK_INTERVAL_S + SLACK_S)
        await client.wait_value("permit_state", "active")


async def test_over_current_cuts_locally_and_latches(simulator: SimulatorProcess) -> None:
    async with SimulatorClient(simulator.port) as client:
        await client.wait_value("relay", True)
        client.set_load_factor(20)  # about 24 kW: over 100 A against a 16 A limit
        await client.wait_value("relay", False, within=3)
        await client.wait_value("permit_state", "overcurrent")

        # Latched: it stays open until switched on again, and trips again under the fault.
        await asyncio.sleep(1.5)
        assert client.value("relay") is False
        client.switch_relay(True)
        await client.wait_value("relay", True, within=2)
        await client.wait_value("relay", False, within=3)

        client.set_load_factor(1)
        client.switch_relay(True)
        await client.wait_value("relay", True, within=2)
        await client.wait_value("permit_state", "unset")
        await asyncio.sleep(2)
        assert client.value("relay") is True
