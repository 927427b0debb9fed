"""`make demo-scenario`: one household's billing cycle on the demo's real parts, headless.

readings → bill → auto-pay → permit extended → auto-pay off → unpaid bill → warnings → trip (the
meter's relay opens) → pay → restore, each step awaited within a bound and put on a timeline.

Home Assistant and the meter firmware keep wall-clock time, and a reading's timestamp (which
decides its billing period) is Home Assistant's clock, so jumping the chain's clock ahead would
only make the chain and the household disagree. The cycle is made short instead: its own
deployment has one-minute periods that start when it deploys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import sys
import tempfile
import time
from typing import Any

from tests.demo.configure import configure_home_assistant
from tests.demo.home_assistant import HomeAssistant
from tests.demo.stack import (
    CONSUMER,
    CONTRACTS,
    METER_ID,
    SPENDING_CAP,
    DemoKeys,
    DemoStack,
    timeline,
)
from tests.esphome.simulator import SimulatorClient

PERIOD_LENGTH = 60
PAYMENT_WINDOW = 10
GRACE = 10
EVENTS = (
    "grid_ledger_bill_issued",
    "grid_ledger_payment_confirmed",
    "grid_ledger_trip_warning",
    "grid_ledger_tripped",
    "grid_ledger_restored",
)
STEP_WITHIN = 30.0  # seconds any one step may take once its time has come


class StepMissedError(Exception):
    """A step of the cycle did not happen in time."""


class EventLog:
    """Grid Ledger's bus events of one household's meter (its device), as a WebSocket client of
    Home Assistant sees them."""

    def __init__(self, hass: HomeAssistant, device_id: str, label: str) -> None:
        self.hass = hass
        self.device_id = device_id
        self.label = label
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow())
        try:
            await asyncio.wait_for(self._subscribed.wait(), STEP_WITHIN)
        except TimeoutError as err:
            raise StepMissedError("could not subscribe to Home Assistant's events") from err

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        async with self.hass.connect() as ws:
            for number, event_type in enumerate(EVENTS, start=1):
                await ws.send_json(
                    {"id": number, "type": "subscribe_events", "event_type": event_type}
                )
                while (reply := await ws.receive_json())["id"] != number:
                    pass
                if not reply["success"]:
                    raise RuntimeError(f"subscribe {event_type}: {reply['error']}")
            self._subscribed.set()
            while True:
                message = await ws.receive_json()
                if message.get("type") != "event":
                    continue
                event = message["event"]
                if event["data"].get("device_id") != self.device_id:
                    continue
                data = {k: v for k, v in event["data"].items() if k != "device_id"}
                self.events.append((event["event_type"], data))
                timeline(f"  {self.label}: event {event['event_type']} {json.dumps(data)}")

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [data for kind, data in self.events if kind == event_type]

    async def wait(
        self,
        event_type: str,
        what: str,
        match: Callable[[dict[str, Any]], bool] = lambda _: True,
        within: float = STEP_WITHIN,
    ) -> dict[str, Any]:
        found = await wait_until(
            lambda: next((e for e in self.of(event_type) if match(e)), None), what, within
        )
        return dict(found)


async def wait_until(predicate: Callable[[], Any], what: str, within: float) -> Any:
    deadline = time.monotonic() + within
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise StepMissedError(f"{what}: not seen within {within:.0f} s")
        await asyncio.sleep(0.1)
    return value


async def sleep_until(epoch: float) -> None:
    await asyncio.sleep(max(0.0, epoch - time.time()))


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def epoch_of(text: str) -> int | None:
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return None


class Household:
    """What the household does and sees: HA's REST API, the chain, the meter's own relay."""

    def __init__(
        self, stack: DemoStack, entry_id: str, meter: SimulatorClient, events: EventLog
    ) -> None:
        assert stack.hass is not None
        self.stack = stack
        self.hass = stack.hass
        self.meter = meter
        self.events = events
        self.entry_id = entry_id
        self.contract = stack.deployment["gridLedger"]
        self.steps: list[str] = []

    def step(self, name: str, detail: str) -> None:
        self.steps.append(name)
        timeline(f"STEP {name}: {detail}")

    def amount_due(self) -> int:
        return self.stack.cast_call(self.contract, "amountDue(uint32)(uint256)", str(METER_ID))

    def permit_until(self) -> int:
        return self.stack.cast_call(self.contract, "permitUntil(uint32)(uint64)", str(METER_ID))

    async def action(self, service: str) -> dict[str, Any]:
        reply = await asyncio.to_thread(
            self.hass.request,
            "POST",
            f"/api/services/grid_ledger/{service}?return_response",
            {"config_entry_id": self.entry_id},
        )
        return dict(reply["service_response"])

    async def chain_enters(self, epoch: int) -> None:
        """Until the chain's latest block is at `epoch` or later: a reading stamped in a period
        the chain has not reached would close the open one early, so the integration stamps it
        in the chain's period and the next period's first reading waits for this."""
        assert self.stack.anvil is not None
        anvil = self.stack.anvil
        await wait_until(lambda: anvil.timestamp() >= epoch, f"a block at {iso(epoch)}", 30.0)

    async def submit_reading(self) -> None:
        response = await self.action("submit_reading")
        if response.get("submitted") is not True:
            raise StepMissedError(f"grid_ledger.submit_reading did not submit: {response}")
        timeline(f"reading submitted: {json.dumps(response)}")

    async def set_options(self, **options: Any) -> None:
        """The options form as the frontend sends it (its suggested values, with `options`);
        returns once the entry has reloaded with them."""
        hass = self.hass
        async with hass.connect() as ws:
            await ws.send_json({"id": 1, "type": "config_entries/subscribe"})
            try:
                await asyncio.to_thread(hass.set_options, self.entry_id, **options)
            except RuntimeError as err:
                raise StepMissedError(str(err)) from err
            try:
                async with asyncio.timeout(STEP_WITHIN):
                    await self._reloaded(ws)
            except TimeoutError as err:
                raise StepMissedError(f"entry not reloaded within {STEP_WITHIN:.0f} s") from err
        timeline(f"options set through the options flow: {json.dumps(options)}")

    async def _reloaded(self, ws: Any) -> None:
        """Until the entry's state, as HA announces it, leaves `loaded` and comes back."""
        reloading = False
        while True:
            message = await ws.receive_json()
            if message.get("type") != "event":
                continue
            for change in message["event"]:
                entry = change["entry"]
                if entry["entry_id"] != self.entry_id:
                    continue
                if entry["state"] != "loaded":
                    reloading = True
                elif reloading:
                    return

    async def relay_in_firmware(self, on: bool, what: str, within: float = STEP_WITHIN) -> None:
        await wait_until(lambda: self.meter.value("relay") is on, what, within)
        permit_state = self.meter.value("permit_state")
        timeline(f"meter firmware: relay {'on' if on else 'off'}, permit {permit_state}")

    async def permit_sensor(self, permit: int, entity: str) -> None:
        def shows() -> bool:
            state = self.hass.states().get(entity, {}).get("state", "")
            return epoch_of(state) == permit

        await wait_until(shows, f"{entity} showing {iso(permit)}", STEP_WITHIN)


async def lifecycle(stack: DemoStack, keys: DemoKeys) -> list[str]:
    """Configure HA as the household would, then live one cycle; returns the steps seen."""
    assert stack.hass is not None
    assert stack.genesis is not None
    consumer = (await configure_home_assistant(stack, keys))[CONSUMER.role]
    permit_entity = consumer.entities["permit_until"]
    events = EventLog(stack.hass, consumer.device_id, CONSUMER.role)
    await events.start()
    try:
        async with SimulatorClient(stack.meter_port) as meter:
            home = Household(stack, consumer.entry_id, meter, events)
            await cycle(home, stack.genesis, permit_entity)
    finally:
        await events.stop()
    return home.steps


async def cycle(home: Household, genesis: int, permit_entity: str) -> None:
    period_2, period_3 = genesis + PERIOD_LENGTH, genesis + 2 * PERIOD_LENGTH
    await home.relay_in_firmware(True, "relay on at the start")
    timeline(f"auto-pay on within {SPENDING_CAP} per period: the demo household's options")

    # Readings in period 1; the first reading of period 2 issues period 1's bill.
    await home.submit_reading()
    first_permit = home.permit_until()
    timeline(f"permit until {iso(first_permit)}; period 1 ends {iso(period_2)}")
    await sleep_until(period_2 - 5)
    await home.submit_reading()
    home.step("readings", "period 1's energy is on-chain")
    await sleep_until(period_2)
    await home.chain_enters(period_2)
    await home.submit_reading()
    bill = await home.events.wait("grid_ledger_bill_issued", "bill for period 1")
    home.step("bill", f"period {bill['period']}, {bill['amount']} {bill['currency']}")

    # Auto-pay, within the cap: nothing due, the permit runs a period longer.
    paid = await home.events.wait("grid_ledger_payment_confirmed", "auto-pay of period 1")
    if home.amount_due() != 0:
        raise StepMissedError(f"amount due on-chain after auto-pay: {home.amount_due()}")
    home.step("auto-pay", f"{paid['amount']} {paid['currency']} (tx {paid['tx_hash']}); due 0")
    second_permit = await wait_until(
        lambda: (p := home.permit_until()) > first_permit and p, "permit extended", STEP_WITHIN
    )
    await home.permit_sensor(second_permit, permit_entity)
    home.step("permit extended", f"{permit_entity} {iso(first_permit)} → {iso(second_permit)}")

    # Auto-pay off: period 2's bill stays unpaid and the permit ends at its due date plus grace.
    await home.set_options(auto_pay=False)
    home.step("auto-pay off", "through the options flow")
    await sleep_until(period_3 - 5)
    await home.submit_reading()
    await sleep_until(period_3)
    await home.chain_enters(period_3)
    await home.submit_reading()
    unpaid = await home.events.wait(
        "grid_ledger_bill_issued", "bill for period 2", lambda e: e["period"] == 2
    )
    if home.amount_due() == 0 or len(home.events.of("grid_ledger_payment_confirmed")) != 1:
        raise StepMissedError("period 2's bill was paid although auto-pay is off")
    if home.permit_until() != second_permit:
        raise StepMissedError(f"permit moved to {iso(home.permit_until())} with a bill unpaid")
    home.step("bill unpaid", f"period 2, {unpaid['amount']} due by {unpaid['due_at']}")

    warnings = await home.events.wait(
        "grid_ledger_trip_warning",
        "trip warning for the unpaid permit",
        lambda e: e["permit_until"] is not None and epoch_of(e["permit_until"]) == second_permit,
    )
    leads = [w["lead_time"] for w in home.events.of("grid_ledger_trip_warning")]
    home.step("warnings", f"trip at {warnings['permit_until']} announced (leads {leads} s)")

    # The trip at the permit's end: the integration's event and the meter's own relay.
    if home.events.of("grid_ledger_tripped"):
        raise StepMissedError("tripped before the permit ended")
    trip_within = second_permit - time.time() + STEP_WITHIN
    tripped = await home.events.wait("grid_ledger_tripped", "trip", within=trip_within)
    await home.relay_in_firmware(False, "relay off in the meter firmware")
    home.step("trip", f"{tripped['reason']}; relay off in the meter firmware")

    # The household pays with the action; the payment restores the supply.
    response = await home.action("pay_bill")
    if not str(response.get("tx_hash", "")).startswith("0x"):
        raise StepMissedError(f"grid_ledger.pay_bill answered {response}")
    home.step("pay", f"grid_ledger.pay_bill: tx {response['tx_hash']}")
    restored = await home.events.wait("grid_ledger_restored", "restore")
    await home.relay_in_firmware(True, "relay back on in the meter firmware")
    home.step("restore", f"permit until {restored['permit_until']}; relay on in the firmware")


STEPS = (
    "readings",
    "bill",
    "auto-pay",
    "permit extended",
    "auto-pay off",
    "bill unpaid",
    "warnings",
    "trip",
    "pay",
    "restore",
)


def run_scenario(workdir: Path) -> list[str]:
    """Bring the stack up in `workdir`, run the cycle, stop everything by PID.

    Returns the steps that happened, in order; raises `StepMissedError` naming the one that did
    not."""
    stack = DemoStack.beside_others(
        workdir / "demo",
        f"scenario-{os.getpid()}-{workdir.name}",
        period_length=PERIOD_LENGTH,
        payment_window=PAYMENT_WINDOW,
        grace=GRACE,
    )
    deployment = CONTRACTS / stack.deployment_file
    try:
        stack.state_dir.mkdir(parents=True)
        keys = DemoKeys.load_or_create(stack.state_dir / "keys.json")
        stack.start_chain()
        stack.start_meters()
        stack.start_home_assistant()
        assert stack.anvil is not None
        stack.anvil.rpc("evm_mine")  # a block at the wall clock: period 1 starts now
        stack.genesis = stack.anvil.timestamp()
        stack.deploy(keys)
        # A private loop: asyncio.run() would clear the current loop a pytest harness relies on.
        loop = asyncio.new_event_loop()
        try:
            steps = loop.run_until_complete(lifecycle(stack, keys))
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
    finally:
        stack.stop()
        deployment.unlink(missing_ok=True)
    return steps


def main() -> int:
    started = time.monotonic()
    timeline("Grid Ledger scenario: one billing cycle on anvil, the meter simulator and HA")
    with tempfile.TemporaryDirectory(prefix="grid-ledger-scenario-") as workdir:
        try:
            steps = run_scenario(Path(workdir))
        except StepMissedError as failure:
            timeline(f"FAILED: {failure}")
            return 1
    if tuple(steps) != STEPS:
        timeline(f"FAILED: steps {steps}, expected {list(STEPS)}")
        return 1
    timeline(f"every step happened, in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
