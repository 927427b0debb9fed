"""Gas of the Grid Ledger's hot paths, measured on real transaction receipts on a fresh anvil.

Each figure is `gasUsed` of a mined transaction (intrinsic 21,000 and calldata included, refunds
applied), sent the way the integration sends it. The chain's clock is pinned (genesis at `START`,
every step at an exact offset), so a time-of-use band or a period boundary is the same on every
run and so is the gas. `make bench` writes the figures to `contracts/gas-snapshot.receipts.json`
(committed); the tests only compare with it.

    python -m tests.bench.bench_gas   # measure, rewrite the snapshot, print the rows
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from tests.anvil import REPO, Anvil
from tests.bench import Row
from tests.chain_fixtures import (
    AUCTION_EXTENSION,
    PREPAID,
    Deployment,
    LedgerConfig,
    Meter,
    build_contracts,
    compact,
    deploy_ledger,
    web3_for,
)

SNAPSHOT = REPO / "contracts" / "gas-snapshot.receipts.json"
BATCH = 50
# 2026-01-01 12:00 UTC: the chain starts here, far from the benchmark tariff's band edges.
START = 1_767_268_800
AUCTION_DURATION = 600

SEED_LOT = "seed lot, total (plant + distributor + household reading, top-up / 12, settlement / 50)"

# metric -> (must, aim); None: measured for the record, no target.
TARGETS: dict[str, tuple[int, int] | None] = {
    "reading, single, cold meter (postpaid, flat)": (50_000, 38_000),
    "reading, batch of 50 meters on one feeder, per reading": (20_000, 14_000),
    "pay bill, native coin, permit extended": (45_000, 35_000),
    "pay bill, ERC-20 + ERC-2612 permit, steady state": (80_000, 65_000),
    "reading, single, cold meter, 64-byte compact signature": None,
    "reading, single, cold meter (prepaid, flat)": None,
    "reading, single, time-of-use tariff (3 bands)": None,
    "reading, single, closes the period and issues the bill": None,
    "reading, batch of 50, whole transaction": None,
    "feeder reading": (50_000, 40_000),
    "meter exchange, old register's final bill in the open period (postpaid, flat)": None,
    "bidirectional reading, single, cold meter (postpaid, flat)": (42_000, 39_000),
    "bidirectional reading, batch of 50 meters, per reading": (16_000, 14_500),
    "claim tokens, first claim of the payer": None,
    "claim tokens, payer already holding tokens": (55_000, 40_000),
    "bidirectional reading, closes the period, bill without redemption": None,
    "bidirectional reading, closes the period, bill redeems pending tokens": None,
    "sell back tokens (pending first)": None,
    "energy auction: offer with permit, the seller's first permit, the auction's first lot": None,
    "energy auction: offer with permit (steady state)": (120_000, 95_000),
    "energy auction: first bid, native coin": (80_000, 65_000),
    "energy auction: outbid, native coin (the outbid bidder's first refund)": (65_000, 50_000),
    "energy auction: outbid in the last minutes, deadline extended, native coin": None,
    "energy auction: finalize, sold (winner's first tokens, seller's first proceeds, fee)": (
        95_000,
        75_000,
    ),
    "energy auction: finalize, unsold (tokens back to the seller)": None,
    "energy auction: withdraw refund, native coin": (40_000, 32_000),
    "energy auction: first bid, ERC-20 (approved before)": (80_000, 65_000),
    "energy auction: outbid, ERC-20 (approved before; the outbid bidder's first refund)": None,
    "energy auction: outbid, ERC-20 + ERC-2612 permit (the outbid bidder's first refund)": None,
    "energy auction: outbid, ERC-20 (the outbid bidder already has a refund)": None,
    "energy auction: withdraw refund, ERC-20": (40_000, 32_000),
    "feeder reading, plant": None,
    "claim plant tokens, first claim of the owner": None,
    "meter exchange of both registers, final bill in the open period (postpaid, flat)": None,
    "seed lot: plant feeder reading": None,
    "seed lot: distributor feeder reading": None,
    "seed lot: prepaid household reading": None,
    "seed lot: top-up, native coin (one per 12 lots)": None,
    "seed lot: settlement, per household (one period for 50 households)": None,
    SEED_LOT: (156_000, 120_000),
    "settlement: settle one period for one distributor": (225_000, 150_000),
    "settlement: withdraw, native coin": (40_000, 32_000),
}
# A seed lot's top-up covers 12 lots; a period's settlement is shared by 50 households.
LOTS_PER_TOP_UP = 12
HOUSEHOLDS_PER_SETTLEMENT = 50


def pinned_anvil() -> Anvil:
    """An anvil whose chain starts at `START` (the steps then set every reading's time exactly)."""
    return Anvil(extra_args=("--timestamp", str(START)))


@dataclass
class _Clock:
    """Chain time for the benchmark: each step mines a block at an exact time."""

    anvil: Anvil
    at: int = START

    def advance(self, seconds: int) -> int:
        self.at += seconds
        if self.at <= self.anvil.timestamp():
            raise RuntimeError("the set-up took longer than the pinned step; lengthen the steps")
        self.anvil.rpc("evm_setNextBlockTimestamp", self.at)
        self.anvil.rpc("evm_mine")
        return self.at


def load_snapshot() -> dict[str, int]:
    """The committed figures, metric -> gasUsed."""
    return {row["metric"]: int(row["gasUsed"]) for row in json.loads(SNAPSHOT.read_text())}


def _reading_tx(d: Deployment, meter: Any, wh: int, ts: int, short: bool = False) -> int:
    relayer = d.operator
    sig = d.sign_reading(meter.signer, meter.meter_id, wh, ts)
    if short:
        sig = b"".join(compact(sig))
    call = d.ledger.functions.submitReading((meter.meter_id, wh, ts), sig)
    return int(d.transact(call, relayer)["gasUsed"])


def _account(name: str) -> LocalAccount:
    """A fixed key per role: the same signatures, so the same calldata gas, on every run."""
    return Account.from_key(keccak(text=f"grid-ledger gas benchmark: {name}"))


def _new_meter(d: Deployment, name: str, payer: LocalAccount | None = None, **kwargs: Any) -> Meter:
    if payer is None:
        payer = _account(f"{name} payer")
        d.fund(payer.address)
    return d.new_meter(signer=_account(f"{name} signer"), payer=payer, **kwargs)


def measure(anvil: Anvil) -> dict[str, int]:
    """Send the benchmark transactions on `anvil` and return gasUsed per metric."""
    w3 = web3_for(anvil)
    key = anvil.accounts[0][1]
    gas: dict[str, int] = {}
    period = 3600
    clock = _Clock(anvil)
    config = LedgerConfig(genesis=START)

    # ---------------------------------------------------------------- native deployment
    d = deploy_ledger(w3, key, token=False, config=config)
    meter = _new_meter(d, "postpaid")
    prepaid = _new_meter(d, "prepaid", mode=PREPAID)
    d.transact(d.ledger.functions.topUp(prepaid.meter_id, 10**17), prepaid.payer, value=10**17)
    ts = clock.advance(60)
    _reading_tx(d, meter, 100, ts)  # a first reading, so the measured one is an ordinary one
    _reading_tx(d, prepaid, 100, ts)
    ts = clock.advance(60)
    gas["reading, single, cold meter (postpaid, flat)"] = _reading_tx(d, meter, 250, ts)
    gas["reading, single, cold meter (prepaid, flat)"] = _reading_tx(d, prepaid, 250, ts)
    ts = clock.advance(60)
    gas["reading, single, cold meter, 64-byte compact signature"] = _reading_tx(
        d, meter, 300, ts, short=True
    )
    d.set_tariff(2, 300_000, bands=[(0, 360, 100_000), (420, 600, 500_000), (1080, 1320, 600_000)])
    tou = _new_meter(d, "time-of-use", tariff_id=2)
    ts = clock.advance(60)
    _reading_tx(d, tou, 100, ts)
    ts = clock.advance(60)
    gas["reading, single, time-of-use tariff (3 bands)"] = _reading_tx(d, tou, 200, ts)

    # 50 meters on one feeder, each with a first reading behind it.
    d.register_feeder(2, d.operator.address)
    meters = [_new_meter(d, f"batch {i}", feeder_id=2, payer=d.operator) for i in range(BATCH)]
    ts = clock.advance(60)
    first = [d.signed_reading(m.signer, m.meter_id, 100, ts) for m in meters]
    d.transact(d.ledger.functions.submitReadings(first))
    ts = clock.advance(60)
    batch = [d.signed_reading(m.signer, m.meter_id, 200, ts) for m in meters]
    receipt = d.transact(d.ledger.functions.submitReadings(batch))
    gas["reading, batch of 50, whole transaction"] = int(receipt["gasUsed"])
    gas["reading, batch of 50 meters on one feeder, per reading"] = int(receipt["gasUsed"]) // BATCH

    # The next period's first reading closes the period and issues the bill.
    ts = clock.advance(period)
    gas["reading, single, closes the period and issues the bill"] = _reading_tx(d, meter, 400, ts)
    due = int(d.ledger.functions.amountDue(meter.meter_id).call())
    receipt = d.transact(d.ledger.functions.payBill(meter.meter_id), meter.payer, value=due)
    gas["pay bill, native coin, permit extended"] = int(receipt["gasUsed"])

    feeder_signer = _account("feeder")
    d.register_feeder(3, feeder_signer.address)
    ts = clock.advance(60)
    sig = d.sign_feeder_reading(feeder_signer, 3, 1_000, ts)
    d.transact(d.ledger.functions.submitFeederReading((3, 1_000, ts), sig))
    ts = clock.advance(60)
    sig = d.sign_feeder_reading(feeder_signer, 3, 2_000, ts)
    receipt = d.transact(d.ledger.functions.submitFeederReading((3, 2_000, ts), sig))
    gas["feeder reading"] = int(receipt["gasUsed"])
    postpaid = meter

    # ---------------------------------------------------------------- token deployment
    t = deploy_ledger(w3, key, token=True, config=config)
    meter = _new_meter(t, "token")
    t.mint(meter.payer.address, 1_000 * 10**6)
    wh = 0
    for _ in range(2):  # the second payment is the steady state: nonce and balances warm-started
        ts = clock.advance(60)
        wh += 200
        _reading_tx(t, meter, wh, ts)
        ts = clock.advance(period)
        wh += 10
        _reading_tx(t, meter, wh, ts)
        due = int(t.ledger.functions.amountDue(meter.meter_id).call())
        v, r, s = t.permit_signature(meter.payer, due, ts + 3600)
        call = t.ledger.functions.payBillWithPermit(meter.meter_id, due, ts + 3600, v, r, s)
        receipt = t.transact(call, meter.payer)
    gas["pay bill, ERC-20 + ERC-2612 permit, steady state"] = int(receipt["gasUsed"])

    # Last, so that the figures above stay as they were: an operator call, no signature.
    ts = clock.advance(60)
    _reading_tx(d, postpaid, 450, ts)
    ts = clock.advance(60)
    receipt = d.transact(d.ledger.functions.recordMeterExchange(postpaid.meter_id, 500, 0, ts))
    gas["meter exchange, old register's final bill in the open period (postpaid, flat)"] = int(
        receipt["gasUsed"]
    )
    _measure_producers(d, clock, gas)
    _measure_auction(d, t, clock, gas)
    _measure_seed_lot(d, clock, gas)
    return gas


def _bidirectional_tx(d: Deployment, meter: Meter, import_wh: int, export_wh: int, ts: int) -> int:
    sig = d.sign_bidirectional_reading(meter.signer, meter.meter_id, import_wh, export_wh, ts)
    call = d.ledger.functions.submitBidirectionalReading(
        (meter.meter_id, import_wh, export_wh, ts), sig
    )
    return int(d.transact(call, d.operator)["gasUsed"])


def _measure_producers(d: Deployment, clock: _Clock, gas: dict[str, int]) -> None:
    """Prosumers on the native deployment: readings of both registers, claims, redemption and
    sell-back."""
    period = 3600
    d.transact(d.ledger.functions.setProducerTariff(1, (80_000, 100_000)))
    prosumer = _new_meter(d, "prosumer")
    plain = _new_meter(d, "prosumer without redemption")
    for m in (prosumer, plain):
        d.enable_export(m.meter_id, 10_000, 0)
    d.transact(d.ledger.functions.setRedeemTokens(prosumer.meter_id, True), prosumer.payer)
    ts = clock.advance(60)
    _bidirectional_tx(d, prosumer, 100, 50, ts)
    _bidirectional_tx(d, plain, 100, 50, ts)
    ts = clock.advance(60)
    gas["bidirectional reading, single, cold meter (postpaid, flat)"] = _bidirectional_tx(
        d, prosumer, 250, 150, ts
    )
    _bidirectional_tx(d, plain, 250, 150, ts)

    d.register_feeder(4, d.operator.address)
    meters = [
        _new_meter(d, f"prosumer batch {i}", feeder_id=4, payer=d.operator) for i in range(BATCH)
    ]
    for m in meters:
        d.enable_export(m.meter_id, 10_000, 0)
    ts = clock.advance(60)
    first = [d.signed_bidirectional_reading(m.signer, m.meter_id, 100, 50, ts) for m in meters]
    d.transact(d.ledger.functions.submitBidirectionalReadings(first))
    ts = clock.advance(60)
    batch = [d.signed_bidirectional_reading(m.signer, m.meter_id, 200, 100, ts) for m in meters]
    receipt = d.transact(d.ledger.functions.submitBidirectionalReadings(batch))
    gas["bidirectional reading, batch of 50 meters, per reading"] = int(receipt["gasUsed"]) // BATCH

    holder = meters[0]
    receipt = d.transact(d.ledger.functions.claimTokens(holder.meter_id))
    gas["claim tokens, first claim of the payer"] = int(receipt["gasUsed"])
    receipt = d.transact(d.ledger.functions.claimTokens(meters[1].meter_id))
    gas["claim tokens, payer already holding tokens"] = int(receipt["gasUsed"])

    ts = clock.advance(period)
    gas["bidirectional reading, closes the period, bill without redemption"] = _bidirectional_tx(
        d, plain, 400, 200, ts
    )
    gas["bidirectional reading, closes the period, bill redeems pending tokens"] = (
        _bidirectional_tx(d, prosumer, 400, 200, ts)
    )

    d.transact(d.ledger.functions.depositFeedInFunds(10**15), value=10**15)
    receipt = d.transact(d.ledger.functions.sellBack(plain.meter_id, 100), plain.payer)
    gas["sell back tokens (pending first)"] = int(receipt["gasUsed"])

    # A plant: its readings are a feeder's (the tokens accrue in its register), its owner claims.
    plant_signer = _account("plant")
    d.register_feeder(5, plant_signer.address)
    ts = clock.advance(60)
    d.transact(
        d.ledger.functions.submitFeederReading(
            (5, 1_000, ts), d.sign_feeder_reading(plant_signer, 5, 1_000, ts)
        )
    )
    d.transact(d.ledger.functions.enablePlant(5, _account("plant owner").address))
    ts = clock.advance(60)
    sig = d.sign_feeder_reading(plant_signer, 5, 2_000, ts)
    receipt = d.transact(d.ledger.functions.submitFeederReading((5, 2_000, ts), sig))
    gas["feeder reading, plant"] = int(receipt["gasUsed"])
    receipt = d.transact(d.ledger.functions.claimPlantTokens(5))
    gas["claim plant tokens, first claim of the owner"] = int(receipt["gasUsed"])

    # Last: an operator call, no signature.
    ts = clock.advance(60)
    _bidirectional_tx(d, plain, 450, 250, ts)
    ts = clock.advance(60)
    call = d.ledger.functions.recordBidirectionalMeterExchange(plain.meter_id, 500, 260, 0, 0, ts)
    receipt = d.transact(call)
    gas["meter exchange of both registers, final bill in the open period (postpaid, flat)"] = int(
        receipt["gasUsed"]
    )


def _energy_tokens(d: Deployment, clock: _Clock, name: str, wh: int) -> LocalAccount:
    """A prosumer's payer holding `wh` energy tokens, earned as the ledger mints them: signed
    export, then a claim."""
    prosumer = _new_meter(d, name)
    d.enable_export(prosumer.meter_id, 10_000, 0)
    ts = clock.advance(60)
    _bidirectional_tx(d, prosumer, 10, 0, ts)
    ts = clock.advance(3600)
    _bidirectional_tx(d, prosumer, 20, wh, ts)
    d.transact(d.ledger.functions.claimTokens(prosumer.meter_id))
    return prosumer.payer


def _offer_with_permit(d: Deployment, seller: LocalAccount, wh: int, price: int, ts: int) -> int:
    assert d.auction is not None
    assert d.energy_token is not None
    v, r, s = d.permit_signature(seller, wh, ts + 3600, d.energy_token, d.auction.address)
    call = d.auction.functions.offerWithPermit(wh, price, AUCTION_DURATION, ts + 3600, v, r, s)
    return int(d.transact(call, seller)["gasUsed"])


def _bidder(d: Deployment, name: str) -> LocalAccount:
    bidder = _account(name)
    d.fund(bidder.address)
    return bidder


def _measure_auction(d: Deployment, t: Deployment, clock: _Clock, gas: dict[str, int]) -> None:
    """The energy auction: a prosumer offers its tokens with a permit, two neighbours bid, the lot
    is finalized and the outbid neighbour withdraws its refund; native coin on `d`, the test dollar
    on `t`. Each bidder is new to the auction."""
    auction = d.auction
    assert auction is not None
    lot_wh, price = 300, 100_000_000_000_000  # 0.0001 coin per kWh
    d.transact(auction.functions.setFee(100, d.treasury))
    seller = _energy_tokens(d, clock, "auction seller", 1_000)
    ts = clock.advance(60)
    gas["energy auction: offer with permit, the seller's first permit, the auction's first lot"] = (
        _offer_with_permit(d, seller, lot_wh, price, ts)
    )
    gas["energy auction: offer with permit (steady state)"] = _offer_with_permit(
        d, seller, lot_wh, price, ts
    )
    _offer_with_permit(d, seller, lot_wh, price, ts)
    sold, unsold = 2, 3
    first, second = _bidder(d, "auction bidder 1"), _bidder(d, "auction bidder 2")
    payment = int(auction.functions.paymentFor(lot_wh, price).call())
    receipt = d.transact(auction.functions.bid(sold, price), first, value=payment)
    gas["energy auction: first bid, native coin"] = int(receipt["gasUsed"])
    higher = price * 2
    payment = int(auction.functions.paymentFor(lot_wh, higher).call())
    receipt = d.transact(auction.functions.bid(sold, higher), second, value=payment)
    gas["energy auction: outbid, native coin (the outbid bidder's first refund)"] = int(
        receipt["gasUsed"]
    )
    ts = clock.advance(AUCTION_DURATION - 60)
    highest = higher * 2
    payment = int(auction.functions.paymentFor(lot_wh, highest).call())
    receipt = d.transact(auction.functions.bid(sold, highest), first, value=payment)
    gas["energy auction: outbid in the last minutes, deadline extended, native coin"] = int(
        receipt["gasUsed"]
    )
    ts = clock.advance(AUCTION_EXTENSION + 60)
    receipt = d.transact(auction.functions.finalize(sold))
    gas["energy auction: finalize, sold (winner's first tokens, seller's first proceeds, fee)"] = (
        int(receipt["gasUsed"])
    )
    receipt = d.transact(auction.functions.finalize(unsold))
    gas["energy auction: finalize, unsold (tokens back to the seller)"] = int(receipt["gasUsed"])
    receipt = d.transact(auction.functions.withdrawRefund(), second)
    gas["energy auction: withdraw refund, native coin"] = int(receipt["gasUsed"])

    _measure_token_auction(t, clock, gas)


def _measure_token_auction(t: Deployment, clock: _Clock, gas: dict[str, int]) -> None:
    """Bids in the test dollar, approved before or with a permit. A first lot's bid has already
    brought the auction its first dollars, so the figures are those of a running market."""
    auction, stablecoin = t.auction, t.token
    assert auction is not None
    assert stablecoin is not None
    lot_wh, price = 300, 100_000
    seller = _energy_tokens(t, clock, "auction seller, dollar", 1_000)
    ts = clock.advance(60)
    for _ in range(2):
        _offer_with_permit(t, seller, lot_wh, price, ts)
    names = ("earlier", "first", "second", "third")
    bidders = [_bidder(t, f"auction bidder, dollar, {name}") for name in names]
    for bidder in bidders:
        t.mint(bidder.address, 10**9)
        t.transact(stablecoin.functions.approve(auction.address, 10**9), bidder)
    t.transact(auction.functions.bid(1, price), bidders[0])
    receipt = t.transact(auction.functions.bid(2, price), bidders[1])
    gas["energy auction: first bid, ERC-20 (approved before)"] = int(receipt["gasUsed"])
    receipt = t.transact(auction.functions.bid(2, price * 2), bidders[2])
    gas["energy auction: outbid, ERC-20 (approved before; the outbid bidder's first refund)"] = int(
        receipt["gasUsed"]
    )
    third = bidders[3]
    t.transact(stablecoin.functions.approve(auction.address, 0), third)
    payment = int(auction.functions.paymentFor(lot_wh, price * 4).call())
    v, r, s = t.permit_signature(third, payment, ts + 3600, spender=auction.address)
    receipt = t.transact(auction.functions.bidWithPermit(2, price * 4, ts + 3600, v, r, s), third)
    gas["energy auction: outbid, ERC-20 + ERC-2612 permit (the outbid bidder's first refund)"] = (
        int(receipt["gasUsed"])
    )
    t.transact(auction.functions.bid(2, price * 8), bidders[1])
    receipt = t.transact(auction.functions.bid(2, price * 16), bidders[2])
    gas["energy auction: outbid, ERC-20 (the outbid bidder already has a refund)"] = int(
        receipt["gasUsed"]
    )
    receipt = t.transact(auction.functions.withdrawRefund(), bidders[1])
    gas["energy auction: withdraw refund, ERC-20"] = int(receipt["gasUsed"])


def write_snapshot(gas: dict[str, int]) -> None:
    rows = []
    for metric, value in gas.items():
        target = TARGETS[metric]
        entry: dict[str, Any] = {"metric": metric, "gasUsed": value}
        if target is not None:
            entry["must"], entry["aim"] = target
        rows.append(entry)
    SNAPSHOT.write_text(json.dumps(rows, indent=2) + "\n")


def run() -> list[Row]:
    """Measure on a fresh anvil, rewrite the committed snapshot, return the rows."""
    build_contracts()
    with pinned_anvil() as anvil:
        gas = measure(anvil)
    write_snapshot(gas)
    rows = []
    for metric, value in gas.items():
        target = TARGETS[metric]
        text = f"<= {target[0]:,} (aim {target[1]:,})" if target else ""
        rows.append(Row("contracts", metric, value, "gas", text))
    return rows


def _feeder_tx(d: Deployment, signer: LocalAccount, feeder_id: int, wh: int, ts: int) -> int:
    sig = d.sign_feeder_reading(signer, feeder_id, wh, ts)
    call = d.ledger.functions.submitFeederReading((feeder_id, wh, ts), sig)
    return int(d.transact(call)["gasUsed"])


def _measure_seed_lot(d: Deployment, clock: _Clock, gas: dict[str, int]) -> None:
    """The seed's 5-minute lot in prepaid mode: a plant's reading, its distributor's reading, one
    prepaid household's reading below them, the household's top-up (one per 12 lots) and the
    period's settlement (shared by 50 households); then the settlement's withdrawal."""
    settlement = d.settlement
    assert settlement is not None
    period = d.config.period_length
    plant_signer, distributor_signer = _account("seed plant"), _account("seed distributor")
    plant_owner, payee = _account("seed plant owner"), _account("seed distributor payee")
    d.fund(plant_owner.address)
    d.register_feeder(6, plant_signer.address)
    d.register_feeder(7, distributor_signer.address, parent_id=6)
    household = _new_meter(d, "seed household", mode=PREPAID, feeder_id=7)
    ts = clock.advance(60)
    _feeder_tx(d, plant_signer, 6, 0, ts)
    _feeder_tx(d, distributor_signer, 7, 0, ts)
    d.transact(d.ledger.functions.enablePlant(6, plant_owner.address))
    d.transact(settlement.functions.setPlantPrice(6, 100_000))
    d.transact(settlement.functions.setDistributorTerms(7, 500, 1_000, 20_000, 1, payee.address))
    d.transact(settlement.functions.addDeposit(10**15), value=10**15)
    d.transact(d.ledger.functions.topUp(household.meter_id, 10**16), household.payer, value=10**16)
    _reading_tx(d, household, 0, ts)

    # The next period, when the terms apply: a first lot, then the measured one 5 minutes later.
    genesis = int(d.ledger.functions.genesis().call())
    start = genesis + ((clock.at - genesis) // period + 1) * period
    ts = clock.advance(start + 60 - clock.at)
    _feeder_tx(d, plant_signer, 6, 1_000, ts)
    _feeder_tx(d, distributor_signer, 7, 980, ts)
    _reading_tx(d, household, 100, ts)
    ts = clock.advance(300)
    lot = {
        "seed lot: plant feeder reading": _feeder_tx(d, plant_signer, 6, 2_000, ts),
        "seed lot: distributor feeder reading": _feeder_tx(d, distributor_signer, 7, 1_960, ts),
        "seed lot: prepaid household reading": _reading_tx(d, household, 200, ts),
    }
    receipt = d.transact(
        d.ledger.functions.topUp(household.meter_id, 10**15), household.payer, value=10**15
    )
    lot["seed lot: top-up, native coin (one per 12 lots)"] = int(receipt["gasUsed"])

    # The household's first reading of the next period closes its bill; after the cut-off anyone
    # settles the period.
    ts = clock.advance(start + period + 60 - clock.at)
    _reading_tx(d, household, 200, ts)
    clock.advance(int(settlement.functions.cutoff().call()))
    current = int(d.ledger.functions.currentPeriod().call())
    receipt = d.transact(settlement.functions.settle(current - 1, 7))
    settle_gas = int(receipt["gasUsed"])
    gas["settlement: settle one period for one distributor"] = settle_gas
    lot["seed lot: settlement, per household (one period for 50 households)"] = (
        settle_gas // HOUSEHOLDS_PER_SETTLEMENT
    )
    gas.update(lot)
    gas[SEED_LOT] = (
        lot["seed lot: plant feeder reading"]
        + lot["seed lot: distributor feeder reading"]
        + lot["seed lot: prepaid household reading"]
        + lot["seed lot: top-up, native coin (one per 12 lots)"] // LOTS_PER_TOP_UP
        + lot["seed lot: settlement, per household (one period for 50 households)"]
    )
    owed = int(settlement.functions.owedTo(plant_owner.address).call())
    receipt = d.transact(settlement.functions.withdraw(owed), plant_owner)
    gas["settlement: withdraw, native coin"] = int(receipt["gasUsed"])


if __name__ == "__main__":
    for row in run():
        print(f"{row.metric:<60} {int(row.value):>9,} {row.unit}  {row.target}")
