"""A payment survives restarts, lost receipts and dropped connections without paying twice.

Restarts are real in the way that matters: the engine is stopped in the middle of a call at a
durable step and never used again; a new engine starts from what the store holds. Connection
faults come from a TCP proxy between the engine and anvil that drops answers or whole
connections; lost receipts from anvil with automine off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from custom_components.grid_ledger.chain import CannotConnectError
from custom_components.grid_ledger.chain.payments import (
    MemoryPaymentStore,
    NothingDueError,
    PaymentPendingError,
    PaymentStatus,
)
from tests.payments.conftest import Crash, Env, crash_at, open_engine
from tests.payments.proxy import CuttableProxy

STAGES = ["decided", "signed", "broadcast", "mined", "recorded"]
METHODS: dict[str, dict[str, Any]] = {"native": {}, "permit": {}, "approve": {"use_permit": False}}


def env_for(envs: dict[str, Env], method: str) -> Env:
    return envs["native" if method == "native" else "token"]


def paid_into_ledger(env: Env, before: int) -> int:
    """What the ledger received since `before` (its coin or token balance)."""
    if env.token:
        return env.token_balance(env.d.address) - before
    return int(env.d.w3.eth.get_balance(env.d.address)) - before


def ledger_balance(env: Env) -> int:
    return paid_into_ledger(env, 0)


@pytest.fixture
async def proxy(anvil: Any, socket_enabled: None) -> AsyncIterator[CuttableProxy]:
    node = CuttableProxy(anvil.port)
    await node.start()
    yield node
    await node.close()


@pytest.mark.parametrize("recovery", ["pay_again", "resume"])
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("method", list(METHODS))
async def test_restart_at_every_stage(
    envs: dict[str, Env], clean_chain: None, method: str, stage: str, recovery: str
) -> None:
    env = env_for(envs, method)
    meter_id = env.meter.meter_id
    before = ledger_balance(env)
    store = MemoryPaymentStore()
    options = METHODS[method]
    async with open_engine(env, store, checkpoint=crash_at(stage), **options) as engine:
        with pytest.raises(Crash):
            await engine.pay_bill(meter_id)
    async with open_engine(env, store, **options) as engine:
        if recovery == "resume":
            resumed = await engine.resume()
            if stage == "decided":  # nothing was signed: dropped, the caller decides again
                assert resumed is not None
                assert resumed.status is PaymentStatus.DROPPED
            elif stage == "recorded":  # the run finished before it died
                assert resumed is None
            else:
                assert resumed is not None
                assert resumed.status is PaymentStatus.CONFIRMED
        try:
            result = await engine.pay_bill(meter_id)
        except NothingDueError:
            assert stage == "recorded" or recovery == "resume"
        else:
            assert result.status is PaymentStatus.CONFIRMED
            assert result.amount == env.due
        assert await engine.pending() is None
    assert len(env.payments()) == 1
    assert paid_into_ledger(env, before) == env.due
    assert env.amount_due() == 0


@pytest.mark.parametrize("method", list(METHODS))
async def test_receipt_that_never_arrives_is_retried_safely(
    envs: dict[str, Env], clean_chain: None, method: str
) -> None:
    env = env_for(envs, method)
    anvil = env.anvil
    meter_id = env.meter.meter_id
    nonce = env.nonce()
    store = MemoryPaymentStore()
    options: dict[str, Any] = {**METHODS[method], "receipt_timeout": 0.6, "bump_after": 0.2}
    anvil.rpc("evm_setAutomine", False)
    async with open_engine(env, store, **options) as engine:
        with pytest.raises(PaymentPendingError):
            await engine.pay_bill(meter_id)
    pending = store.data["pending"] if store.data else None
    assert pending is not None
    pay = pending["txs"][-1]
    assert len(pay["variants"]) >= 2  # fee bumps, all at the recorded nonce
    first_hashes = {v["hash"] for v in pay["variants"]}
    # HA restarts and auto-pay asks again while the block is still not mined.
    async with open_engine(env, store, **options) as engine:
        with pytest.raises(PaymentPendingError):
            await engine.pay_bill(meter_id)
    assert store.data is not None
    again = store.data["pending"]["txs"][-1]
    assert again["nonce"] == pay["nonce"]
    assert first_hashes <= {v["hash"] for v in again["variants"]}
    assert env.payments() == []
    anvil.rpc("evm_mine")
    anvil.rpc("evm_setAutomine", True)
    async with open_engine(env, store, **options) as engine:
        result = await engine.resume()
        assert result is not None
        assert result.status is PaymentStatus.CONFIRMED
        assert (
            result.tx_hash == again["variants"][-1]["hash"]
        )  # the last fee bump replaced the rest
        with pytest.raises(NothingDueError):
            await engine.pay_bill(meter_id)
    assert len(env.payments()) == 1
    assert env.nonce() == nonce + len(pending["txs"])  # nothing but the recorded nonces


@pytest.mark.parametrize(
    "marker", [b"eth_sendRawTransaction", b"eth_getTransactionReceipt", b"eth_getTransactionCount"]
)
@pytest.mark.parametrize("method", list(METHODS))
async def test_connection_dropped_after_the_node_acted(
    envs: dict[str, Env], clean_chain: None, proxy: CuttableProxy, method: str, marker: bytes
) -> None:
    env = env_for(envs, method)
    url = proxy.url
    proxy.drop_response_to(marker)
    async with open_engine(env, rpc_url=url, **METHODS[method]) as engine:
        await engine.supports_permit()
        try:
            result = await engine.pay_bill(env.meter.meter_id)
        except CannotConnectError:
            result = await engine.pay_bill(env.meter.meter_id)
    assert proxy.dropped == 1
    assert result.status is PaymentStatus.CONFIRMED
    assert len(env.payments()) == 1


async def test_node_unreachable_after_signing(native: Env, proxy: CuttableProxy) -> None:
    url = proxy.url

    async def outage(stage: str) -> None:
        if stage == "signed":
            proxy.refuse = True
            await proxy.cut()

    store = MemoryPaymentStore()
    async with open_engine(native, store, rpc_url=url, checkpoint=outage, receipt_timeout=0.5) as e:
        with pytest.raises(CannotConnectError):
            await e.pay_bill(native.meter.meter_id)
    assert store.data is not None
    recorded = store.data["pending"]["txs"][-1]["variants"][-1]["hash"]
    assert native.payments() == []
    proxy.refuse = False
    async with open_engine(native, store, rpc_url=url) as engine:
        result = await engine.pay_bill(native.meter.meter_id)
    assert result.tx_hash == recorded  # the recorded transaction, not a new one
    assert len(native.payments()) == 1


async def test_dead_intent_is_replaced_only_while_the_bill_is_unpaid(native: Env) -> None:
    """The recorded nonce went to another transaction of the wallet: a new one is signed."""
    store = MemoryPaymentStore()
    async with open_engine(native, store, checkpoint=crash_at("signed")) as engine:
        with pytest.raises(Crash):
            await engine.pay_bill(native.meter.meter_id)
    native.d.fund(native.payer.address, 1)  # unrelated
    native.d.transact(
        native.d.ledger.functions.settle(native.meter.meter_id), native.payer
    )  # takes the recorded nonce
    assert store.data is not None
    dead = store.data["pending"]["txs"][-1]["variants"][-1]["hash"]
    async with open_engine(native, store) as engine:
        result = await engine.pay_bill(native.meter.meter_id)
    assert result.tx_hash != dead
    assert len(native.payments()) == 1


async def test_dead_intent_is_not_replaced_when_someone_else_paid(native: Env) -> None:
    store = MemoryPaymentStore()
    async with open_engine(native, store, checkpoint=crash_at("signed")) as engine:
        with pytest.raises(Crash):
            await engine.pay_bill(native.meter.meter_id)
    native.d.transact(native.d.ledger.functions.settle(native.meter.meter_id), native.payer)
    call = native.d.ledger.functions.payBill(native.meter.meter_id)
    native.d.transact(call, native.d.operator, value=native.due)
    async with open_engine(native, store) as engine:
        resumed = await engine.resume()
        assert resumed is not None
        assert resumed.status is PaymentStatus.DROPPED
        with pytest.raises(NothingDueError):
            await engine.pay_bill(native.meter.meter_id)
    assert [e["args"]["from"] for e in native.payments()] == [native.d.operator.address]


async def test_dead_intent_recorded_without_its_block_is_found_dead(native: Env) -> None:
    """A record from before `after_block` was kept: the recent blocks are searched instead."""
    store = MemoryPaymentStore()
    async with open_engine(native, store, checkpoint=crash_at("signed")) as engine:
        with pytest.raises(Crash):
            await engine.pay_bill(native.meter.meter_id)
    assert store.data is not None
    for tx in store.data["pending"]["txs"]:
        del tx["after_block"]
    native.d.transact(
        native.d.ledger.functions.settle(native.meter.meter_id), native.payer
    )  # takes the recorded nonce
    async with open_engine(native, store) as engine:
        resumed = await engine.resume()
        assert resumed is not None
        assert resumed.status is PaymentStatus.DROPPED
        result = await engine.pay_bill(native.meter.meter_id)
    assert result.status is PaymentStatus.CONFIRMED
    assert len(native.payments()) == 1
