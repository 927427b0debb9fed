"""Auto-pay within the spending cap, and the wallet's gas reserve."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.grid_ledger.policy import (
    DEFAULT_RESERVE_TRANSACTIONS,
    PaymentAction,
    PaymentReason,
    decide_payment,
    gas_low,
    gas_reserve,
)

UNIT = 10**6  # one unit of a six-decimal stablecoin

# Timing on a busy CI machine is not the property under test.
untimed = settings(deadline=None)


@pytest.mark.parametrize(
    ("amount_due", "cap", "paid", "auto_pay", "expected"),
    [
        (0, 100 * UNIT, 0, True, (PaymentAction.NOTHING, 0, PaymentReason.NOTHING_DUE)),
        (
            5 * UNIT,
            100 * UNIT,
            0,
            False,
            (PaymentAction.NOTHING, 0, PaymentReason.AUTO_PAY_DISABLED),
        ),
        (5 * UNIT, 100 * UNIT, 0, True, (PaymentAction.PAY, 5 * UNIT, PaymentReason.WITHIN_CAP)),
        # Exactly filling the cap is within it.
        (
            40 * UNIT,
            100 * UNIT,
            60 * UNIT,
            True,
            (PaymentAction.PAY, 40 * UNIT, PaymentReason.WITHIN_CAP),
        ),
        # One base unit over: the whole bill goes to the household for approval.
        (
            40 * UNIT + 1,
            100 * UNIT,
            60 * UNIT,
            True,
            (PaymentAction.REQUEST_APPROVAL, 40 * UNIT + 1, PaymentReason.OVER_CAP),
        ),
        (1, 0, 0, True, (PaymentAction.REQUEST_APPROVAL, 1, PaymentReason.OVER_CAP)),
        (
            150 * UNIT,
            100 * UNIT,
            0,
            True,
            (PaymentAction.REQUEST_APPROVAL, 150 * UNIT, PaymentReason.OVER_CAP),
        ),
    ],
)
def test_payment_table(
    amount_due: int,
    cap: int,
    paid: int,
    auto_pay: bool,
    expected: tuple[PaymentAction, int, PaymentReason],
) -> None:
    decision = decide_payment(
        amount_due=amount_due, cap_per_period=cap, paid_this_period=paid, auto_pay=auto_pay
    )
    assert (decision.action, decision.amount, decision.reason) == expected


@pytest.mark.parametrize("field", ["amount_due", "cap_per_period", "paid_this_period"])
def test_rejects_negative_amounts(field: str) -> None:
    amounts = {"amount_due": 1, "cap_per_period": 1, "paid_this_period": 0} | {field: -1}
    with pytest.raises(ValueError, match=field):
        decide_payment(**amounts, auto_pay=True)


amounts = st.integers(min_value=0, max_value=10**30)


@untimed
@given(due=amounts, cap=amounts, paid=amounts, auto_pay=st.booleans())
def test_auto_pay_never_exceeds_the_cap(due: int, cap: int, paid: int, auto_pay: bool) -> None:
    decision = decide_payment(
        amount_due=due, cap_per_period=cap, paid_this_period=paid, auto_pay=auto_pay
    )
    if decision.action is PaymentAction.PAY:
        assert auto_pay
        assert paid + decision.amount <= cap
    if decision.action is not PaymentAction.NOTHING:
        # Whatever is paid or asked for is the bill, whole.
        assert decision.amount == due > 0
    else:
        assert decision.amount == 0
        assert due == 0 or not auto_pay


@untimed
@given(due=st.integers(min_value=1, max_value=10**30), cap=amounts, bills=st.integers(1, 50))
def test_a_period_of_auto_payments_stays_within_the_cap(due: int, cap: int, bills: int) -> None:
    """Feeding back what was paid, a run of equal bills never pays more than the cap."""
    paid = 0
    for _ in range(bills):
        decision = decide_payment(
            amount_due=due, cap_per_period=cap, paid_this_period=paid, auto_pay=True
        )
        if decision.action is PaymentAction.PAY:
            paid += decision.amount
    assert paid <= cap
    assert paid == min(bills, cap // due) * due


GWEI = 10**9


@pytest.mark.parametrize(
    ("balance", "expected"),
    [
        (0, True),
        (24 * 100_000 * GWEI - 1, True),
        (24 * 100_000 * GWEI, False),
        (10**18, False),
    ],
)
def test_gas_low_table(balance: int, expected: bool) -> None:
    assert DEFAULT_RESERVE_TRANSACTIONS == 24
    assert gas_low(balance=balance, gas_price=GWEI, gas_per_transaction=100_000) is expected


def test_gas_reserve_rejects_negative_inputs() -> None:
    with pytest.raises(ValueError, match="negative"):
        gas_reserve(gas_price=-1, gas_per_transaction=1, transactions=1)


@untimed
@given(
    balance=amounts,
    gas_price=st.integers(0, 10**12),
    gas=st.integers(0, 10**7),
    transactions=st.integers(0, 1000),
)
def test_gas_low_exactly_when_the_reserve_is_not_covered(
    balance: int, gas_price: int, gas: int, transactions: int
) -> None:
    low = gas_low(
        balance=balance, gas_price=gas_price, gas_per_transaction=gas, transactions=transactions
    )
    assert low == (balance < gas_price * gas * transactions)
    # More coin never makes it lower; more transactions never makes it less low.
    if not low:
        assert not gas_low(
            balance=balance + 1,
            gas_price=gas_price,
            gas_per_transaction=gas,
            transactions=transactions,
        )
    if low:
        assert gas_low(
            balance=balance,
            gas_price=gas_price,
            gas_per_transaction=gas,
            transactions=transactions + 1,
        )
