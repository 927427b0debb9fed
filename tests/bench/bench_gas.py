"""Gas of the Grid Ledger's hot paths, measured on real transaction receipts on a fresh anvil.

Each figure is `gasUsed` of a mined transaction (intrinsic 21,000 and calldata included, refunds
applied), sent the way the integration sends it. The figures are written to
`contracts/gas-snapshot.receipts.json` (committed) and returned as rows.

    python -m tests.bench.bench_gas   # measure, rewrite the snapshot, print the rows
"""

from __future__ import annotations

import json
from typing import Any

from eth_account import Account

from tests.anvil import REPO, Anvil
from tests.bench import Row
from tests.chain_fixtures import (
    PREPAID,
    Deployment,
    build_contracts,
    compact,
    deploy_ledger,
    web3_for,
)

SNAPSHOT = REPO / "contracts" / "gas-snapshot.receipts.json"
BATCH = 50

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
    "feeder reading": None,
}


def _now(anvil: Anvil) -> int:
    return anvil.timestamp()


def _advance(anvil: Anvil, seconds: int) -> int:
    anvil.increase_time(seconds)
    return _now(anvil)


def _reading_tx(d: Deployment, meter: Any, wh: int, ts: int, short: bool = False) -> int:
    relayer = d.operator
    sig = d.sign_reading(meter.signer, meter.meter_id, wh, ts)
    if short:
        sig = b"".join(compact(sig))
    call = d.ledger.functions.submitReading((meter.meter_id, wh, ts), sig)
    return int(d.transact(call, relayer)["gasUsed"])


def measure(anvil: Anvil) -> dict[str, int]:
    """Send the benchmark transactions on `anvil` and return gasUsed per metric."""
    w3 = web3_for(anvil)
    key = anvil.accounts[0][1]
    gas: dict[str, int] = {}
    period = 3600

    # ---------------------------------------------------------------- native deployment
    d = deploy_ledger(w3, key, token=False)
    meter = d.new_meter()
    prepaid = d.new_meter(mode=PREPAID)
    d.transact(d.ledger.functions.topUp(prepaid.meter_id, 10**17), prepaid.payer, value=10**17)
    ts = _advance(anvil, 60)
    _reading_tx(d, meter, 100, ts)  # a first reading, so the measured one is an ordinary one
    _reading_tx(d, prepaid, 100, ts)
    ts = _advance(anvil, 60)
    gas["reading, single, cold meter (postpaid, flat)"] = _reading_tx(d, meter, 250, ts)
    gas["reading, single, cold meter (prepaid, flat)"] = _reading_tx(d, prepaid, 250, ts)
    ts = _advance(anvil, 60)
    gas["reading, single, cold meter, 64-byte compact signature"] = _reading_tx(
        d, meter, 300, ts, short=True
    )
    d.set_tariff(2, 300_000, bands=[(0, 360, 100_000), (420, 600, 500_000), (1080, 1320, 600_000)])
    tou = d.new_meter(tariff_id=2)
    ts = _advance(anvil, 60)
    _reading_tx(d, tou, 100, ts)
    ts = _advance(anvil, 60)
    gas["reading, single, time-of-use tariff (3 bands)"] = _reading_tx(d, tou, 200, ts)

    # 50 meters on one feeder, each with a first reading behind it.
    d.register_feeder(2, d.operator.address)
    meters = [d.new_meter(feeder_id=2, payer=d.operator) for _ in range(BATCH)]
    ts = _advance(anvil, 60)
    first = [d.signed_reading(m.signer, m.meter_id, 100, ts) for m in meters]
    d.transact(d.ledger.functions.submitReadings(first))
    ts = _advance(anvil, 60)
    batch = [d.signed_reading(m.signer, m.meter_id, 200, ts) for m in meters]
    receipt = d.transact(d.ledger.functions.submitReadings(batch))
    gas["reading, batch of 50, whole transaction"] = int(receipt["gasUsed"])
    gas["reading, batch of 50 meters on one feeder, per reading"] = int(receipt["gasUsed"]) // BATCH

    # The next period's first reading closes the period and issues the bill.
    ts = _advance(anvil, period)
    gas["reading, single, closes the period and issues the bill"] = _reading_tx(d, meter, 400, ts)
    due = int(d.ledger.functions.amountDue(meter.meter_id).call())
    receipt = d.transact(d.ledger.functions.payBill(meter.meter_id), meter.payer, value=due)
    gas["pay bill, native coin, permit extended"] = int(receipt["gasUsed"])

    feeder_signer = Account.create()
    d.register_feeder(3, feeder_signer.address)
    ts = _advance(anvil, 60)
    sig = d.sign_feeder_reading(feeder_signer, 3, 1_000, ts)
    d.transact(d.ledger.functions.submitFeederReading((3, 1_000, ts), sig))
    ts = _advance(anvil, 60)
    sig = d.sign_feeder_reading(feeder_signer, 3, 2_000, ts)
    receipt = d.transact(d.ledger.functions.submitFeederReading((3, 2_000, ts), sig))
    gas["feeder reading"] = int(receipt["gasUsed"])

    # ---------------------------------------------------------------- token deployment
    t = deploy_ledger(w3, key, token=True)
    meter = t.new_meter()
    t.mint(meter.payer.address, 1_000 * 10**6)
    wh = 0
    for _ in range(2):  # the second payment is the steady state: nonce and balances warm-started
        ts = _advance(anvil, 60)
        wh += 200
        _reading_tx(t, meter, wh, ts)
        ts = _advance(anvil, period)
        wh += 10
        _reading_tx(t, meter, wh, ts)
        due = int(t.ledger.functions.amountDue(meter.meter_id).call())
        v, r, s = t.permit_signature(meter.payer, due, ts + 3600)
        call = t.ledger.functions.payBillWithPermit(meter.meter_id, due, ts + 3600, v, r, s)
        receipt = t.transact(call, meter.payer)
    gas["pay bill, ERC-20 + ERC-2612 permit, steady state"] = int(receipt["gasUsed"])
    return gas


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
    with Anvil() as anvil:
        gas = measure(anvil)
    write_snapshot(gas)
    rows = []
    for metric, value in gas.items():
        target = TARGETS[metric]
        text = f"<= {target[0]:,} (aim {target[1]:,})" if target else ""
        rows.append(Row("contracts", metric, value, "gas", text))
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row.metric:<60} {int(row.value):>9,} {row.unit}  {row.target}")
