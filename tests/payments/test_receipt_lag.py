"""A node may count a nonce as used a moment before it serves the transaction's receipt.

anvil does so now and then with automine (3 of 400 sends checked right away here): the payment
engine took the paid bill for a dead payment, decided again and found nothing due.
"""

from __future__ import annotations

import pytest

from custom_components.grid_ledger.chain.models import Receipt
from custom_components.grid_ledger.chain.payments import PaymentStatus

from .conftest import Env, open_engine


async def test_a_late_receipt_is_not_a_dead_payment(
    native: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    nonce = native.nonce()
    async with open_engine(native) as engine:
        real = engine.wallet.receipt
        missed = 0

        async def lagging(tx_hash: str) -> Receipt | None:
            """The node's answer, with the receipt missing from the first look and its re-ask."""
            nonlocal missed
            receipt = await real(tx_hash)
            if receipt is not None and missed < 2:
                missed += 1
                return None
            return receipt

        monkeypatch.setattr(engine.wallet, "receipt", lagging)
        result = await engine.pay_bill(native.meter.meter_id)
    assert missed == 2
    assert result.status is PaymentStatus.CONFIRMED
    assert native.amount_due() == 0
    assert native.nonce() == nonce + 1
    assert len(native.payments()) == 1
