"""The deployed ledger on a real anvil, driven the way the integration drives it."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
import pytest
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from tests.anvil import Anvil
from tests.chain_fixtures import (
    DEFAULT_PRICE,
    PERMIT_FOREVER,
    PREPAID,
    Deployment,
    compact,
    malleate,
    sign_reading,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")


def _submit(d: Deployment, meter_id: int, signer: LocalAccount, wh: int, ts: int) -> int:
    sig = d.sign_reading(signer, meter_id, wh, ts)
    receipt = d.transact(d.ledger.functions.submitReading((meter_id, wh, ts), sig))
    return int(receipt["gasUsed"])


def test_signed_reading_accepted_within_gas_budget(anvil: Anvil, ledger_native: Deployment) -> None:
    d = ledger_native
    meter = d.new_meter()
    anvil.increase_time(60)
    ts = anvil.timestamp()
    _submit(d, meter.meter_id, meter.signer, 100, ts)
    anvil.increase_time(60)
    ts = anvil.timestamp()
    gas = _submit(d, meter.meter_id, meter.signer, 200, ts)
    info = d.ledger.functions.meter(meter.meter_id).call()
    assert info[7] == 200  # lastWh
    assert info[8] == ts  # lastTimestamp
    assert gas <= 50_000, gas


def test_digest_matches_eth_account(ledger_native: Deployment) -> None:
    """eth-account's EIP-712 signature recovers to the signer over the contract's own digest."""
    d = ledger_native
    signer = Account.create()
    sig = d.sign_reading(signer, 5, 1234, 1_800_000_000)
    digest = d.ledger.functions.readingDigest((5, 1234, 1_800_000_000)).call()
    assert Account._recover_hash(digest, signature=sig) == signer.address


def test_forged_and_malleated_readings_rejected(anvil: Anvil, ledger_native: Deployment) -> None:
    d = ledger_native
    meter = d.new_meter()
    anvil.increase_time(60)
    ts = anvil.timestamp()
    good = d.sign_reading(meter.signer, meter.meter_id, 10, ts)
    wrong_key = d.sign_reading(Account.create(), meter.meter_id, 10, ts)
    other_chain = d.domain() | {"chainId": d.chain_id + 1}
    foreign = sign_reading(meter.signer, other_chain, meter.meter_id, 10, ts)
    for sig in (wrong_key, foreign, malleate(good)):
        with pytest.raises(ContractCustomError):
            d.ledger.functions.submitReading((meter.meter_id, 10, ts), sig).call()
    batch = [
        ((meter.meter_id, 10, ts), *compact(wrong_key)),
        ((meter.meter_id, 10, ts), *compact(good)),
    ]
    receipt = d.transact(d.ledger.functions.submitReadings(batch))
    rejected = d.ledger.events.ReadingRejected().process_receipt(receipt, errors=DISCARD)
    accepted = d.ledger.events.ReadingAccepted().process_receipt(receipt, errors=DISCARD)
    assert len(rejected) == 1
    assert rejected[0]["args"]["meterId"] == meter.meter_id
    assert len(accepted) == 1
    assert d.ledger.functions.meter(meter.meter_id).call()[7] == 10


def test_native_bill_paid_extends_permit(anvil: Anvil, ledger_native: Deployment) -> None:
    d = ledger_native
    meter = d.new_meter()
    anvil.increase_time(600)
    _submit(d, meter.meter_id, meter.signer, 1000, anvil.timestamp())
    anvil.increase_time(d.config.period_length)
    due = d.ledger.functions.amountDue(meter.meter_id).call()
    assert due == 1000 * DEFAULT_PRICE // 1000
    before = d.ledger.functions.permitUntil(meter.meter_id).call()
    receipt = d.transact(d.ledger.functions.payBill(meter.meter_id), meter.payer, value=due)
    after = d.ledger.functions.permitUntil(meter.meter_id).call(
        block_identifier=receipt["blockNumber"]
    )
    assert after > before
    events = d.ledger.events.PermitChanged().process_receipt(receipt, errors=DISCARD)
    assert events[-1]["args"]["permitUntil"] == after  # the first one is the bill's lapse
    assert d.ledger.functions.amountDue(meter.meter_id).call() == 0


def test_token_bill_paid_with_permit(anvil: Anvil, ledger_token: Deployment) -> None:
    d = ledger_token
    assert d.token is not None
    meter = d.new_meter()
    d.mint(meter.payer.address, 100 * 10**6)
    anvil.increase_time(600)
    _submit(d, meter.meter_id, meter.signer, 2000, anvil.timestamp())
    anvil.increase_time(d.config.period_length)
    due = d.ledger.functions.amountDue(meter.meter_id).call()
    deadline = anvil.timestamp() + 3600
    v, r, s = d.permit_signature(meter.payer, due, deadline)
    call = d.ledger.functions.payBillWithPermit(meter.meter_id, due, deadline, v, r, s)
    receipt = d.transact(call, meter.payer)
    # Nothing settled the period before: the payment issues the bill, then pays it.
    bills = d.ledger.events.BillIssued().process_receipt(receipt, errors=DISCARD)
    assert [b["args"]["amount"] for b in bills] == [due]
    assert d.token.functions.balanceOf(d.address).call() >= due
    assert d.ledger.functions.amountDue(meter.meter_id).call() == 0


def test_prepaid_protected_household_keeps_permit(anvil: Anvil, ledger_native: Deployment) -> None:
    d = ledger_native
    meter = d.new_meter(mode=PREPAID)
    anvil.increase_time(3600)
    _submit(d, meter.meter_id, meter.signer, 5000, anvil.timestamp())
    permit = d.ledger.functions.permitUntil(meter.meter_id).call()
    assert permit < PERMIT_FOREVER  # no credit: grace started
    d.set_protected(meter.meter_id)
    assert d.ledger.functions.permitUntil(meter.meter_id).call() == PERMIT_FOREVER
