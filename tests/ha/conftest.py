"""Fixtures of the Home Assistant tests: Grid Ledger deployed on anvil, meters, config entries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
import itertools
from pathlib import Path
from typing import Any

from eth_account import Account
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import pytest_socket
from web3 import Web3
from web3.contract import Contract

from custom_components.grid_ledger.chain import generate_private_key
from custom_components.grid_ledger.const import (
    CONF_CHAIN_ID,
    CONF_CONTRACT,
    CONF_ENERGY_ENTITY,
    CONF_FEEDER_ID,
    CONF_FEEDER_KEY,
    CONF_METER_ID,
    CONF_METER_KEY,
    CONF_READING_INTERVAL,
    CONF_RELAY_ENTITY,
    CONF_WALLET_KEY,
    CONF_WALLET_TYPE,
    DOMAIN,
    WALLET_KEY,
)
from tests.anvil import Anvil
from tests.chain_fixtures import Deployment, build_contracts, deploy_ledger, web3_for

ENERGY_ENTITY = "sensor.house_energy"
RELAY_ENTITY = "switch.house_supply"
FEEDER_ENTITY = "sensor.transformer_energy"
_METER_IDS = itertools.count(100)
_FEEDER_IDS = itertools.count(500)


@dataclass
class Ledger:
    """A Grid Ledger deployed by the shared chain fixtures, and the node it runs on."""

    anvil: Anvil
    deployment: Deployment
    _other_contract: str | None = None

    @property
    def w3(self) -> Web3:
        return self.deployment.w3

    @property
    def contract(self) -> Contract:
        return self.deployment.ledger

    @property
    def address(self) -> str:
        return self.deployment.address

    def transact(self, call: Any, value: int = 0) -> Any:
        """Send an operator transaction (paying `value` wei with it); raises if it reverts."""
        return self.deployment.transact(call, value=value)

    def token_address(self) -> str:
        """A contract that is not a Grid Ledger: a token ledger's stablecoin."""
        if self.deployment.token is not None:
            return str(self.deployment.token.address)
        if self._other_contract is None:
            other = deploy(self.anvil, token=True).deployment.token
            assert other is not None
            self._other_contract = str(other.address)
        return self._other_contract


def deploy(anvil: Anvil, token: bool = False) -> Ledger:
    """Deploy with tariff 1 and feeder 1, paid in the native coin or the test stablecoin."""
    return Ledger(anvil, deploy_ledger(web3_for(anvil), anvil.accounts[0][1], token=token))


@pytest.fixture(scope="session")
def ledger(request: pytest.FixtureRequest) -> Ledger:
    # Sockets are opened before `anvil` is requested: its port is picked when it is created.
    pytest_socket.enable_socket()
    try:
        node = request.getfixturevalue("anvil")
        pytest_socket.enable_socket()
        build_contracts()
        deployed = deploy(node)
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)
    return deployed


@dataclass
class MeterSetup:
    """A registered meter with its keys."""

    meter_id: int
    meter_key: str
    wallet_address: str
    wallet_key: str


def register_meter(
    ledger: Ledger,
    payer_index: int = 1,
    initial_wh: int = 1_000,
    meter_id: int | None = None,
    meter_key: str | None = None,
    feeder_id: int = 1,
) -> MeterSetup:
    meter_id = meter_id or next(_METER_IDS)
    meter_key = meter_key or generate_private_key()
    signer = Account.from_key(meter_key).address
    payer, payer_key = ledger.anvil.accounts[payer_index]
    payer = Web3.to_checksum_address(payer)
    ledger.deployment.register_meter(
        meter_id, signer, payer, feeder_id=feeder_id, initial_wh=initial_wh
    )
    return MeterSetup(meter_id, meter_key, payer, payer_key)


@dataclass
class FeederSetup:
    """A registered feeder with its key, whose address holds coin for the readings' gas."""

    feeder_id: int
    feeder_key: str
    address: str


def register_feeder(
    ledger: Ledger, loss_tolerance_bps: int = 500, max_power_w: int = 1_000_000, parent_id: int = 0
) -> FeederSetup:
    feeder_id = next(_FEEDER_IDS)
    feeder_key = generate_private_key()
    address = Account.from_key(feeder_key).address
    ledger.deployment.register_feeder(
        feeder_id,
        address,
        parent_id=parent_id,
        loss_tolerance_bps=loss_tolerance_bps,
        max_power_w=max_power_w,
    )
    ledger.deployment.fund(address)
    return FeederSetup(feeder_id, feeder_key, address)


def make_feeder_entry(ledger: Ledger, feeder: FeederSetup) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Feeder {feeder.feeder_id}",
        unique_id=f"{ledger.anvil.chain_id}-{ledger.address.lower()}-feeder-{feeder.feeder_id}",
        data={
            "url": ledger.anvil.rpc_url,
            CONF_CONTRACT: ledger.address,
            CONF_CHAIN_ID: ledger.anvil.chain_id,
            CONF_FEEDER_ID: feeder.feeder_id,
            CONF_FEEDER_KEY: feeder.feeder_key,
            CONF_ENERGY_ENTITY: FEEDER_ENTITY,
        },
        options={CONF_READING_INTERVAL: 15},
    )


def relay_kept_reading(
    ledger: Ledger, hass_storage: dict[str, Any], entry: MockConfigEntry, function: str
) -> dict[str, Any]:
    """Relay the signed reading the entry keeps in its outbox with the ledger's `function`, as
    anyone may (the operator's relay, say); returns the kept reading."""
    pending: dict[str, Any] = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]["pending"]
    ledger.transact(
        getattr(ledger.contract.functions, function)(
            (pending["meter_id"], pending["wh"], pending["timestamp"]),
            bytes.fromhex(pending["signature"]),
        )
    )
    return pending


async def set_feeder_register(hass: Any, value: float | str, unit: str = "kWh") -> None:
    hass.states.async_set(
        FEEDER_ENTITY,
        str(value),
        {"unit_of_measurement": unit, "device_class": "energy", "state_class": "total_increasing"},
    )
    await hass.async_block_till_done()


@pytest.fixture
def meter(ledger: Ledger, socket_enabled: None) -> MeterSetup:
    return register_meter(ledger)


def entry_data(ledger: Ledger, meter: MeterSetup, rpc_url: str | None = None) -> dict[str, Any]:
    return {
        "url": rpc_url or ledger.anvil.rpc_url,
        CONF_CONTRACT: ledger.address,
        CONF_CHAIN_ID: ledger.anvil.chain_id,
        CONF_WALLET_TYPE: WALLET_KEY,
        CONF_WALLET_KEY: meter.wallet_key,
        CONF_METER_ID: meter.meter_id,
        CONF_METER_KEY: meter.meter_key,
        CONF_ENERGY_ENTITY: ENERGY_ENTITY,
        CONF_RELAY_ENTITY: RELAY_ENTITY,
    }


def make_entry(ledger: Ledger, meter: MeterSetup, rpc_url: str | None = None) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Meter {meter.meter_id}",
        unique_id=f"{ledger.anvil.chain_id}-{ledger.address.lower()}-{meter.meter_id}",
        data=entry_data(ledger, meter, rpc_url),
        options={CONF_READING_INTERVAL: 15},
    )


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/grid_ledger."""


async def until[T](check: Callable[[], T], seconds: float = 20.0) -> T:
    """Wait in real time (the node works on its own) until `check` returns something truthy,
    and return it."""
    async with asyncio.timeout(seconds):
        while not (result := check()):  # noqa: ASYNC110 - the condition is the chain's, not an event's
            await asyncio.sleep(0.05)
    return result


async def set_register(hass: Any, value: float | str, unit: str = "kWh") -> None:
    hass.states.async_set(
        ENERGY_ENTITY,
        str(value),
        {"unit_of_measurement": unit, "device_class": "energy", "state_class": "total_increasing"},
    )
    await hass.async_block_till_done()


async def call(hass: Any, entry: MockConfigEntry, service: str, **data: Any) -> Any:
    """Call one of the integration's actions on the entry, and return its response."""
    return await hass.services.async_call(
        DOMAIN,
        service,
        {"config_entry_id": entry.entry_id, **data},
        blocking=True,
        return_response=True,
    )


async def set_up_entry(
    hass: Any, ledger: Ledger, meter: MeterSetup, **options: Any
) -> MockConfigEntry:
    """Set up an entry of the meter (register at 1 kWh, relay on) with these options."""
    await set_register(hass, 1.0)
    hass.states.async_set(RELAY_ENTITY, "on")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Meter {meter.meter_id}",
        unique_id=f"{ledger.anvil.chain_id}-{ledger.address.lower()}-{meter.meter_id}",
        data=entry_data(ledger, meter),
        options={CONF_READING_INTERVAL: 15, **options},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.fixture
async def entry(hass: Any, ledger: Ledger, meter: MeterSetup) -> MockConfigEntry:
    """A set-up entry whose energy register reads 1 kWh and relay is on."""
    await set_register(hass, 1.0)
    hass.states.async_set(RELAY_ENTITY, "on")
    config_entry = make_entry(ledger, meter)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


def start_anvil(**options: Any) -> Anvil:
    """Start a private anvil; a failed start leaves no process behind."""
    node = Anvil(**options)
    try:
        return node.start()
    except BaseException:
        node.stop()
        raise


@dataclass
class LocalChain:
    """A private anvil that can go down and come back on the same port with its state."""

    node: Anvil
    ledger: Ledger

    def down(self) -> None:
        self.node.stop()

    def up(self) -> None:
        self.node.start()


@pytest.fixture
def local_chain(socket_enabled: None, tmp_path: Path) -> Iterator[LocalChain]:
    node = start_anvil(state_path=tmp_path / "state.json")
    try:
        yield LocalChain(node, deploy(node))
    finally:
        node.stop()
