"""A private chain whose clock the test moves together with Home Assistant's, and a real relay.

Chain time (anvil's block timestamps) and Home Assistant's clock (freezer) start equal and are
moved together, by the test only, so a permit that ends on-chain at `permit_until` ends for Home
Assistant at the same instant. The relay is a real `switch` entity: a template switch over an
`input_boolean`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
import time
from typing import Any

from eth_account import Account
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.grid_ledger.const import (
    CONF_READING_INTERVAL,
    DOMAIN,
    EVENT_RESTORED,
    EVENT_TRIP_WARNING,
    EVENT_TRIPPED,
)
from tests.anvil import Anvil
from tests.chain_fixtures import LedgerConfig, deploy_ledger, web3_for

from .conftest import RELAY_ENTITY, Ledger, MeterSetup, entry_data, register_meter, set_register

SUPPLY_BOOLEAN = "input_boolean.supply"
EVENTS = (EVENT_TRIP_WARNING, EVENT_TRIPPED, EVENT_RESTORED)


def utc(timestamp: float) -> datetime:
    return dt_util.utc_from_timestamp(timestamp)


@dataclass
class Grid:
    """One household on a private ledger, with the clocks of chain and HA moved together."""

    node: Anvil
    ledger: Ledger
    meter: MeterSetup
    freezer: FrozenDateTimeFactory
    events: list[Event[Any]] = field(default_factory=list)

    @property
    def contract(self) -> Any:
        return self.ledger.contract

    def chain_time(self) -> int:
        return self.node.timestamp()

    def permit_until(self) -> int:
        return int(self.contract.functions.permitUntil(self.meter.meter_id).call())

    def amount_due(self) -> int:
        return int(self.contract.functions.amountDue(self.meter.meter_id).call())

    def register_wh(self) -> int:
        return int(self.contract.functions.meter(self.meter.meter_id).call()[7])

    def consume(self, wh: int) -> None:
        """A signed reading `wh` above the register 5 min later, relayed by the operator."""
        deployment = self.ledger.deployment
        signer = Account.from_key(self.meter.meter_key)
        register = self.register_wh() + wh
        timestamp = self.chain_time() + 300  # 500 Wh in 5 min: 6 kW, plausible
        self.node.rpc("evm_setNextBlockTimestamp", timestamp)
        signature = deployment.sign_reading(signer, self.meter.meter_id, register, timestamp)
        reading = (self.meter.meter_id, register, timestamp)
        deployment.transact(self.contract.functions.submitReading(reading, signature))

    def pay(self) -> Any:
        """Pay the whole amount due from the household wallet; returns the receipt."""
        due = self.amount_due()
        assert due > 0
        payer = Account.from_key(self.meter.wallet_key)
        return self.ledger.deployment.transact(
            self.contract.functions.payBill(self.meter.meter_id), sender=payer, value=due
        )

    def mine_at(self, timestamp: int) -> None:
        """Mine a block at `timestamp` (chain time moves there)."""
        if timestamp > self.chain_time():
            self.node.rpc("evm_setNextBlockTimestamp", timestamp)
        self.node.rpc("evm_mine")

    async def move_to(self, hass: HomeAssistant, timestamp: float, mine: bool = True) -> None:
        """Move both clocks to `timestamp` and run what became due."""
        if mine:
            self.mine_at(int(timestamp))
        self.freezer.move_to(utc(timestamp))
        async_fire_time_changed(hass, utc(timestamp))
        await settle(hass)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(event.data) for event in self.events if event.event_type == event_type]


async def wait_for(hass: HomeAssistant, predicate: Callable[[], bool], seconds: float = 15) -> None:
    """Let real I/O (the node) progress while HA's clock stands still, until `predicate`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        async with asyncio.timeout_at(deadline):
            while not predicate():
                await hass.async_add_executor_job(time.sleep, 0.01)
                await hass.async_block_till_done()
    except TimeoutError:
        raise AssertionError(f"condition not reached in {seconds} s") from None


async def settle(hass: HomeAssistant, seconds: float = 0.1) -> None:
    """Run what is due, then give background requests (the coordinator's timed refresh, which
    `async_block_till_done` does not wait for) real time to finish: one still in flight at the
    next clock jump would see its timeout fire with the jump."""
    await hass.async_block_till_done()
    for _ in range(int(seconds / 0.02)):
        await hass.async_add_executor_job(time.sleep, 0.02)
        await hass.async_block_till_done()


async def poll_events(hass: HomeAssistant, grid: Grid, predicate: Callable[[], bool]) -> None:
    """Let the event follower's next poll (2 s) run, and wait until `predicate` holds."""
    grid.freezer.tick(2.1)
    async_fire_time_changed(hass)
    await wait_for(hass, predicate)


def relay_state(hass: HomeAssistant) -> str:
    state = hass.states.get(RELAY_ENTITY)
    assert state is not None
    return state.state


async def setup_relay(hass: HomeAssistant, on: bool = True) -> None:
    """A real switch entity `switch.house_supply` backed by `input_boolean.supply`."""
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"supply": {"initial": on}}}
    )
    action = {"target": {"entity_id": SUPPLY_BOOLEAN}}
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "switch": [
                        {
                            "name": "House supply",
                            "state": "{{ is_state('input_boolean.supply', 'on') }}",
                            "turn_on": {"action": "input_boolean.turn_on", **action},
                            "turn_off": {"action": "input_boolean.turn_off", **action},
                        }
                    ]
                }
            ]
        },
    )
    await hass.async_block_till_done()
    assert relay_state(hass) == ("on" if on else "off")


def start_node() -> Anvil:
    node = Anvil()
    try:
        return node.start()
    except BaseException:
        node.stop()
        raise


@pytest.fixture(name="node")
def node_fixture(socket_enabled: None) -> Iterator[Anvil]:
    node = start_node()
    try:
        yield node
    finally:
        node.stop()


def make_grid(
    node: Anvil, freezer: FrozenDateTimeFactory, config: LedgerConfig | None = None
) -> Grid:
    """Deploy on `node`, register a meter that used 500 Wh, align HA's clock to the chain.

    From the meter's first reading on, chain time moves only as the test moves it: each block
    the integration's transactions mine keeps the latest block's time, where anvil would stamp
    it by the real time elapsed (a slow machine would move permits and bills by seconds)."""
    deployment = deploy_ledger(web3_for(node), node.accounts[0][1], token=False, config=config)
    ledger = Ledger(node, deployment)
    meter = register_meter(ledger)
    grid = Grid(node, ledger, meter, freezer)
    grid.consume(500)
    node.rpc("anvil_setBlockTimestampInterval", 0)
    freezer.move_to(utc(grid.chain_time()))
    return grid


@pytest.fixture(name="grid")
def grid_fixture(node: Anvil, freezer: FrozenDateTimeFactory) -> Grid:
    return make_grid(node, freezer)


async def setup_grid_entry(
    hass: HomeAssistant,
    grid: Grid,
    options: dict[str, Any] | None = None,
    rpc_url: str | None = None,
) -> MockConfigEntry:
    """The relay, the energy register as on-chain, the entry with `options`; events recorded."""
    if hass.states.get(RELAY_ENTITY) is None:
        await setup_relay(hass)
    await set_register(hass, grid.register_wh() / 1000)

    @callback
    def _record(event: Event[Any]) -> None:
        grid.events.append(event)

    for event_type in EVENTS:
        hass.bus.async_listen(event_type, _record)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Meter {grid.meter.meter_id}",
        data=entry_data(grid.ledger, grid.meter, rpc_url),
        options={CONF_READING_INTERVAL: 15, **(options or {})},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
