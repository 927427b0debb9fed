"""The settlement on a real anvil beside its ledger: one period of a plant, a distributor and two
households settled by a stranger after the cut-off, and every party's withdrawal."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
import pytest

from tests.anvil import Anvil
from tests.chain_fixtures import SETTLEMENT_CUTOFF, Deployment, Meter

pytestmark = pytest.mark.usefixtures("socket_enabled")

PLANT_PRICE = 100_000
IDEAL, SERVICE, PENALTY = 500, 1_000, 20_000


def _to_period_offset(anvil: Anvil, d: Deployment, offset: int) -> int:
    """Move to `offset` seconds into the next period; return that period."""
    period = int(d.ledger.functions.currentPeriod().call()) + 1
    start = int(d.ledger.functions.periodStart(period).call())
    anvil.increase_time(start + offset - anvil.timestamp())
    return period


def _feeder_reading(d: Deployment, signer: LocalAccount, feeder_id: int, wh: int, ts: int) -> None:
    sig = d.sign_feeder_reading(signer, feeder_id, wh, ts)
    d.transact(d.ledger.functions.submitFeederReading((feeder_id, wh, ts), sig))


def _reading(d: Deployment, meter: Meter, wh: int, ts: int) -> None:
    sig = d.sign_reading(meter.signer, meter.meter_id, wh, ts)
    d.transact(d.ledger.functions.submitReading((meter.meter_id, wh, ts), sig))


def _party(d: Deployment) -> LocalAccount:
    account: LocalAccount = Account.create()
    d.fund(account.address)
    return account


def test_one_period_settled_and_withdrawn(anvil: Anvil, ledger_native: Deployment) -> None:
    d = ledger_native
    assert d.settlement is not None
    settlement = d.settlement.functions
    assert settlement.ledger().call() == d.address
    assert settlement.cutoff().call() == SETTLEMENT_CUTOFF
    plant_signer, distributor_signer = Account.create(), Account.create()
    owner, payee, stranger = _party(d), _party(d), _party(d)
    plant, distributor = d.new_id(), d.new_id()
    d.register_feeder(plant, plant_signer.address)
    d.register_feeder(distributor, distributor_signer.address, parent_id=plant)
    anvil.increase_time(60)
    ts = anvil.timestamp()
    _feeder_reading(d, plant_signer, plant, 0, ts)
    _feeder_reading(d, distributor_signer, distributor, 0, ts)
    d.transact(d.ledger.functions.enablePlant(plant, owner.address))
    houses = [d.new_meter(feeder_id=distributor) for _ in range(2)]
    d.transact(settlement.setPlantPrice(plant, PLANT_PRICE))
    d.transact(
        settlement.setDistributorTerms(distributor, IDEAL, SERVICE, PENALTY, 1, payee.address)
    )
    d.transact(settlement.addDeposit(10**15), value=10**15)

    # The period: plant 10,000 Wh, distributor's meter 9,500, households 6,000 + 3,000.
    period = _to_period_offset(anvil, d, 60)
    for house in houses:
        _reading(d, house, 0, anvil.timestamp())
    anvil.increase_time(2_340)
    ts = anvil.timestamp()
    _feeder_reading(d, plant_signer, plant, 10_000, ts)
    _feeder_reading(d, distributor_signer, distributor, 9_500, ts)
    _reading(d, houses[0], 6_000, ts)
    _reading(d, houses[1], 3_000, ts)
    _to_period_offset(anvil, d, 60)
    for house, wh in zip(houses, (6_000, 3_000), strict=True):
        _reading(d, house, wh, anvil.timestamp())

    early = d.send(settlement.settle(period, distributor), stranger)
    assert early["status"] == 0
    assert d.revert_reason(settlement.settle(period, distributor), stranger).startswith(
        "SettlementTooEarly"
    )
    anvil.increase_time(SETTLEMENT_CUTOFF)
    deposit = int(settlement.deposit().call())
    d.transact(settlement.settle(period, distributor), stranger)
    statement = settlement.statement(period, distributor).call()
    # plantWh, distributorWh, householdsWh, lossBps, markupBps, settled, value, plant, distributor
    assert tuple(statement) == (
        10_000,
        9_500,
        9_000,
        1_000,
        500,
        True,
        2_700_000,
        1_000_000,
        135_000,
    )
    assert int(settlement.deposit().call()) == deposit - 1_135_000
    assert d.revert_reason(settlement.settle(period, distributor), stranger).startswith(
        "PeriodAlreadySettled"
    )

    for account, owed in ((owner, 1_000_000), (payee, 135_000)):
        assert int(settlement.owedTo(account.address).call()) == owed
        too_much = settlement.withdraw(owed + 1)
        assert d.revert_reason(too_much, account).startswith("WithdrawalExceedsOwed")
        before = d.w3.eth.get_balance(account.address)
        receipt = d.transact(settlement.withdraw(owed), account)
        fee = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
        assert d.w3.eth.get_balance(account.address) == before + owed - fee
        assert int(settlement.owedTo(account.address).call()) == 0
    held = d.w3.eth.get_balance(d.settlement.address)
    assert held == int(settlement.deposit().call()) + int(settlement.totalOwed().call())
