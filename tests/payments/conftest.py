"""Payment fixtures: ledgers with a bill waiting, engines over the real node, and faults.

Each environment is a fresh deployment whose first billing period ends right after set-up, so
every meter carries one issued bill for the rest of the (30-day) second period; tests revert
the chain to the snapshot taken after set-up, so each starts from the same unpaid bill.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import contextlib
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
import pytest
import pytest_socket  # type: ignore[import-untyped]
from web3 import Web3

from custom_components.grid_ledger.chain import GridLedgerClient, Wallet
from custom_components.grid_ledger.chain.models import Receipt
from custom_components.grid_ledger.chain.payments import (
    Checkpoint,
    MemoryPaymentStore,
    PaymentEngine,
    PaymentStore,
)
from tests.anvil import Anvil
from tests.chain_fixtures import PREPAID, Deployment, LedgerConfig, Meter, deploy_ledger

PERIOD = 30 * 86_400
FIRST_WH = 1_000  # 1 kWh in the first period: 300,000 base units at the default tariff
TOKEN_MINTED = 1_000 * 10**6
ENGINE_OPTIONS = ("use_permit", "on_result")  # the rest configure the wallet


class Crash(Exception):  # noqa: N818 - a process death, not an error to handle
    """The process died here: the engine is abandoned mid-call and never used again."""


@dataclass
class Env:
    """A ledger (native or token), a postpaid meter with its bill issued, a prepaid meter."""

    anvil: Anvil
    d: Deployment
    meter: Meter
    prepaid: Meter
    due: int

    @property
    def token(self) -> bool:
        return self.d.token is not None

    @property
    def payer(self) -> LocalAccount:
        return self.meter.payer

    def payments(self, meter_id: int | None = None, from_block: int = 0) -> list[Any]:
        """PaymentReceived events of a meter (the bill meter by default)."""
        meter_id = self.meter.meter_id if meter_id is None else meter_id
        return list(
            self.d.ledger.events.PaymentReceived().get_logs(
                from_block=from_block, argument_filters={"meterId": meter_id}
            )
        )

    def amount_due(self) -> int:
        return int(self.d.ledger.functions.amountDue(self.meter.meter_id).call())

    def nonce(self, address: str | None = None) -> int:
        return int(self.d.w3.eth.get_transaction_count(address or self.payer.address))

    def token_balance(self, address: str) -> int:
        assert self.d.token is not None
        return int(self.d.token.functions.balanceOf(address).call())


def _setup(anvil: Anvil, w3: Web3, token: bool) -> Env:
    now = anvil.timestamp()
    config = LedgerConfig(
        period_length=PERIOD,
        genesis=now - PERIOD + 900,
        payment_window=7 * 86_400,
        grace=86_400,
    )
    d = deploy_ledger(w3, anvil.accounts[0][1], token=token, config=config)
    meter = d.new_meter()
    prepaid = d.new_meter(mode=PREPAID)
    if token:
        d.mint(meter.payer.address, TOKEN_MINTED)
        d.mint(prepaid.payer.address, TOKEN_MINTED)
    anvil.increase_time(600)
    ts = anvil.timestamp()
    for m in (meter, prepaid):
        sig = d.sign_reading(m.signer, m.meter_id, FIRST_WH, ts)
        d.transact(d.ledger.functions.submitReading((m.meter_id, FIRST_WH, ts), sig))
    anvil.increase_time(400)  # the first period is over: the bill is issued at settle
    d.transact(d.ledger.functions.settle(meter.meter_id))
    due = int(d.ledger.functions.amountDue(meter.meter_id).call())
    assert due > 0
    return Env(anvil, d, meter, prepaid, due)


@contextlib.contextmanager
def _sockets() -> Iterator[None]:
    pytest_socket.enable_socket()
    try:
        yield
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)


@pytest.fixture(scope="package")
def envs(anvil: Anvil, chain_w3: Web3) -> dict[str, Env]:
    """Both environments, deployed once for the package."""
    with _sockets():
        return {"native": _setup(anvil, chain_w3, False), "token": _setup(anvil, chain_w3, True)}


@pytest.fixture
def clean_chain(anvil: Anvil, envs: dict[str, Env], socket_enabled: None) -> Iterator[None]:
    """Every test starts from the unpaid bills and leaves the node as it found it."""
    for env in envs.values():
        assert env.amount_due() == env.due, "the previous test left the bill paid"
    snapshot = anvil.snapshot()
    yield
    reset_node(anvil, snapshot)


def reset_node(anvil: Anvil, snapshot: str) -> None:
    """Back to `snapshot` with an empty pool and automine on (revert keeps both as they are)."""
    anvil.rpc("evm_setAutomine", True)
    anvil.rpc("anvil_dropAllTransactions")
    assert anvil.revert(snapshot), f"snapshot {snapshot} was not restored"


@pytest.fixture
def native(envs: dict[str, Env], clean_chain: None) -> Env:
    return envs["native"]


@pytest.fixture
def token(envs: dict[str, Env], clean_chain: None) -> Env:
    return envs["token"]


@contextlib.asynccontextmanager
async def open_engine(
    env: Env,
    store: PaymentStore | None = None,
    *,
    account: LocalAccount | None = None,
    rpc_url: str | None = None,
    checkpoint: Checkpoint | None = None,
    **options: Any,
) -> AsyncIterator[PaymentEngine]:
    """An engine for the payer's (or `account`'s) wallet over the node (or a proxy), closed
    afterwards."""
    account = account or env.payer
    key = "0x" + bytes(account.key).hex()
    client = GridLedgerClient(rpc_url or env.anvil.rpc_url, env.d.address, request_timeout=2.0)
    options.setdefault("receipt_timeout", 10.0)
    options.setdefault("poll_interval", 0.02)
    engine_options = {name: options.pop(name) for name in ENGINE_OPTIONS if name in options}
    try:
        yield PaymentEngine(
            Wallet(client, key, **options),
            store if store is not None else MemoryPaymentStore(),
            checkpoint=checkpoint,
            **engine_options,
        )
    finally:
        await client.close()


def crash_at(stage: str, occurrence: int = 1) -> Checkpoint:
    """A checkpoint that kills the engine the `occurrence`-th time it reaches `stage`."""
    seen = 0

    async def checkpoint(reached: str) -> None:
        nonlocal seen
        if reached == stage:
            seen += 1
            if seen == occurrence:
                raise Crash(stage)

    return checkpoint


def lag_receipts(wallet: Wallet, looks: int) -> list[int]:
    """The node's receipts, each of the first `looks` that exist answered as not there yet (a
    node that counts a nonce as used before it serves the receipt); `[missed]` so far."""
    real = wallet.receipt
    missed = [0]

    async def lagging(tx_hash: str) -> Receipt | None:
        receipt = await real(tx_hash)
        if receipt is not None and missed[0] < looks:
            missed[0] += 1
            return None
        return receipt

    wallet.receipt = lagging  # type: ignore[method-assign]
    return missed


def new_wallet(env: Env, wei: int) -> LocalAccount:
    """A fresh wallet holding `wei` of coin."""
    account: LocalAccount = Account.create()
    if wei:
        env.d.fund(account.address, wei)
    return account
