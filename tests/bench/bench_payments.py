"""Payments: wall-clock time from the payment decision to the receipt, and gas per payment.

Each payment goes through `PaymentEngine` against a fresh anvil (automine: a block per
transaction), from `pay_bill`/`top_up` being called (bill read, intent recorded, signed,
broadcast) to the receipt read and the intent closed. Gas is `gasUsed` from the receipts
(for approve + pay, both transactions).

    python -m tests.bench.bench_payments
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import statistics
import time

from custom_components.grid_ledger.chain import GridLedgerClient, Wallet
from custom_components.grid_ledger.chain.payments import (
    MemoryPaymentStore,
    PaymentEngine,
    PaymentResult,
)
from tests.anvil import Anvil
from tests.bench import Row
from tests.chain_fixtures import (
    Deployment,
    LedgerConfig,
    Meter,
    build_contracts,
    deploy_ledger,
    web3_for,
)

AREA = "payments"
SAMPLES = 8
PERIOD = 30 * 86_400


def _bills(anvil: Anvil, token: bool, count: int) -> tuple[Deployment, list[Meter]]:
    """A ledger whose first period closes after set-up, and `count` meters with a bill issued.

    The readings and the settlement are mined at set times around the end of period 1, however
    long the set-up took (it may take minutes on a busy machine): every meter owes its bill.
    """
    genesis = anvil.timestamp() - PERIOD + 3600
    config = LedgerConfig(period_length=PERIOD, genesis=genesis)
    d = deploy_ledger(web3_for(anvil), anvil.accounts[0][1], token=token, config=config)
    meters = [d.new_meter() for _ in range(count)]
    ts = genesis + PERIOD - 300
    _mine_at(anvil, max(ts, anvil.timestamp() + 1))
    ts = anvil.timestamp()
    for m in meters:
        if token:
            d.mint(m.payer.address, 1_000 * 10**6)
        sig = d.sign_reading(m.signer, m.meter_id, 1_000, ts)
        d.transact(d.ledger.functions.submitReading((m.meter_id, 1_000, ts), sig))
    _mine_at(anvil, max(genesis + PERIOD + 100, anvil.timestamp() + 1))
    for m in meters:  # as a reading would: the bill is issued before the household pays it
        d.transact(d.ledger.functions.settle(m.meter_id))
        if d.ledger.functions.amountDue(m.meter_id).call() == 0:
            raise RuntimeError(f"meter {m.meter_id} has no bill to pay after the period")
    return d, meters


def _mine_at(anvil: Anvil, at: int) -> None:
    anvil.rpc("evm_setNextBlockTimestamp", at)
    anvil.rpc("evm_mine")


async def _measure(
    anvil: Anvil,
    d: Deployment,
    meters: list[Meter],
    pay: Callable[[PaymentEngine, Meter], Awaitable[PaymentResult]],
    use_permit: bool | None = None,
) -> tuple[list[float], list[int]]:
    seconds: list[float] = []
    gas: list[int] = []
    for meter in meters:
        key = "0x" + bytes(meter.payer.key).hex()
        client = GridLedgerClient(anvil.rpc_url, d.address)
        try:
            await client.connect()
            engine = PaymentEngine(
                Wallet(client, key, poll_interval=0.01), MemoryPaymentStore(), use_permit=use_permit
            )
            await engine.supports_permit()
            started = time.perf_counter()
            result = await pay(engine, meter)
            seconds.append(time.perf_counter() - started)
            gas.append(result.gas_used)
        finally:
            await client.close()
    return seconds, gas


def _rows(name: str, seconds: list[float], gas: list[int]) -> list[Row]:
    return [
        Row(AREA, f"{name}: decision to receipt, median", statistics.median(seconds) * 1000, "ms"),
        Row(AREA, f"{name}: decision to receipt, max", max(seconds) * 1000, "ms"),
        Row(AREA, f"{name}: gas per payment", statistics.median(gas), "gas"),
    ]


async def _run(anvil: Anvil) -> list[Row]:
    rows: list[Row] = []

    async def bill(engine: PaymentEngine, meter: Meter) -> PaymentResult:
        return await engine.pay_bill(meter.meter_id)

    async def top_up(engine: PaymentEngine, meter: Meter) -> PaymentResult:
        return await engine.top_up(meter.meter_id, 10**6)

    d, meters = _bills(anvil, token=False, count=2 * SAMPLES)
    rows += _rows("pay bill, native", *await _measure(anvil, d, meters[:SAMPLES], bill))
    rows += _rows("top up, native", *await _measure(anvil, d, meters[SAMPLES:], top_up))
    d, meters = _bills(anvil, token=True, count=3 * SAMPLES)
    rows += _rows(
        "pay bill, token + ERC-2612 permit", *await _measure(anvil, d, meters[:SAMPLES], bill)
    )
    rows += _rows(
        "pay bill, token, approve + pay",
        *await _measure(anvil, d, meters[SAMPLES : 2 * SAMPLES], bill, use_permit=False),
    )
    rows += _rows(
        "top up, token + ERC-2612 permit",
        *await _measure(anvil, d, meters[2 * SAMPLES :], top_up),
    )
    return rows


def run() -> list[Row]:
    build_contracts()
    with Anvil() as anvil:
        return asyncio.run(_run(anvil))


if __name__ == "__main__":
    for row in run():
        print(f"{row.metric:<60} {row.value:>12,.1f} {row.unit}")
