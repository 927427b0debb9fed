"""The HA-free client library against the contract on anvil, and its error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import json
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, patch

from aiohttp import ClientConnectionError, ClientSession
from eth_abi import encode
from eth_utils.crypto import keccak
import pytest
from web3 import Web3
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    ContractPanicError,
    Web3RPCError,
)

from custom_components.grid_ledger.chain import (
    CannotConnectError,
    EventFollower,
    GridLedgerClient,
    GridLedgerError,
    InsufficientFundsError,
    InvalidKeyError,
    LedgerEvent,
    NotGridLedgerError,
    Reading,
    ReadingSigner,
    RevertedError,
    TransactionTimeoutError,
    Wallet,
    decode_revert,
    decrypt_keystore,
    generate_private_key,
    parse_private_key,
)
from custom_components.grid_ledger.chain.abi import load_abi
from custom_components.grid_ledger.chain.client import map_error, meter_topic
from tests.anvil import free_port

from .conftest import Ledger, LocalChain, MeterSetup, deploy, register_meter, until

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def client(ledger: Ledger, socket_enabled: None) -> AsyncIterator[GridLedgerClient]:
    client = GridLedgerClient(ledger.anvil.rpc_url, ledger.address)
    yield client
    await client.close()


def signer_for(ledger: Ledger, meter: MeterSetup) -> ReadingSigner:
    return ReadingSigner(meter.meter_key, ledger.anvil.chain_id, ledger.address)


def next_timestamp(ledger: Ledger, meter: MeterSetup) -> int:
    """A second after the meter's last reading (its registration)."""
    return int(ledger.contract.functions.meter(meter.meter_id).call()[8]) + 1


async def test_signature_matches_the_contract_digest(
    client: GridLedgerClient, ledger: Ledger, meter: MeterSetup
) -> None:
    signer = signer_for(ledger, meter)
    reading = Reading(meter.meter_id, 1234, 1_700_000_000)
    digest = ledger.contract.functions.readingDigest(
        (reading.meter_id, reading.wh, reading.timestamp)
    ).call()
    assert signer.digest(reading) == bytes(digest)
    assert signer.sign(reading).signature[-1] in (27, 28)
    assert meter.meter_key.removeprefix("0x") not in repr(signer)


async def test_injected_session_is_left_open(ledger: Ledger) -> None:
    async with ClientSession() as session:
        client = GridLedgerClient(ledger.anvil.rpc_url, ledger.address, session=session)
        info = await client.connect()
        await client.close()
        assert not session.closed
    assert info.version.startswith("3.")
    assert info.payment_token is None
    assert (info.token_symbol, info.token_decimals) == ("ETH", 18)


async def test_own_session_is_closed(ledger: Ledger) -> None:
    client = GridLedgerClient(ledger.anvil.rpc_url, ledger.address)
    assert await client.chain_id() == 31337
    await client.close()
    assert client._own_session is None


async def test_connect_errors(ledger: Ledger, meter: MeterSetup) -> None:
    with pytest.raises(NotGridLedgerError):
        GridLedgerClient(ledger.anvil.rpc_url, "0x1234")
    for address in (meter.wallet_address, ledger.token_address()):
        client = GridLedgerClient(ledger.anvil.rpc_url, address)
        with pytest.raises(NotGridLedgerError):
            await client.connect()
        await client.close()
    client = GridLedgerClient(f"http://127.0.0.1:{free_port()}", ledger.address)
    with pytest.raises(CannotConnectError):
        await client.connect()
    await client.close()


async def test_token_deployment(hass_free_token_ledger: tuple[Ledger, MeterSetup]) -> None:
    ledger, meter = hass_free_token_ledger
    client = GridLedgerClient(ledger.anvil.rpc_url, ledger.address)
    try:
        state = await client.meter_state(meter.meter_id, meter.wallet_address)  # connects first
    finally:
        await client.close()
    info = client.info
    assert info is not None
    assert (info.token_symbol, info.token_decimals) == ("tUSD", 6)
    assert state.wallet_token == 0


@pytest.fixture
def hass_free_token_ledger(local_chain: LocalChain) -> tuple[Ledger, MeterSetup]:
    """A Grid Ledger paid in the test stablecoin."""
    ledger = deploy(local_chain.node, token=True)
    return ledger, register_meter(ledger)


async def test_wallet_reports_named_reverts_and_lack_of_gas(
    client: GridLedgerClient, ledger: Ledger, meter: MeterSetup
) -> None:
    await client.connect()
    signer = signer_for(ledger, meter)
    wallet = Wallet(client, meter.wallet_key)
    first = signer.sign(Reading(meter.meter_id, 1001, next_timestamp(ledger, meter)))
    receipt = await wallet.send(client.submit_reading_call(first))
    assert receipt.gas_used > 0
    with pytest.raises(RevertedError) as err:
        await wallet.send(client.submit_reading_call(first))
    assert err.value.name == "StaleReading"
    assert err.value.args_by_name["id"] == meter.meter_id

    assert meter.wallet_key.removeprefix("0x") not in repr(wallet)
    broke = Wallet(client, generate_private_key())
    second = signer.sign(Reading(meter.meter_id, 1002, first.reading.timestamp + 1))
    with pytest.raises(InsufficientFundsError):
        await broke.send(client.submit_reading_call(second))


async def test_wallet_times_out_then_names_a_failed_transaction(
    local_chain: LocalChain,
) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    client = GridLedgerClient(ledger.anvil.rpc_url, ledger.address)
    await client.connect()
    signer = signer_for(ledger, meter)
    reading = signer.sign(Reading(meter.meter_id, 1001, next_timestamp(ledger, meter)))
    impatient = Wallet(client, meter.wallet_key, receipt_timeout=0.2, poll_interval=0.05)
    ledger.anvil.rpc("evm_setAutomine", False)
    try:
        with pytest.raises(TransactionTimeoutError):
            await impatient.send(client.submit_reading_call(reading))
        # The same reading again from another wallet: valid now, stale once the first is mined.
        relay = Wallet(client, ledger.anvil.accounts[3][1], poll_interval=0.05)
        pending = asyncio.ensure_future(relay.send(client.submit_reading_call(reading)))
        await asyncio.sleep(0.3)
        ledger.anvil.rpc("evm_mine")
        with pytest.raises(RevertedError) as err:
            await pending
    finally:
        ledger.anvil.rpc("evm_setAutomine", True)
        await client.close()
    assert err.value.name == "StaleReading"


async def test_event_follower_polls_over_http(
    client: GridLedgerClient, ledger: Ledger, meter: MeterSetup
) -> None:
    await follow_and_submit(client, ledger, meter)


async def test_event_follower_subscribes_over_websocket(ledger: Ledger, meter: MeterSetup) -> None:
    client = GridLedgerClient(ledger.anvil.ws_url, ledger.address)
    try:
        assert await client.chain_id() == 31337
        await follow_and_submit(client, ledger, meter)
    finally:
        await client.close()


async def follow_and_submit(client: GridLedgerClient, ledger: Ledger, meter: MeterSetup) -> None:
    received: list[LedgerEvent] = []
    arrived = asyncio.Event()

    async def on_events(events: list[LedgerEvent]) -> None:
        received.extend(events)
        if any(event.name == "ReadingAccepted" for event in events):
            arrived.set()

    follower = EventFollower(
        client, [None, meter_topic(meter.meter_id)], on_events, poll_interval=0.05
    )
    follower.last_block = ledger.w3.eth.block_number
    follower.start()
    try:
        timestamp = relay_reading(ledger, meter)
        async with asyncio.timeout(5):
            await arrived.wait()
    finally:
        await follower.stop()
    accepted = [event for event in received if event.name == "ReadingAccepted"]
    assert accepted[0].args == {"meterId": meter.meter_id, "wh": 1001, "timestamp": timestamp}
    assert accepted[0].tx_hash.startswith("0x")


def relay_reading(ledger: Ledger, meter: MeterSetup) -> int:
    """The operator relays a signed reading of 1001 Wh; returns its timestamp."""
    signed = signer_for(ledger, meter).sign(
        Reading(meter.meter_id, 1001, next_timestamp(ledger, meter))
    )
    ledger.transact(
        ledger.contract.functions.submitReading(
            (meter.meter_id, 1001, signed.reading.timestamp), signed.signature
        )
    )
    return signed.reading.timestamp


async def test_event_follower_survives_an_outage(local_chain: LocalChain) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    client = GridLedgerClient(ledger.anvil.rpc_url, ledger.address)
    arrived = asyncio.Event()

    async def on_events(events: list[LedgerEvent]) -> None:
        if any(event.name == "ReadingAccepted" for event in events):
            arrived.set()

    follower = EventFollower(
        client,
        [None, meter_topic(meter.meter_id)],
        on_events,
        poll_interval=0.05,
        retry_interval=0.05,
    )
    follower.last_block = ledger.w3.eth.block_number
    follower.start()
    try:
        local_chain.down()
        await asyncio.sleep(0.2)
        local_chain.up()
        relay_reading(ledger, meter)
        async with asyncio.timeout(5):
            await arrived.wait()
    finally:
        await follower.stop()
        await client.close()


UNKNOWN_METER_5 = (Web3.keccak(text="UnknownMeter(uint32)")[:4] + encode(["uint32"], [5])).hex()


def test_decode_revert_variants() -> None:
    error = "0x08c379a0" + encode(["string"], ["nope"]).hex()
    assert decode_revert(error).args_by_name == {"message": "nope"}
    panic = "0x4e487b71" + encode(["uint256"], [17]).hex()
    assert decode_revert(panic).name == "Panic"
    assert decode_revert("0xdeadbeef").name == "Unknown"
    assert decode_revert(None).name == "Unknown"
    unknown_meter = Web3.keccak(text="UnknownMeter(uint32)")[:4]
    assert decode_revert(unknown_meter + b"\x01").name == "UnknownMeter"  # truncated fields
    assert str(decode_revert(unknown_meter + encode(["uint32"], [5]))) == "UnknownMeter(meterId=5)"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TimeoutError(), CannotConnectError),
        (ContractPanicError("Panic", data="0x"), RevertedError),
        (ContractLogicError("execution reverted: nope", data="0x"), RevertedError),
        (ContractLogicError("reverted", data="0x" + UNKNOWN_METER_5), RevertedError),
        (BadFunctionCallOutput("empty"), NotGridLedgerError),
        (Web3RPCError("insufficient funds for gas * price + value"), InsufficientFundsError),
        (Web3RPCError("method not found"), GridLedgerError),
    ],
)
def test_map_error(error: Exception, expected: type[GridLedgerError]) -> None:
    assert type(map_error(error)) is expected


def test_keys() -> None:
    with pytest.raises(InvalidKeyError):
        parse_private_key("0x1234")
    with pytest.raises(InvalidKeyError):
        decrypt_keystore("{not json", "pw")
    assert len(generate_private_key()) == 66


async def test_logs_of_other_events_are_ignored(client: GridLedgerClient) -> None:
    foreign: Any = {"topics": [b"\x00" * 32], "data": b"", "blockNumber": 1}
    assert client.decode_log(foreign) is None
    assert client.decode_log({**foreign, "topics": []}) is None


async def test_wallet_without_a_fee_oracle_and_through_a_blip(local_chain: LocalChain) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    client = GridLedgerClient(ledger.anvil.rpc_url, ledger.address)
    await client.connect()
    wallet = Wallet(client, meter.wallet_key, backoff=0.2)
    signer = signer_for(ledger, meter)
    first = signer.sign(Reading(meter.meter_id, 1001, next_timestamp(ledger, meter)))
    no_oracle = PropertyMock(
        side_effect=Web3RPCError("the method eth_maxPriorityFeePerGas does not exist")
    )
    try:
        with patch.object(type(client.w3.eth), "max_priority_fee", no_oracle):
            max_fee, priority = await wallet.fees()
            assert priority == 1_000_000_000
            assert max_fee > priority
        # The node goes away and comes back while the reading is being sent.
        local_chain.down()
        sending = asyncio.ensure_future(wallet.send(client.submit_reading_call(first)))
        await asyncio.sleep(0.1)
        local_chain.up()
        receipt = await sending
    finally:
        await client.close()
    assert receipt.block_number > 0
    assert int(ledger.contract.functions.meter(meter.meter_id).call()[7]) == 1001


async def test_websocket_follower_resubscribes_after_an_outage(local_chain: LocalChain) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger)
    client = GridLedgerClient(ledger.anvil.ws_url, ledger.address, request_timeout=2)
    arrived = asyncio.Event()

    async def on_events(events: list[LedgerEvent]) -> None:
        if any(event.name == "ReadingAccepted" for event in events):
            arrived.set()

    follower = EventFollower(
        client, [None, meter_topic(meter.meter_id)], on_events, retry_interval=0.1
    )
    follower.start()
    try:
        await asyncio.sleep(0.3)
        local_chain.down()
        await asyncio.sleep(0.3)
        local_chain.up()
        await asyncio.sleep(0.5)
        relay_reading(ledger, meter)
        async with asyncio.timeout(10):
            await arrived.wait()
    finally:
        await follower.stop()
        await client.close()


def test_abi_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_abi(tmp_path)
    (tmp_path / "IGridLedger.json").write_text(json.dumps({"abi": [{"type": "fallback"}]}))
    assert load_abi(tmp_path) == [{"type": "fallback"}]


async def test_wallet_treats_a_lost_answer_as_sent(
    client: GridLedgerClient, ledger: Ledger, meter: MeterSetup
) -> None:
    """The node took the transaction but its answer was lost: the retry must not fail."""
    await client.connect()
    wallet = Wallet(client, meter.wallet_key, backoff=0.01)
    signed = signer_for(ledger, meter).sign(
        Reading(meter.meter_id, 1001, next_timestamp(ledger, meter))
    )
    eth = client.w3.eth
    real_send = eth.send_raw_transaction
    sent: list[bytes] = []
    nonce = await wallet.nonce("latest")

    async def send_then_lose_answer(raw: bytes) -> Any:
        sent.append(bytes(raw))
        result = await real_send(raw)
        if len(sent) == 1:
            raise ClientConnectionError("connection reset after the request was sent")
        return result

    with patch.object(eth, "send_raw_transaction", side_effect=send_then_lose_answer):
        receipt = await wallet.send(client.submit_reading_call(signed))
    assert receipt.tx_hash == "0x" + keccak(sent[0]).hex()  # the first bytes, not a new signing
    assert set(sent) == {sent[0]}
    assert await wallet.nonce("latest") == nonce + 1
    assert receipt.block_number > 0
    assert int(ledger.contract.functions.meter(meter.meter_id).call()[7]) == 1001


async def test_wallet_hands_a_forgotten_transaction_to_the_node_again(
    local_chain: LocalChain,
) -> None:
    """The node drops the reading's transaction from its pool (as a restarted or evicting node
    does): the wallet sends the same bytes again and gets its receipt, well before its timeout."""
    ledger = local_chain.ledger
    node = ledger.anvil
    meter = register_meter(ledger)
    client = GridLedgerClient(node.rpc_url, ledger.address)
    await client.connect()
    signed = signer_for(ledger, meter).sign(
        Reading(meter.meter_id, 1001, next_timestamp(ledger, meter))
    )
    wallet = Wallet(client, meter.wallet_key, poll_interval=0.05, rebroadcast_after=0.2)
    node.rpc("evm_setAutomine", False)
    try:
        sending = asyncio.ensure_future(wallet.send(client.submit_reading_call(signed)))
        [tx_hash] = await until(
            lambda: node.rpc("eth_getBlockByNumber", "pending", False)["transactions"], 10
        )
        node.rpc("anvil_dropTransaction", tx_hash)
        assert node.rpc("eth_getTransactionByHash", tx_hash) is None
        await until(lambda: node.rpc("eth_getTransactionByHash", tx_hash), 10)  # sent again
        node.rpc("evm_mine")
        receipt = await asyncio.wait_for(sending, 10)
    finally:
        node.rpc("evm_setAutomine", True)
        await client.close()
    assert receipt.tx_hash == tx_hash
    assert int(ledger.contract.functions.meter(meter.meter_id).call()[7]) == 1001
