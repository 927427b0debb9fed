"""`make demo-scenario`: the demo's two households and their transformer on its real parts,
headless.

The consumer lives one billing cycle: readings → bill → auto-pay → permit extended → auto-pay
off → unpaid bill → warnings → trip (the meter's relay opens) → pay → restore. Beside it the
prosumer lives the producer's: export accepted → tokens minted (earned, lazily) → tokens pay part
of its own bill → the rest claimed and sold back at feed-in. Then the transformer above them
lives a theft: illegal tap on → the feeder's readings → loss detected (event and repair) → tap
off → a period within the tolerance again (the repair closes). Beside the theft, the energy
market as the households' options trade in it: the prosumer's offer → the consumer's bid → lot
won and sold → the lot finalized by their entries after its deadline → the bought tokens pay
the consumer's next bill before auto-pay → its relay on throughout. Last, the settlement of the
tapped period and of the clean one through the feeder entry's `settle_period`: each party's
share, and the tap's lower markup. Each step is awaited within a bound and put on a timeline
with its figures on-chain.

Home Assistant and the meter firmware keep wall-clock time, and a reading's timestamp (which
decides its billing period) is Home Assistant's clock, so jumping the chain's clock ahead would
only make the chain and the household disagree. The cycle is made short instead: its own
deployment has one-minute periods that start when it deploys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import sys
import tempfile
import time
from typing import Any

from web3 import Web3

from custom_components.grid_ledger.chain.abi import AUCTION_ABI, GRID_LEDGER_ABI
from tests.demo.configure import (
    FeederInHA,
    HouseholdInHA,
    configure_home_assistant,
    market_options,
)
from tests.demo.home_assistant import ActionError, HomeAssistant
from tests.demo.stack import (
    BLOCK_TIME,
    CONSUMER,
    CONTRACTS,
    FEEDER_ID,
    FEEDER_LOSS_TOLERANCE_BPS,
    HOUSEHOLDS,
    METER_ID,
    PLANT_ID,
    PROSUMER,
    PROSUMER_METER_ID,
    SPENDING_CAP,
    TAP_POWER_W,
    DemoKeys,
    DemoStack,
    timeline,
)
from tests.esphome.simulator import SimulatorClient

PERIOD_LENGTH = 60
PAYMENT_WINDOW = 10
GRACE = 10
EVENTS = (
    "grid_ledger_lot_won",
    "grid_ledger_lot_sold",
    "grid_ledger_outbid",
    "grid_ledger_tokens_minted",
    "grid_ledger_tokens_redeemed",
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

    def __init__(
        self,
        hass: HomeAssistant,
        device_id: str,
        label: str,
        event_types: tuple[str, ...] = EVENTS,
    ) -> None:
        self.hass = hass
        self.device_id = device_id
        self.label = label
        self.event_types = event_types
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
            for number, event_type in enumerate(self.event_types, start=1):
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

    async def action(self, service: str, **data: Any) -> dict[str, Any]:
        response = await self.hass.call_service(
            "grid_ledger", service, {"config_entry_id": self.entry_id, **data}
        )
        return dict(response)

    async def chain_enters(self, epoch: int) -> None:
        """Until the chain's latest block is at `epoch` or later: a reading stamped in a period
        the chain has not reached would close the open one early, so the integration stamps it
        in the chain's period and the next period's first reading waits for this."""
        assert self.stack.anvil is not None
        anvil = self.stack.anvil
        await wait_until(lambda: anvil.timestamp() >= epoch, f"a block at {iso(epoch)}", 30.0)

    async def submit_reading(self) -> None:
        """As the household's button: when the interval's own reading has just taken the
        chain's latest second, the action says so and the reading follows the next block."""
        try:
            response = await self.action("submit_reading")
        except ActionError as err:
            if err.translation_key != "reading_waits_for_chain":
                raise StepMissedError(str(err)) from err
            timeline(f"reading waits for the chain's next block: {err}")
            assert self.stack.anvil is not None
            await self.chain_enters(self.stack.anvil.timestamp() + 1)
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


async def set_meter_number(home: Household, device: str, object_id: str, value: float) -> None:
    """One of a simulated meter's numbers, set from Home Assistant as a person would."""
    entity = f"number.{device}_{object_id}"
    await asyncio.to_thread(
        home.hass.request,
        "POST",
        "/api/services/number/set_value",
        {"entity_id": entity, "value": value},
    )
    await home.meter.wait_value(object_id, value)


async def lifecycle(stack: DemoStack, keys: DemoKeys) -> Outcome:
    """Configure HA as the households would, then live the consumer's cycle and the producer's
    side by side; returns the steps seen and the producer's figures."""
    assert stack.hass is not None
    assert stack.genesis is not None
    # The market comes after the producer's story: its tokens pay its own bill and the rest is
    # sold back first; then both households trade, beside the theft.
    demo = await configure_home_assistant(stack, keys, market=False)
    consumer, prosumer = demo.homes[CONSUMER.role], demo.homes[PROSUMER.role]
    permit_entity = consumer.entities["permit_until"]
    events = EventLog(stack.hass, consumer.device_id, CONSUMER.role)
    producer_events = EventLog(stack.hass, prosumer.device_id, PROSUMER.role)
    feeder_events = EventLog(stack.hass, demo.feeder.device_id, "feeder", FEEDER_EVENTS)
    for log in (events, producer_events, feeder_events):
        await log.start()
    try:
        async with (
            SimulatorClient(stack.meter_port) as meter,
            SimulatorClient(stack.prosumer_port) as prosumer_meter,
            SimulatorClient(stack.transformer_port) as transformer,
        ):
            home = Household(stack, consumer.entry_id, meter, events)
            producer = Producer(
                Household(stack, prosumer.entry_id, prosumer_meter, producer_events), prosumer
            )
            await asyncio.gather(
                cycle(home, stack.genesis, permit_entity), producer.story(stack.genesis)
            )
            # The theft after both stories: the households' loads steady again (the consumer
            # pays automatically, so no trip cuts its load in the middle of a period). Beside
            # it, the market: the consumer's bought tokens pay its bill first.
            await reading_early_in_a_period(home, stack.genesis)
            await home.set_options(auto_pay=True, **market_options(stack, CONSUMER))
            timeline("the consumer pays automatically again, bids for energy and redeems it")
            theft = Theft(stack, demo.feeder, transformer, feeder_events)
            trade = Trade(stack, home, producer.home)
            await asyncio.gather(theft.story((home, producer.home)), trade.story())
            settlement = Settlement(stack, demo.feeder, home)
            await settlement.story(theft.figures)
    finally:
        for log in (events, producer_events, feeder_events):
            await log.stop()
    return Outcome(
        home.steps,
        producer.home.steps,
        producer.figures,
        theft.steps,
        theft.figures,
        trade.steps,
        trade.figures,
        settlement.steps,
        settlement.figures,
    )


# Seconds into a period for the reading the consumer's reading interval restarts from.
READING_PHASE = 5


async def reading_early_in_a_period(home: Household, genesis: int) -> None:
    """A reading a few seconds into the next period, once the chain is in it. An entry's reload
    restarts its reading interval from its last reading, and the consumer's next reload (its
    options for the market) comes right after it was restored, at its permit's end: counted
    from there, each period's bill would close at the moment the next permit ends, and the
    household trips for a second. Counted from this reading, the bill closes, and auto-pay pays
    it, with the scenario's payment window and grace still ahead (a minute's reading interval
    against 20 s; days against minutes outside the scenario)."""
    start = genesis + (int(time.time() - genesis) // PERIOD_LENGTH + 1) * PERIOD_LENGTH
    await sleep_until(start + READING_PHASE)
    await home.chain_enters(start)
    await home.submit_reading()


def first_period(genesis: int, left: float) -> int:
    """The first period with at least `left` seconds still to run (setting up the stack takes
    a while, and more the first time forge compiles the contracts)."""
    return 1 + int(time.time() + left - genesis) // PERIOD_LENGTH


async def cycle(home: Household, genesis: int, permit_entity: str) -> None:
    first = first_period(genesis, 15)
    period_2, period_3 = genesis + first * PERIOD_LENGTH, genesis + (first + 1) * PERIOD_LENGTH
    await home.relay_in_firmware(True, "relay on at the start")
    timeline(f"auto-pay on within {SPENDING_CAP} per period: the demo household's options")

    # Readings in the first period; the next one's first reading issues its bill.
    await home.submit_reading()
    first_permit = home.permit_until()
    timeline(f"permit until {iso(first_permit)}; period {first} ends {iso(period_2)}")
    await sleep_until(period_2 - 5)
    await home.submit_reading()
    home.step("readings", f"period {first}'s energy is on-chain")
    await sleep_until(period_2)
    await home.chain_enters(period_2)
    paid_before = len(home.events.of("grid_ledger_payment_confirmed"))
    await home.submit_reading()
    bill = await home.events.wait(
        "grid_ledger_bill_issued", f"bill for period {first}", lambda e: e["period"] == first
    )
    home.step("bill", f"period {bill['period']}, {bill['amount']} {bill['currency']}")

    # Auto-pay, within the cap: nothing due, the permit runs a period longer.
    paid = (
        await wait_until(
            lambda: home.events.of("grid_ledger_payment_confirmed")[paid_before:],
            f"auto-pay of period {first}",
            STEP_WITHIN,
        )
    )[0]
    payments = len(home.events.of("grid_ledger_payment_confirmed"))
    if home.amount_due() != 0:
        raise StepMissedError(f"amount due on-chain after auto-pay: {home.amount_due()}")
    home.step("auto-pay", f"{paid['amount']} {paid['currency']} (tx {paid['tx_hash']}); due 0")
    second_permit = await wait_until(
        lambda: (p := home.permit_until()) > first_permit and p, "permit extended", STEP_WITHIN
    )
    await home.permit_sensor(second_permit, permit_entity)
    home.step("permit extended", f"{permit_entity} {iso(first_permit)} → {iso(second_permit)}")

    # Auto-pay off: the next bill stays unpaid and the permit ends at its due date plus grace.
    await home.set_options(auto_pay=False)
    home.step("auto-pay off", "through the options flow")
    await sleep_until(period_3 - 5)
    await home.submit_reading()
    await sleep_until(period_3)
    await home.chain_enters(period_3)
    await home.submit_reading()
    second = first + 1
    unpaid = await home.events.wait(
        "grid_ledger_bill_issued", f"bill for period {second}", lambda e: e["period"] == second
    )
    if home.amount_due() == 0 or len(home.events.of("grid_ledger_payment_confirmed")) != payments:
        raise StepMissedError(f"period {first + 1}'s bill was paid although auto-pay is off")
    if home.permit_until() != second_permit:
        raise StepMissedError(f"permit moved to {iso(home.permit_until())} with a bill unpaid")
    home.step("bill unpaid", f"period {first + 1}, {unpaid['amount']} due by {unpaid['due_at']}")

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


# The prosumer's roof makes more than its household uses (its load scaled down), so a period's
# tokens pay its bill's energy and some are left to sell; one simulated day per period.
PROSUMER_LOAD_FACTOR = 0.25
DAY_MARGIN = 5  # seconds beyond a full simulated day that the producer's period must still run
PRODUCER_STEPS = (
    "export accepted",
    "tokens minted",
    "tokens pay the bill",
    "tokens claimed",
    "sold back",
)


@dataclass
class Outcome:
    steps: list[str]
    producer_steps: list[str]
    figures: dict[str, int]  # the producer's, on-chain, in Wh and payment-token base units
    theft_steps: list[str]
    theft_figures: dict[str, int]  # the feeder's, on-chain: periods, Wh and bps
    market_steps: list[str]
    market_figures: dict[str, int]  # the lot's and the consumer's bill's, on-chain
    settlement_steps: list[str]
    settlement_figures: dict[str, int]  # both periods' statements, on-chain


PRODUCER_EVENTS = (
    "BidirectionalReadingAccepted(uint32 indexed meterId, uint64 importWh, uint64 exportWh, "
    "uint32 timestamp, uint64 exportedWh)",
    "BillIssued(uint32 indexed meterId, uint32 indexed period, uint64 energyWh, uint256 amount, "
    "uint32 dueAt)",
    "TokensRedeemed(uint32 indexed meterId, address indexed holder, uint256 wh, uint256 amount)",
    "TokensClaimed(uint32 indexed meterId, address indexed payer, uint256 wh)",
    "TokensSoldBack(uint32 indexed meterId, address indexed seller, uint256 wh, uint256 amount)",
)


def event_abi(signature: str) -> dict[str, Any]:
    """An event's ABI entry from its Solidity signature with names and `indexed` markers."""
    name, params = signature.removesuffix(")").split("(", 1)
    inputs = []
    for param in params.split(", "):
        kind, *indexed, arg = param.split()
        inputs.append({"name": arg, "type": kind, "indexed": bool(indexed)})
    return {"type": "event", "name": name, "anonymous": False, "inputs": inputs}


class Producer:
    """The prosumer's side: its export on-chain, its tokens, its bill, its sell-back."""

    def __init__(self, home: Household, ha: HouseholdInHA) -> None:
        assert home.stack.anvil is not None
        self.home = home
        self.ha = ha
        self.stack = home.stack
        self.figures: dict[str, int] = {}
        w3 = Web3(Web3.HTTPProvider(self.stack.anvil.rpc_url))
        abi = [event_abi(signature) for signature in PRODUCER_EVENTS]
        self.ledger = w3.eth.contract(address=home.contract, abi=abi)

    def logs(self, event: str, since: int = 0) -> list[dict[str, Any]]:
        """The ledger's `event` logs of the prosumer's meter, from block `since` on."""
        found = self.ledger.events[event]().get_logs(
            from_block=since, argument_filters={"meterId": PROSUMER_METER_ID}
        )
        return [dict(log["args"]) for log in found]

    def info(self, field: int) -> int:
        """One field of the meter's `producerInfo`: 1 redeemTokens, 4 pendingWh."""
        signature = "producerInfo(uint32)((bool,bool,uint32,uint64,uint64,uint64))"
        (info,) = self.stack.cast_decoded(self.home.contract, signature, str(PROSUMER_METER_ID))
        return int(info[field])

    def balance(self, token: str, holder: str) -> int:
        return self.stack.cast_call(token, "balanceOf(address)(uint256)", holder)

    def feed_in_funds(self) -> int:
        return self.stack.cast_call(self.home.contract, "feedInFunds()(uint256)")

    async def action(self, service: str, **data: Any) -> dict[str, Any]:
        return await self.home.action(service, **data)

    async def set_number(self, object_id: str, value: float) -> None:
        await set_meter_number(self.home, PROSUMER.device, object_id, value)

    def state(self, key: str) -> str:
        return str(self.home.hass.states().get(self.ha.entities[key], {}).get("state"))

    async def story(self, genesis: int) -> None:
        await self.set_number("simulated_load_factor", PROSUMER_LOAD_FACTOR)
        await self.set_number("simulated_day_length", PERIOD_LENGTH)
        if not self.info(1):
            raise StepMissedError("the prosumer's choice to pay bills with tokens is not on-chain")
        # The first period that still holds a whole simulated day: its export, its bill.
        period = first_period(genesis, PERIOD_LENGTH + DAY_MARGIN)
        period_end = genesis + period * PERIOD_LENGTH
        timeline(f"prosumer: exporting through period {period}, which ends {iso(period_end)}")
        await self.export(period_end)
        await self.bill(period, period_end)
        await self.sell_the_rest()

    async def export(self, period_end: int) -> None:
        """Readings through the period carry the export register; its tokens accrue."""
        home, figures = self.home, self.figures
        while True:
            await home.submit_reading()
            accepted = self.logs("BidirectionalReadingAccepted")
            exported = sum(int(log["exportedWh"]) for log in accepted)
            if time.time() >= period_end - 15 and exported > 0:
                break
            if time.time() >= period_end - 5:
                raise StepMissedError("no export accepted before the period's end")
            await asyncio.sleep(min(10.0, max(0.0, period_end - 15 - time.time())))
        start = period_end - PERIOD_LENGTH
        this_period = [log for log in accepted if int(log["timestamp"]) > start]
        figures |= {
            "exported_wh": exported,
            "period_exported_wh": sum(int(log["exportedWh"]) for log in this_period),
            "export_register_wh": int(accepted[-1]["exportWh"]),
        }
        home.step(
            "export accepted",
            f"{figures['period_exported_wh']} Wh exported this period in {len(this_period)} "
            f"signed readings ({exported} Wh since export was enabled, register "
            f"{figures['export_register_wh']} Wh); HA exported energy "
            f"{self.state('exported_energy')} kWh",
        )
        # Minted lazily: pending on the meter, shown in HA as minted this period.
        figures["pending_wh"] = self.info(4)
        shown = await wait_until(
            lambda: (v := self.state("tokens_minted_period")) not in ("0.0", "0", "unknown") and v,
            "tokens minted this period in Home Assistant",
            period_end - 2 - time.time(),  # the next period starts from nothing again
        )
        home.step(
            "tokens minted",
            f"{figures['pending_wh']} Wh of tokens pending (minted lazily) on meter "
            f"{PROSUMER_METER_ID}; HA tokens minted this period {shown} kWh",
        )

    async def bill(self, period: int, period_end: int) -> None:
        """The period's bill takes the tokens first; auto-pay pays what is left."""
        home, figures = self.home, self.figures
        # From before the period's end: its close may come from the household's own reading.
        assert self.stack.anvil is not None
        since = int(self.stack.anvil.rpc("eth_blockNumber"), 16)
        payments = len(home.events.of("grid_ledger_payment_confirmed"))
        await sleep_until(period_end)
        await home.chain_enters(period_end)
        await home.submit_reading()
        bills = await wait_until(
            lambda: [b for b in self.logs("BillIssued", since) if int(b["period"]) == period],
            f"the prosumer's bill for period {period}",
            STEP_WITHIN,
        )
        redeemed = self.logs("TokensRedeemed", since)
        if not redeemed:
            raise StepMissedError(f"no tokens redeemed at the close of period {period}")
        paid = (
            await wait_until(
                lambda: home.events.of("grid_ledger_payment_confirmed")[payments:],
                "auto-pay of the rest",
                STEP_WITHIN,
            )
        )[0]
        figures |= {
            "bill_energy_wh": int(bills[0]["energyWh"]),
            "bill_amount": int(bills[0]["amount"]),
            "redeemed_wh": int(redeemed[0]["wh"]),
            "redeemed_amount": int(redeemed[0]["amount"]),
        }
        home.step(
            "tokens pay the bill",
            f"period {period}: {figures['bill_energy_wh']} Wh imported; "
            f"{figures['redeemed_wh']} Wh of tokens took {figures['redeemed_amount']} off it "
            f"(the network charge stays), {figures['bill_amount']} left, auto-paid "
            f"{paid['amount']} {paid['currency']}",
        )

    async def sell_the_rest(self) -> None:
        """The tokens left claimed (minted to the wallet) and sold back at the feed-in price."""
        home, figures = self.home, self.figures
        deployment = self.stack.deployment
        token, money = deployment["energyToken"], deployment["paymentToken"]
        await wait_until(lambda: self.info(4) > 0, "tokens left after the bill", PERIOD_LENGTH)
        claim = await self.action("claim_tokens")
        payer = str(self.logs("TokensClaimed")[-1]["payer"])
        figures["claimed_wh"] = self.balance(token, payer)
        home.step(
            "tokens claimed",
            f"{claim['kwh']} kWh minted to {payer} (tx {claim['tx_hash']}); "
            f"{figures['claimed_wh']} Wh of EnergyToken held",
        )
        funds, wallet = self.feed_in_funds(), self.balance(money, payer)
        sale = await self.action("sell_back", amount=figures["claimed_wh"] / 1000)
        sold = self.logs("TokensSoldBack")[-1]
        figures |= {
            "sold_wh": int(sold["wh"]),
            "sold_amount": int(sold["amount"]),
            "tokens_left_wh": self.balance(token, payer),
            "feed_in_funds_spent": funds - self.feed_in_funds(),
            "wallet_received": self.balance(money, payer) - wallet,
        }
        home.step(
            "sold back",
            f"{figures['sold_wh']} Wh at feed-in for {figures['sold_amount']} "
            f"({sale.get('amount')} {sale.get('currency')}, withdrawn {sale.get('withdrawn')}); "
            f"wallet +{figures['wallet_received']}, tokens left {figures['tokens_left_wh']} Wh",
        )


FEEDER_EVENTS = ("grid_ledger_loss_detected",)
THEFT_STEPS = ("tap on", "loss detected", "tap off", "within tolerance")
# The households draw more during the theft (within their meters' 16 A): a period's energy is
# then large against the one Wh to which each register is read, so the technical loss stays
# clearly under the tolerance.
THEFT_LOAD_FACTOR = 2.0


@dataclass
class Theft:
    """The transformer's side: the illegal tap switched from Home Assistant, the ledger's loss
    checks of the feeder's periods, the event and the repair Home Assistant raises."""

    stack: DemoStack
    feeder: FeederInHA
    transformer: SimulatorClient  # the transformer's meter, as the tests' API client sees it
    events: EventLog  # the feeder device's `grid_ledger_loss_detected`
    steps: list[str] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        anvil, hass, genesis = self.stack.anvil, self.stack.hass, self.stack.genesis
        if anvil is None or hass is None or genesis is None:
            raise RuntimeError("the theft needs the stack up and deployed")
        self.hass, self.genesis = hass, genesis
        w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
        self.ledger = w3.eth.contract(
            address=self.stack.deployment["gridLedger"], abi=GRID_LEDGER_ABI
        )

    def step(self, name: str, detail: str) -> None:
        self.steps.append(name)
        timeline(f"STEP {name}: {detail}")

    def period_of(self, epoch: float) -> int:
        return 1 + int(epoch - self.genesis) // PERIOD_LENGTH

    def period_start(self, period: int) -> int:
        return self.genesis + (period - 1) * PERIOD_LENGTH

    def logs(self, event: str) -> list[dict[str, Any]]:
        """The ledger's `event` logs of the demo's feeder."""
        found = self.ledger.events[event]().get_logs(
            from_block=0, argument_filters={"feederId": FEEDER_ID}
        )
        return [dict(log["args"]) for log in found]

    async def repair(self, shown: bool, what: str) -> None:
        """Until Home Assistant shows the feeder entry's loss repair (or no longer does)."""
        issue = f"loss_detected_{self.feeder.entry_id}"
        deadline = time.monotonic() + STEP_WITHIN
        while True:
            (reply,) = await self.hass.websocket({"type": "repairs/list_issues"})
            issues = {(i["domain"], i["issue_id"]) for i in reply["issues"]}
            if (("grid_ledger", issue) in issues) == shown:
                return
            if time.monotonic() > deadline:
                raise StepMissedError(f"{what}: not seen within {STEP_WITHIN:.0f} s")
            await asyncio.sleep(1)

    async def switch_tap(self, on: bool) -> int:
        """The tap switched from Home Assistant, as a person would; returns the second from
        which the transformer's meter has it."""
        service = "turn_on" if on else "turn_off"
        await asyncio.to_thread(
            self.hass.request,
            "POST",
            f"/api/services/switch/{service}",
            {"entity_id": self.feeder.meter["illegal_tap"]},
        )
        await self.transformer.wait_value("illegal_tap", on)
        return int(time.time()) + 1

    async def next_reading(self, after: int) -> int:
        """The timestamp of the feeder's first reading on-chain stamped after `after`."""
        return int(
            await wait_until(
                lambda: next(
                    (
                        r["timestamp"]
                        for r in self.logs("FeederReadingAccepted")
                        if r["timestamp"] > after
                    ),
                    None,
                ),
                f"a feeder reading after {iso(after)}",
                PERIOD_LENGTH + STEP_WITHIN,
            )
        )

    def checked_by(self, period: int) -> float:
        """Seconds until the feeder's first reading of `period` + 2 (which checks it) is due."""
        return self.period_start(period + 2) + PERIOD_LENGTH + STEP_WITHIN - time.time()

    async def story(self, homes: tuple[Household, Household]) -> None:
        for home, household in zip(homes, HOUSEHOLDS, strict=True):
            await set_meter_number(
                home, household.device, "simulated_load_factor", THEFT_LOAD_FACTOR
            )
        timeline(f"both households draw {THEFT_LOAD_FACTOR:g}x their simulated load")
        await self.tap_on()
        await self.tap_off()

    async def tap_on(self) -> None:
        on = await self.switch_tap(True)
        self.step(
            "tap on",
            f"{self.feeder.meter['illegal_tap']} on at {iso(on)} (period {self.period_of(on)}): "
            f"{TAP_POWER_W} W behind the transformer that no household meter sees",
        )
        # The period after the one of the first reading with the tap on is tapped throughout.
        reading = await self.next_reading(on)
        tapped = self.period_of(reading) + 1
        timeline(
            f"feeder reading at {iso(reading)} with the tap on: period {tapped} is tapped "
            f"throughout; the ledger checks it at the feeder's first reading of period "
            f"{tapped + 2} (from {iso(self.period_start(tapped + 2))})"
        )
        event = await self.events.wait(
            "grid_ledger_loss_detected",
            f"loss detected for period {self.period_of(on)} or later",
            lambda e: e["period"] >= self.period_of(on),
            within=self.checked_by(tapped),
        )
        period = int(event["period"])
        (detected,) = [log for log in self.logs("LossDetected") if log["period"] == period]
        await self.repair(True, "the loss repair in Home Assistant")
        self.figures |= {
            "tapped_period": period,
            "tapped_feeder_wh": int(detected["feederWh"]),
            "tapped_children_wh": int(detected["childrenWh"]),
            "tapped_loss_bps": int(detected["lossBps"]),
        }
        self.step(
            "loss detected",
            f"period {period}: feeder {detected['feederWh']} Wh, households "
            f"{detected['childrenWh']} Wh, loss {event['loss_percent']} % above the tolerance "
            f"{event['tolerance_percent']} % (LossDetected {detected['lossBps']} bps); "
            f"event grid_ledger_loss_detected, repair loss_detected raised",
        )

    async def tap_off(self) -> None:
        off = await self.switch_tap(False)
        self.step("tap off", f"{self.feeder.meter['illegal_tap']} off at {iso(off)}")
        reading = await self.next_reading(off)
        clean = self.period_of(reading) + 1
        timeline(
            f"feeder reading at {iso(reading)} with the tap off: period {clean} is clean "
            f"throughout, checked from {iso(self.period_start(clean + 2))}"
        )
        (checked,) = await wait_until(
            lambda: [log for log in self.logs("LossChecked") if log["period"] == clean],
            f"the ledger's check of period {clean}",
            self.checked_by(clean),
        )
        if any(log["period"] == clean for log in self.logs("LossDetected")):
            raise StepMissedError(f"loss detected in period {clean} with the tap off: {checked}")
        feeder_wh, children_wh = int(checked["feederWh"]), int(checked["childrenWh"])
        loss_bps = (feeder_wh - children_wh) * 10_000 // feeder_wh if feeder_wh else 0
        if loss_bps > FEEDER_LOSS_TOLERANCE_BPS:
            raise StepMissedError(f"period {clean} lost {loss_bps} bps, yet no LossDetected")
        await self.repair(False, "the loss repair closed")
        self.figures |= {
            "clean_period": clean,
            "clean_feeder_wh": feeder_wh,
            "clean_children_wh": children_wh,
            "clean_loss_bps": loss_bps,
        }
        self.step(
            "within tolerance",
            f"period {clean}: feeder {feeder_wh} Wh, households {children_wh} Wh, loss "
            f"{loss_bps / 100:g} % (technical) within the tolerance "
            f"{FEEDER_LOSS_TOLERANCE_BPS / 100:g} %; the repair closed",
        )


MARKET_STEPS = ("offer", "bid", "won and sold", "finalized", "tokens pay the bill", "relay on")


@dataclass
class Trade:
    """The energy market between the households, as their options make it trade: the prosumer
    offers what its meter earned, the consumer's bid wins, their entries finalize the lot
    after its deadline, and the bought tokens pay the consumer's next bill before auto-pay."""

    stack: DemoStack
    consumer: Household
    prosumer: Household
    steps: list[str] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.stack.anvil is not None
        w3 = Web3(Web3.HTTPProvider(self.stack.anvil.rpc_url))
        self.w3 = w3
        deployment = self.stack.deployment
        self.auction = w3.eth.contract(address=deployment["energyAuction"], abi=AUCTION_ABI)
        self.ledger = w3.eth.contract(address=deployment["gridLedger"], abi=GRID_LEDGER_ABI)
        self.producer_ledger = w3.eth.contract(
            address=deployment["gridLedger"],
            abi=[event_abi(signature) for signature in PRODUCER_EVENTS],
        )

    def step(self, name: str, detail: str) -> None:
        self.steps.append(name)
        timeline(f"STEP {name}: {detail}")

    def auction_logs(self, event: str, since: int = 0, **filters: Any) -> list[dict[str, Any]]:
        found = self.auction.events[event]().get_logs(from_block=since, argument_filters=filters)
        return [with_tx(log) for log in found]

    def tokens(self, holder: str) -> int:
        token = self.stack.deployment["energyToken"]
        return self.stack.cast_call(token, "balanceOf(address)(uint256)", holder)

    async def relay_stays_on(self, until: asyncio.Event) -> None:
        """The consumer's relay, as its meter firmware reports it, throughout the trade."""
        while not until.is_set():
            if self.consumer.meter.value("relay") is not True:
                raise StepMissedError("the consumer's relay went off during the trade")
            await asyncio.sleep(0.5)

    async def story(self) -> None:
        assert self.stack.anvil is not None
        since = int(self.stack.anvil.rpc("eth_blockNumber"), 16)
        # The prosumer now sells what its roof earns rather than paying its own bills with it
        # (its load, doubled for the theft, would take every token).
        options = market_options(self.stack, PROSUMER)
        await self.prosumer.set_options(**options, redeem_tokens=False)
        done = asyncio.Event()
        watch = asyncio.create_task(self.relay_stays_on(done))
        try:
            await self.trade(since)
        finally:
            done.set()
            await watch
        self.step(
            "relay on",
            f"the consumer's relay stayed on through the trade; permit until "
            f"{iso(self.consumer.permit_until())}",
        )

    async def trade(self, since: int) -> None:
        figures = self.figures
        (offered,) = (
            await wait_until(
                lambda: self.auction_logs("LotOffered", since),
                "the prosumer's automatic offer",
                2 * PERIOD_LENGTH,
            )
        )[:1]
        lot_id, seller_wallet = int(offered["lotId"]), str(offered["seller"])
        figures |= {
            "lot_id": lot_id,
            "lot_wh": int(offered["amountWh"]),
            "start_price": int(offered["startPricePerKWh"]),
        }
        self.step(
            "offer",
            f"lot {lot_id}: {offered['amountWh']} Wh of the prosumer's tokens (claimed from its "
            f"meter) from {offered['startPricePerKWh'] / 10**6:g} per kWh until "
            f"{iso(int(offered['deadline']))} (tx {offered['tx']})",
        )
        (bid,) = (
            await wait_until(
                lambda: self.auction_logs("BidPlaced", since, lotId=lot_id),
                "the consumer's automatic bid",
                STEP_WITHIN,
            )
        )[:1]
        buyer = str(bid["bidder"])
        figures |= {"bid_price": int(bid["pricePerKWh"]), "bid_payment": int(bid["payment"])}
        self.step(
            "bid",
            f"the consumer's wallet {buyer} bid {bid['pricePerKWh'] / 10**6:g} per kWh, "
            f"{bid['payment']} escrowed (within its spending cap; tx {bid['tx']})",
        )
        deadline = int(self.auction.functions.lot(lot_id).call()[2])
        within = deadline - time.time() + STEP_WITHIN
        won = await self.consumer.events.wait(
            "grid_ledger_lot_won", f"lot {lot_id} won", lambda e: e["lot_id"] == lot_id, within
        )
        sold = await self.prosumer.events.wait(
            "grid_ledger_lot_sold", f"lot {lot_id} sold", lambda e: e["lot_id"] == lot_id
        )
        self.step(
            "won and sold",
            f"grid_ledger_lot_won at {won['price_per_kwh']} {won['currency']} per kWh; "
            f"grid_ledger_lot_sold, proceeds {sold['proceeds']} {sold['currency']}",
        )
        (final,) = self.auction_logs("LotFinalized", since, lotId=lot_id)
        sender = self.w3.eth.get_transaction(final["tx"])["from"]
        held = self.tokens(buyer)
        if final["winner"] != buyer or held < int(offered["amountWh"]):
            raise StepMissedError(f"lot {lot_id} finalized to {final['winner']}, {held} Wh held")
        who = {buyer: "the consumer's", seller_wallet: "the prosumer's"}.get(sender, sender)
        figures |= {"payment": int(final["payment"]), "bought_wh": int(offered["amountWh"])}
        self.step(
            "finalized",
            f"lot {lot_id} finalized by {who} entry after its deadline "
            f"{iso(deadline)}: {offered['amountWh']} Wh to the consumer for {final['payment']}, "
            f"the consumer holds {held} Wh (tx {final['tx']})",
        )
        await self.redeemed(int(final["block"]))

    async def redeemed(self, since: int) -> None:
        """The consumer's next bill: the bought tokens take its energy first, auto-pay the
        rest."""
        figures = self.figures
        redeemed = (
            await wait_until(
                lambda: self.ledger_logs("TokensRedeemed", since),
                "the bought tokens redeemed against the consumer's bill",
                2 * PERIOD_LENGTH + STEP_WITHIN,
            )
        )[0]
        paid = (
            await wait_until(
                lambda: self.ledger_logs("PaymentReceived", int(redeemed["block"])),
                "auto-pay of what the tokens left",
                STEP_WITHIN,
            )
        )[0]
        figures |= {
            "redeemed_wh": int(redeemed["wh"]),
            "redeemed_amount": int(redeemed["amount"]),
            "paid_after": int(paid["amount"]),
            "due_after": self.consumer.amount_due(),
        }
        if figures["due_after"] != 0:
            raise StepMissedError(f"the consumer still owes {figures['due_after']}")
        self.step(
            "tokens pay the bill",
            f"{redeemed['wh']} Wh of bought tokens took {redeemed['amount']} off the consumer's "
            f"bill (tx {redeemed['tx']}); auto-pay paid the {paid['amount']} left; due 0",
        )

    def ledger_logs(self, event: str, since: int) -> list[dict[str, Any]]:
        contract = self.ledger if event == "PaymentReceived" else self.producer_ledger
        found = contract.events[event]().get_logs(
            from_block=since, argument_filters={"meterId": METER_ID}
        )
        return [with_tx(log) for log in found]


def with_tx(log: Any) -> dict[str, Any]:
    """A decoded log's arguments, its transaction's hash and its block."""
    return {
        **dict(log["args"]),
        "tx": log["transactionHash"].to_0x_hex(),
        "block": log["blockNumber"],
    }


SETTLEMENT_STEPS = ("tapped period settled", "clean period settled", "markup lowered")
STATEMENT = (
    "statement(uint32,uint32)((uint64,uint64,uint64,uint16,uint16,bool,uint128,uint128,uint128))"
)


@dataclass
class Settlement:
    """The operator's settlement of the feeder's periods: the theft's tapped period and its
    clean one settled through the feeder entry's `settle_period`, each statement printed with
    every party's share."""

    stack: DemoStack
    feeder: FeederInHA
    home: Household  # for its Home Assistant client
    steps: list[str] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)

    def step(self, name: str, detail: str) -> None:
        self.steps.append(name)
        timeline(f"STEP {name}: {detail}")

    async def story(self, theft: dict[str, int]) -> None:
        for name, which in (("tapped period settled", "tapped"), ("clean period settled", "clean")):
            period = theft[f"{which}_period"]
            await self.settle(name, which, period)
        tapped, clean = self.figures["tapped_markup_bps"], self.figures["clean_markup_bps"]
        if not tapped < clean:
            raise StepMissedError(f"the tapped period's markup {tapped} is not below {clean}")
        self.step(
            "markup lowered",
            f"the tap's loss cost the distributor {clean - tapped} bps of markup: {tapped} bps "
            f"in period {theft['tapped_period']} against {clean} bps in period "
            f"{theft['clean_period']}",
        )

    async def settle(self, name: str, which: str, period: int) -> None:
        settlement = self.stack.deployment["settlement"]
        not_before = self.stack.cast_call(
            self.stack.deployment["gridLedger"], "periodStart(uint32)(uint256)", str(period + 1)
        ) + self.stack.cast_call(settlement, "cutoffAt(uint32)(uint32)", str(period))
        await sleep_until(not_before + 2 * BLOCK_TIME)  # a block after the cut-off
        response = await self.home.hass.call_service(
            "grid_ledger",
            "settle_period",
            {"config_entry_id": self.feeder.entry_id, "period": period},
        )
        ((plant_wh, distributor_wh, households_wh, loss, markup, settled, value, plant, dist),) = (
            self.stack.cast_decoded(settlement, STATEMENT, str(period), str(FEEDER_ID))
        )
        if settled not in (True, "true"):
            raise StepMissedError(f"period {period} not settled: {response}")
        value, plant, dist = int(value), int(plant), int(dist)
        operator = value - plant - dist
        self.figures |= {
            f"{which}_period": period,
            f"{which}_plant_wh": int(plant_wh),
            f"{which}_distributor_wh": int(distributor_wh),
            f"{which}_households_wh": int(households_wh),
            f"{which}_loss_bps": int(loss),
            f"{which}_markup_bps": int(markup),
            f"{which}_households_value": value,
            f"{which}_plant_owed": plant,
            f"{which}_distributor_owed": dist,
            f"{which}_operator_keeps": operator,
        }
        self.step(
            name,
            f"period {period} through grid_ledger.settle_period (tx {response.get('tx_hash')}): "
            f"plant {PLANT_ID} {plant_wh} Wh, owed {plant}; distributor {FEEDER_ID} "
            f"{distributor_wh} Wh in, households {households_wh} Wh (worth {value}), loss "
            f"{int(loss) / 100:g} %, markup {markup} bps, owed {dist}; the operator keeps "
            f"{operator} (base units of the payment token)",
        )


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


def run_scenario(workdir: Path) -> Outcome:
    """Bring the stack up in `workdir`, run both households' stories, stop everything by PID.

    Returns the steps that happened, in order, and the producer's figures; raises
    `StepMissedError` naming the step that did not happen."""
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
            outcome = loop.run_until_complete(lifecycle(stack, keys))
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
    finally:
        stack.stop()
        deployment.unlink(missing_ok=True)
    return outcome


def main() -> int:
    started = time.monotonic()
    timeline("Grid Ledger scenario: a consumer's billing cycle, a prosumer's tokens and a theft")
    timeline("below their transformer, on anvil, three meter simulators and Home Assistant")
    with tempfile.TemporaryDirectory(prefix="grid-ledger-scenario-") as workdir:
        try:
            outcome = run_scenario(Path(workdir))
        except StepMissedError as failure:
            timeline(f"FAILED: {failure}")
            return 1
    seen = [
        *outcome.steps,
        *outcome.producer_steps,
        *outcome.theft_steps,
        *outcome.market_steps,
        *outcome.settlement_steps,
    ]
    expected = [*STEPS, *PRODUCER_STEPS, *THEFT_STEPS, *MARKET_STEPS, *SETTLEMENT_STEPS]
    if seen != expected:
        timeline(f"FAILED: steps {seen}, expected {expected}")
        return 1
    timeline(f"the prosumer's figures: {json.dumps(outcome.figures)}")
    timeline(f"the feeder's figures: {json.dumps(outcome.theft_figures)}")
    timeline(f"the market's figures: {json.dumps(outcome.market_figures)}")
    timeline(f"the settlement's figures: {json.dumps(outcome.settlement_figures)}")
    timeline(f"every step happened, in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
