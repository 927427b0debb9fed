"""A node may count a nonce as used a while before it serves the transaction's receipt.

anvil does so now and then with automine (3 of 400 sends checked right away here), for as long
as its miner thread is descheduled between writing the state and storing the block: under load,
longer than any fixed wait. Providers behind a load balancer do it too (the nonce from one
backend, the receipt from another that lags). A payment is dead only when a served block holds
another transaction at its nonce; waiting a poll proves nothing. Taking a late receipt for a dead
payment made the engine pay a bill again (found nothing due) or top up twice.
"""

from __future__ import annotations

import pytest

from custom_components.grid_ledger.chain.payments import PaymentStatus

from .conftest import Env, lag_receipts, open_engine


async def test_a_late_receipt_is_not_a_dead_payment(native: Env) -> None:
    nonce = native.nonce()
    async with open_engine(native) as engine:
        missed = lag_receipts(engine.wallet, 2)
        result = await engine.pay_bill(native.meter.meter_id)
    assert missed == [2]
    assert result.status is PaymentStatus.CONFIRMED
    assert native.amount_due() == 0
    assert native.nonce() == nonce + 1
    assert len(native.payments()) == 1


@pytest.mark.parametrize("looks", [4, 12, 40])
async def test_a_top_up_whose_receipt_lags_for_many_polls_is_made_once(
    native: Env, looks: int
) -> None:
    """A top-up has no "nothing due" on chain to stop a second one: only the engine can."""
    meter_id, payer = native.prepaid.meter_id, native.prepaid.payer
    ledger = native.d.ledger.functions
    credit = ledger.meterBalance(meter_id).call()
    nonce = native.nonce(payer.address)
    async with open_engine(native, account=payer) as engine:
        missed = lag_receipts(engine.wallet, looks)
        result = await engine.top_up(meter_id, native.due, request_id="lagging")
    assert missed == [looks]
    assert result.status is PaymentStatus.CONFIRMED
    assert native.nonce(payer.address) == nonce + 1
    assert len(native.payments(meter_id)) == 1
    assert ledger.meterBalance(meter_id).call() - credit == native.due
