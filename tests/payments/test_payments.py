"""Paying bills and topping up credit against the real contracts on anvil."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.grid_ledger.chain import GridLedgerClient, InsufficientFundsError
from custom_components.grid_ledger.chain.payments import (
    AmountAboveLimitError,
    InsufficientBalanceError,
    InsufficientGasError,
    InsufficientTokenBalanceError,
    JsonFilePaymentStore,
    MemoryPaymentStore,
    NothingDueError,
    PaymentKind,
    PaymentMethod,
    PaymentPendingError,
    PaymentResult,
    PaymentRevertedError,
    PaymentStatus,
    token_supports_permit,
)
from tests.payments.conftest import Env, new_wallet, open_engine


async def test_native_bill_paid_once(native: Env) -> None:
    nonce = native.nonce()
    coin = native.d.w3.eth.get_balance(native.payer.address)
    seen: list[PaymentResult] = []
    async with open_engine(native, on_result=seen.append) as engine:
        result = await engine.pay_bill(native.meter.meter_id)
        assert result.status is PaymentStatus.CONFIRMED
        assert (result.kind, result.method) == (PaymentKind.BILL, PaymentMethod.NATIVE)
        assert (result.amount, result.currency, result.token) == (native.due, "ETH", None)
        assert result.bill_period == 1
        receipt = native.d.w3.eth.get_transaction_receipt(result.tx_hash)
        assert receipt["status"] == 1
        assert result.gas_used == receipt["gasUsed"]
        assert result.block_number == receipt["blockNumber"]
        assert seen == [result]
        assert await engine.pending() is None
        with pytest.raises(NothingDueError):
            await engine.pay_bill(native.meter.meter_id)
    assert native.amount_due() == 0
    assert native.nonce() == nonce + 1
    [event] = native.payments()
    assert event["args"]["amount"] == native.due
    assert event["args"]["from"] == native.payer.address
    spent = coin - native.d.w3.eth.get_balance(native.payer.address)
    assert spent == native.due + receipt["gasUsed"] * receipt["effectiveGasPrice"]


async def test_limit_below_the_bill_sends_nothing(native: Env) -> None:
    nonce = native.nonce()
    async with open_engine(native) as engine:
        with pytest.raises(AmountAboveLimitError) as err:
            await engine.pay_bill(native.meter.meter_id, max_amount=native.due - 1)
    assert err.value.amount_due == native.due
    assert native.nonce() == nonce
    assert native.payments() == []


async def test_token_bill_paid_with_permit_in_one_transaction(token: Env) -> None:
    assert token.d.token is not None
    nonce = token.nonce()
    before = token.token_balance(token.payer.address)
    async with open_engine(token) as engine:
        assert await engine.supports_permit()
        result = await engine.pay_bill(token.meter.meter_id)
    assert result.method is PaymentMethod.PERMIT
    assert (result.currency, result.token) == ("tUSD", token.d.token.address)
    assert token.nonce() == nonce + 1  # one transaction: permit and payment together
    assert before - token.token_balance(token.payer.address) == token.due
    assert token.d.token.functions.allowance(token.payer.address, token.d.address).call() == 0
    assert len(token.payments()) == 1
    assert token.amount_due() == 0


async def test_token_without_permit_approves_then_pays(token: Env) -> None:
    nonce = token.nonce()
    before = token.token_balance(token.payer.address)
    async with open_engine(token, use_permit=False) as engine:
        assert not await engine.supports_permit()
        result = await engine.pay_bill(token.meter.meter_id)
    assert result.method is PaymentMethod.APPROVE
    assert token.nonce() == nonce + 2  # approve, then pay
    pay = token.d.w3.eth.get_transaction_receipt(result.tx_hash)
    assert result.gas_used > pay["gasUsed"]  # the approve's gas is counted too
    assert before - token.token_balance(token.payer.address) == token.due
    assert len(token.payments()) == 1


async def test_permit_detection(token: Env) -> None:
    assert token.d.token is not None
    client = GridLedgerClient(token.anvil.rpc_url, token.d.address)
    owner = token.payer.address
    try:
        assert await token_supports_permit(client, token.d.token.address, owner)
        # The ledger has an EIP-712 domain but no `nonces(owner)`; a wallet has no code at all.
        assert not await token_supports_permit(client, token.d.address, owner)
        assert not await token_supports_permit(client, owner, owner)
    finally:
        await client.close()


@pytest.mark.parametrize("use_permit", [None, False])
async def test_token_top_up(token: Env, use_permit: bool | None) -> None:
    meter_id = token.prepaid.meter_id
    balance = token.d.ledger.functions.meterBalance(meter_id).call()
    async with open_engine(token, account=token.prepaid.payer, use_permit=use_permit) as engine:
        result = await engine.top_up(meter_id, 5 * 10**6, request_id="top-up-1")
        again = await engine.top_up(meter_id, 5 * 10**6, request_id="top-up-1")
    assert result.kind is PaymentKind.TOP_UP
    assert again == result  # the same request is paid once
    assert token.d.ledger.functions.meterBalance(meter_id).call() == balance + 5 * 10**6
    assert len(token.payments(meter_id)) == 1


async def test_native_top_up_and_retry_of_the_request(native: Env, tmp_path: Path) -> None:
    meter_id = native.prepaid.meter_id
    store = JsonFilePaymentStore(tmp_path / "payments.json")
    async with open_engine(native, store, account=native.prepaid.payer) as engine:
        result = await engine.top_up(meter_id, 10**15, request_id="r1")
    # A new process with the same file: the request is known, nothing is sent.
    async with open_engine(native, store, account=native.prepaid.payer) as engine:
        assert await engine.top_up(meter_id, 10**15, request_id="r1") == result
        second = await engine.top_up(meter_id, 10**15, request_id="r2")
    assert second.tx_hash != result.tx_hash
    assert [e["args"]["amount"] for e in native.payments(meter_id)] == [10**15, 10**15]


async def test_insufficient_token_balance(token: Env) -> None:
    poor = new_wallet(token, 10**18)
    async with open_engine(token, account=poor) as engine:
        with pytest.raises(InsufficientTokenBalanceError) as err:
            await engine.pay_bill(token.meter.meter_id)
    assert (err.value.balance, err.value.needed) == (0, token.due)
    assert token.nonce(poor.address) == 0


async def test_insufficient_coin_for_the_bill_or_the_gas(native: Env) -> None:
    poor = new_wallet(native, native.due // 2)
    async with open_engine(native, account=poor) as engine:
        with pytest.raises(InsufficientBalanceError):
            await engine.pay_bill(native.meter.meter_id)
    enough_for_the_bill = new_wallet(native, native.due + 1)
    async with open_engine(native, account=enough_for_the_bill) as engine:
        with pytest.raises(InsufficientGasError) as err:
            await engine.pay_bill(native.meter.meter_id)
        assert isinstance(err.value, InsufficientFundsError)
        assert err.value.balance == 1  # what is left after the bill
    assert native.payments() == []


async def test_paused_ledger_refuses_before_anything_is_signed(native: Env) -> None:
    native.d.transact(native.d.ledger.functions.pause())
    store = MemoryPaymentStore()
    nonce = native.nonce()
    async with open_engine(native, store) as engine:
        with pytest.raises(PaymentRevertedError) as err:
            await engine.pay_bill(native.meter.meter_id)
    assert err.value.name == "EnforcedPause"
    assert store.saves == 0
    assert native.nonce() == nonce


async def test_mined_revert_is_named(native: Env) -> None:
    """Someone else pays first, in the same block: ours reverts `NothingDue`, nothing moves."""
    anvil = native.anvil
    anvil.rpc("evm_setAutomine", False)
    async with open_engine(native, receipt_timeout=0.3, bump_after=60) as engine:
        with pytest.raises(PaymentPendingError):
            await engine.pay_bill(native.meter.meter_id)
        other = new_wallet(native, 0)
        anvil.rpc("anvil_setBalance", other.address, hex(10**18))
        call = native.d.ledger.functions.payBill(native.meter.meter_id)
        tx = call.build_transaction(
            {
                "from": other.address,
                "value": native.due,
                "nonce": 0,
                "gas": 300_000,
                "maxFeePerGas": 10**12,
                "maxPriorityFeePerGas": 10**11,
                "chainId": native.d.chain_id,
            }
        )
        native.d.w3.eth.send_raw_transaction(other.sign_transaction(tx).raw_transaction)
        anvil.rpc("evm_mine")
        result = await engine.resume()
        assert result is not None
        assert (result.status, result.error) == (PaymentStatus.REVERTED, "NothingDue")
        receipt = native.d.w3.eth.get_transaction_receipt(result.tx_hash)
        assert receipt["status"] == 0
        assert result.gas_used == receipt["gasUsed"]
        with pytest.raises(NothingDueError):
            await engine.pay_bill(native.meter.meter_id)
    assert [e["args"]["from"] for e in native.payments()] == [other.address]
