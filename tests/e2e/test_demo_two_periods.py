"""`make demo` as it ships, watched through two full billing periods: a healthy household, the
prosumer beside it reading, exporting and billed as well, and their transformer reading each
interval with its loss within the tolerance.

The stack is the demo's own (anvil mining every 2 s, nothing mined by the test, the household's
options as the demo sets them). Every few seconds the test reads Home Assistant as the dashboard
does; at each state of the story Chromium saves a screenshot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
import itertools
from pathlib import Path
import time
from typing import Any

import pytest
from web3 import Web3

from custom_components.grid_ledger.chain.abi import GRID_LEDGER_ABI
from tests.demo.configure import DemoInHA
from tests.demo.scenario import EventLog
from tests.demo.stack import (
    CONSUMER,
    FEEDER_ID,
    FEEDER_LOSS_TOLERANCE_BPS,
    GRACE,
    METER_ID,
    PAYMENT_WINDOW,
    PERIOD_LENGTH,
    PROSUMER,
    PROSUMER_METER_ID,
    READING_INTERVAL_MINUTES,
    TECHNICAL_LOSS_PERCENT,
    DemoStack,
)
from tests.e2e.browser import browse

SAMPLE_EVERY = 5.0  # seconds between two reads of Home Assistant's states
SETTLE = 90  # after period 2 ends: its first reading issues the bill, auto-pay pays it
READING_SLACK = 30  # seconds a reading may come later than its interval (node, signing)
METER = f"grid_ledger_meter_{METER_ID}_"
WATCHED = {
    "permit_active": f"binary_sensor.{METER}permit_active",
    "trip_imminent": f"binary_sensor.{METER}trip_imminent",
    "bill_overdue": f"binary_sensor.{METER}bill_overdue",
    "permit_until": f"sensor.{METER}permit_until",
    "amount_due": f"sensor.{METER}amount_due",
    "calendar": f"calendar.{METER}bills_and_trips",
    "relay": "switch.grid_ledger_simulator_relay",
    "meter_permit": "sensor.grid_ledger_simulator_permit_state",
    "meter_permit_until": "sensor.grid_ledger_simulator_permit_until",
    "prosumer_exported": f"sensor.{PROSUMER.device}_energy_exported",
}


@dataclass
class Watch:
    """What the household saw, sample by sample."""

    samples: list[dict[str, Any]] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)


def sample(stack: DemoStack) -> dict[str, Any]:
    assert stack.hass is not None
    states = stack.hass.states()
    row: dict[str, Any] = {"t": time.time()}
    for name, entity_id in WATCHED.items():
        state = states.get(entity_id, {})
        row[name] = state.get("state")
        if name == "calendar":
            row["calendar_next"] = state.get("attributes", {}).get("message")
    return row


async def watch(stack: DemoStack, device_id: str, shots: Path) -> tuple[Watch, EventLog]:
    assert stack.hass is not None
    assert stack.genesis is not None
    period_ends = [stack.genesis + n * PERIOD_LENGTH for n in (1, 2)]
    moments = {  # the story's states, each photographed (page, a text it must show) in time
        "1-period-1-nothing-billed": (time.time(), "grid-ledger/0", "Permit active"),
        "2-period-2-bill-1-paid": (period_ends[0] + SETTLE, "grid-ledger/0", "Permit active"),
        "3-period-3-bill-2-paid": (period_ends[1] + SETTLE, "grid-ledger/0", "Permit active"),
        "4-energy-dashboard": (period_ends[1] + SETTLE, "energy", "Simulated history before"),
    }
    seen = Watch()
    events = EventLog(stack.hass, device_id, CONSUMER.role)
    await events.start()
    try:
        while moments:
            seen.samples.append(await asyncio.to_thread(sample, stack))
            name, (at, page, text) = min(moments.items(), key=lambda item: item[1][0])
            if time.time() < at:
                await asyncio.sleep(min(SAMPLE_EVERY, at - time.time()))
                continue
            del moments[name]
            path = shots / f"{name}.png"
            await asyncio.to_thread(browse, stack.hass.url, page, path, text)
            seen.screenshots.append(path)
    finally:
        await events.stop()
    return seen, events


def ledger_logs(
    stack: DemoStack, event: str, meter_id: int = METER_ID, key: str = "meterId"
) -> list[dict[str, Any]]:
    """The ledger's `event` logs of one meter (or, with `key="feederId"`, one feeder)."""
    assert stack.anvil is not None
    w3 = Web3(Web3.HTTPProvider(stack.anvil.rpc_url))
    ledger = w3.eth.contract(address=stack.deployment["gridLedger"], abi=GRID_LEDGER_ABI)
    logs = ledger.events[event]().get_logs(from_block=0, argument_filters={key: meter_id})
    return [dict(log["args"]) for log in logs]


@pytest.mark.timeout(2 * PERIOD_LENGTH + SETTLE + 600)  # start-up and screenshots: minutes
def test_demo_lives_two_healthy_billing_periods(
    demo: tuple[DemoStack, DemoInHA],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack, configured = demo
    homes = configured.homes
    assert stack.genesis is not None
    assert stack.meter is not None
    shots = tmp_path / "screenshots"
    loop = asyncio.new_event_loop()
    try:
        seen, events = loop.run_until_complete(watch(stack, homes[CONSUMER.role].device_id, shots))
    finally:
        loop.close()
    end = stack.genesis + 2 * PERIOD_LENGTH

    # Readings attested each interval, from within a minute of start to the end.
    stamps = [int(log["timestamp"]) for log in ledger_logs(stack, "ReadingAccepted")]
    interval = READING_INTERVAL_MINUTES * 60
    # Period 1 starts at deployment; the meter's registration is its first reading, and the
    # interval counts from it, whatever reloads (the options flow) came in between.
    assert stamps[0] - stack.genesis <= interval + READING_SLACK, "no reading soon after start"
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) <= interval + READING_SLACK, gaps
    assert stamps[-1] >= end, "readings stopped before period 2 ended"

    # Both periods billed and paid automatically; nothing owed at the end.
    bills = ledger_logs(stack, "BillIssued")
    assert [int(bill["period"]) for bill in bills] == [1, 2]
    assert len(ledger_logs(stack, "PaymentReceived")) == 2
    assert [kind for kind, _ in events.events].count("grid_ledger_payment_confirmed") == 2
    assert seen.samples[-1]["amount_due"] == "0.0"

    # A healthy household: no warning, no trip, nothing overdue, the meter's output quiet.
    assert events.of("grid_ledger_trip_warning") == []
    assert events.of("grid_ledger_tripped") == []
    for row in seen.samples:
        assert row["trip_imminent"] == "off", row
        assert row["bill_overdue"] == "off", row
        assert row["meter_permit"] == "active", row
        # The permit entities agree with the relay, in Home Assistant and in the meter.
        assert row["permit_active"] == row["relay"] == "on", row
        if row["amount_due"] == "0.0":  # nothing owed: no trip announced
            assert row["calendar_next"] != "Supply trip", row
    assert "Warning output on" not in stack.meter.log_path.read_text(errors="replace")
    # Two payments moved the permit two periods on: on-chain, in Home Assistant, in the meter.
    permit = stack.cast_call(stack.deployment["gridLedger"], "permitUntil(uint32)(uint64)", "1")
    assert permit == stack.genesis + 3 * PERIOD_LENGTH + PAYMENT_WINDOW + GRACE
    last = seen.samples[-1]
    assert datetime.fromisoformat(last["permit_until"]).timestamp() == permit, last
    assert datetime.fromisoformat(last["meter_permit_until"]).timestamp() == permit, last

    # The prosumer beside it: both registers read each interval, billed and paid for both
    # periods, its solar exporting at each period's midday (one simulated day per period) and
    # its tokens paying its bills first.
    readings = ledger_logs(stack, "BidirectionalReadingAccepted", PROSUMER_METER_ID)
    prosumer_stamps = [int(log["timestamp"]) for log in readings]
    assert sum(int(log["exportedWh"]) for log in readings) > 0
    assert ledger_logs(stack, "TokensRedeemed", PROSUMER_METER_ID)
    prosumer_gaps = [b - a for a, b in itertools.pairwise(prosumer_stamps)]
    assert max(prosumer_gaps) <= interval + READING_SLACK, prosumer_gaps
    assert prosumer_stamps[-1] >= end, "the prosumer's readings stopped before period 2 ended"
    prosumer_bills = ledger_logs(stack, "BillIssued", PROSUMER_METER_ID)
    assert [int(bill["period"]) for bill in prosumer_bills] == [1, 2]
    assert len(ledger_logs(stack, "PaymentReceived", PROSUMER_METER_ID)) == 2
    exported = [float(row["prosumer_exported"]) for row in seen.samples]
    assert exported[-1] > exported[0], "the prosumer's solar exported nothing"
    for bill in (*bills, *prosumer_bills):
        assert int(bill["energyWh"]) > 0, bill

    # The transformer above them: its feeder reads each interval through both periods; the
    # ledger checked period 1 at its first reading of period 3 and found no loss beyond the
    # tolerance; period 2, which every meter read throughout, lost the technical loss (its
    # readings rounded to whole Wh), more than nothing and within the tolerance.
    feeder_readings = ledger_logs(stack, "FeederReadingAccepted", FEEDER_ID, "feederId")
    feeder_stamps = [int(log["timestamp"]) for log in feeder_readings]
    feeder_gaps = [b - a for a, b in itertools.pairwise(feeder_stamps)]
    assert max(feeder_gaps) <= interval + READING_SLACK, feeder_gaps
    assert feeder_stamps[-1] >= end, "the feeder's readings stopped before period 2 ended"
    checked = ledger_logs(stack, "LossChecked", FEEDER_ID, "feederId")
    checked_periods = [int(log["period"]) for log in checked]
    assert checked_periods == list(range(1, len(checked_periods) + 1)), checked
    assert checked_periods[:1] == [1], checked
    assert ledger_logs(stack, "LossDetected", FEEDER_ID, "feederId") == []
    ((feeder_wh, children_wh, _),) = stack.cast_decoded(
        stack.deployment["gridLedger"],
        "feederPeriod(uint32,uint32)((uint64,uint64,bool))",
        str(FEEDER_ID),
        "2",
    )
    feeder_wh, children_wh = int(feeder_wh), int(children_wh)
    assert children_wh > 0
    loss_bps = (feeder_wh - children_wh) * 10_000 // feeder_wh
    assert 0 < loss_bps < FEEDER_LOSS_TOLERANCE_BPS, (feeder_wh, children_wh)
    assert loss_bps == pytest.approx(TECHNICAL_LOSS_PERCENT * 100, abs=300)

    assert [path.read_bytes()[:8] for path in seen.screenshots] == [b"\x89PNG\r\n\x1a\n"] * 4
    with capsys.disabled():
        print(f"\n{len(seen.samples)} samples, {len(stamps)} readings, bills {bills}")
        print(f"prosumer: {len(prosumer_stamps)} readings, bills {prosumer_bills}")
        print(f"prosumer's export register {exported[0]:.1f} -> {exported[-1]:.1f} Wh")
        print(f"feeder: {len(feeder_stamps)} readings, period 2 {feeder_wh} Wh against")
        print(f"  the households' {children_wh} Wh: loss {loss_bps} bps; checked {checked}")
        print("screenshots:", *seen.screenshots, sep="\n  ")
