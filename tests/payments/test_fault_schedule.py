"""Randomized restart and connection-drop schedules: count double payments (must be none).

Each run starts from the same chain state (anvil snapshot): a bill to pay, or a top-up to make
(a top-up has no on-chain "already paid" to lean on: only the engine's intent and request id
keep it single). Up to four engine lifetimes try to make the one payment. Every lifetime but
the last draws faults: a crash at a durable step, answers dropped after the node acted, the
node unreachable from a step on, blocks not mined (automine off) so receipts never arrive,
receipts served many polls after the nonce counts as used (anvil under load; a load-balanced
provider). The last lifetime runs clean and must finish the payment. Then the ledger's events,
its balance and the meter's balance say how many times the payment was made.

    GRID_LEDGER_FAULT_RUNS=1000 GRID_LEDGER_FAULT_SEED=7 \
        pytest tests/payments/test_fault_schedule.py -s
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
import os
import random
import time
from typing import Any

import pytest

from custom_components.grid_ledger.chain import GridLedgerError
from custom_components.grid_ledger.chain.payments import MemoryPaymentStore, PaymentStatus
from tests.anvil import Anvil
from tests.payments.conftest import Crash, Env, lag_receipts, open_engine, reset_node
from tests.payments.proxy import CuttableProxy

RUNS = int(os.environ.get("GRID_LEDGER_FAULT_RUNS", "200"))
SEED = int(os.environ.get("GRID_LEDGER_FAULT_SEED", "20261121"))
STAGES = ("decided", "signed", "broadcast", "mined", "recorded")
MARKERS = (
    b"eth_sendRawTransaction",
    b"eth_getTransactionReceipt",
    b"eth_getTransactionCount",
    b"eth_estimateGas",
    b"eth_call",
)
METHODS: dict[str, dict[str, Any]] = {
    "native": {},
    "permit": {},
    "approve": {"use_permit": False},
}


@dataclass
class Faults:
    crash: tuple[str, int] | None = None
    drops: tuple[bytes, ...] = ()
    outage_from: str | None = None
    no_mining: bool = False
    resume_first: bool = False
    receipt_lag: int = 0  # receipts that exist answered as not there yet

    @classmethod
    def draw(cls, rng: random.Random, lag_rng: random.Random) -> Faults:
        """`lag_rng` draws the receipt lag apart, so a seed keeps the schedule it always had."""
        return cls(
            crash=(rng.choice(STAGES), rng.randint(1, 2)) if rng.random() < 0.6 else None,
            drops=tuple(rng.choice(MARKERS) for _ in range(rng.choice((0, 0, 1, 2)))),
            outage_from=rng.choice(STAGES[:3]) if rng.random() < 0.15 else None,
            no_mining=rng.random() < 0.2,
            resume_first=rng.random() < 0.3,
            receipt_lag=lag_rng.choice((0, 0, 0, 2, 8, 30)),
        )


@pytest.fixture
async def proxy(anvil: Anvil, socket_enabled: None) -> AsyncIterator[CuttableProxy]:
    node = CuttableProxy(anvil.port)
    await node.start()
    yield node
    await node.close()


def _ledger_holds(env: Env) -> int:
    if env.token:
        return env.token_balance(env.d.address)
    return int(env.d.w3.eth.get_balance(env.d.ledger.address))


@dataclass(frozen=True)
class Job:
    """The one payment a run makes."""

    env: Env
    top_up: bool
    request_id: str

    @property
    def meter_id(self) -> int:
        return self.env.prepaid.meter_id if self.top_up else self.env.meter.meter_id

    @property
    def amount(self) -> int:
        return self.env.due

    async def pay(self, engine: Any) -> Any:
        if self.top_up:
            return await engine.top_up(self.meter_id, self.amount, request_id=self.request_id)
        return await engine.pay_bill(self.meter_id)


async def _lifetime(
    job: Job,
    store: MemoryPaymentStore,
    proxy: CuttableProxy,
    options: dict[str, Any],
    faults: Faults | None,
) -> str:
    """One engine lifetime; returns how it ended."""
    env = job.env
    anvil = env.anvil
    seen: Counter[str] = Counter()

    async def checkpoint(stage: str) -> None:
        seen[stage] += 1
        assert faults is not None
        if faults.outage_from == stage:
            proxy.refuse = True
            await proxy.cut()
        if faults.crash is not None and faults.crash == (stage, seen[stage]):
            raise Crash(stage)

    timing = (
        {"receipt_timeout": 5.0}
        if faults is None
        else {"receipt_timeout": 0.3, "bump_after": 0.1, "rebroadcast_after": 0.1}
    )
    if faults is not None:
        for marker in faults.drops:
            proxy.drop_response_to(marker)
        if faults.no_mining:
            anvil.rpc("evm_setAutomine", False)
    try:
        account = env.prepaid.payer if job.top_up else env.payer
        async with open_engine(
            env,
            store,
            account=account,
            rpc_url=proxy.url,
            checkpoint=checkpoint if faults else None,
            **options,
            **timing,
        ) as engine:
            if faults is not None and faults.receipt_lag:
                lag_receipts(engine.wallet, faults.receipt_lag)
            if faults is not None and faults.resume_first:
                await engine.resume()
            result = await job.pay(engine)
            assert result.status is PaymentStatus.CONFIRMED
            return "paid"
    except Crash:
        return "crash"
    except GridLedgerError as err:
        return type(err).__name__
    finally:
        proxy.refuse = False
        proxy._markers.clear()
        if faults is not None and faults.no_mining:
            anvil.rpc("evm_setAutomine", True)
            anvil.rpc("evm_mine")


async def test_randomized_restarts_and_drops_never_pay_twice(
    envs: dict[str, Env], anvil: Anvil, proxy: CuttableProxy
) -> None:
    rng = random.Random(SEED)
    lag_rng = random.Random(SEED + 1)
    start = time.monotonic()
    doubles = missed = mismatched = 0
    outcomes: Counter[str] = Counter()
    wrong: list[str] = []  # the runs that paid other than once, to start a reproduction from
    for run in range(RUNS):
        method = rng.choice(list(METHODS))
        env = envs["native" if method == "native" else "token"]
        job = Job(env, top_up=rng.random() < 0.5, request_id=f"run-{run}")
        snapshot = anvil.snapshot()
        block = env.d.w3.eth.block_number
        held = _ledger_holds(env)
        credit = env.d.ledger.functions.meterBalance(job.meter_id).call()
        store = MemoryPaymentStore()
        lifetimes: list[str] = []
        try:
            for _ in range(rng.randint(1, 3)):
                faults = Faults.draw(rng, lag_rng)
                ended = await _lifetime(job, store, proxy, METHODS[method], faults)
                lifetimes.append(f"{faults} -> {ended}")
            lifetimes.append(await _lifetime(job, store, proxy, METHODS[method], None))
            outcomes.update(line.rsplit(" -> ", 1)[-1] for line in lifetimes)
            mined = env.d.w3.eth.block_number > block
            payments = len(env.payments(job.meter_id, block + 1)) if mined else 0
            received = _ledger_holds(env) - held
            credited = env.d.ledger.functions.meterBalance(job.meter_id).call() - credit
            doubles += payments > 1 or received > job.amount
            missed += payments == 0 or credited != job.amount
            mismatched += received != payments * job.amount
            if payments != 1 or received != job.amount or credited != job.amount:
                kind = "top-up" if job.top_up else "bill"
                wrong.append(
                    f"run {run} ({method} {kind}): {payments} payments, {received} received, "
                    f"{credited} credited of {job.amount}; " + "; ".join(lifetimes)
                )
        finally:
            reset_node(anvil, snapshot)
    elapsed = time.monotonic() - start
    print(
        f"\nfault schedule: seed {SEED}, {RUNS} runs in {elapsed:.1f} s: "
        f"double payments {doubles}, unpaid {missed}; lifetimes {dict(outcomes)}"
        + "".join(f"\n  {line}" for line in wrong)
    )
    assert doubles == 0
    assert mismatched == 0
    assert missed == 0
