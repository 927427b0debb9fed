"""Bill payments and top-ups that are never sent twice.

A payment is an *intent* persisted in a `PaymentStore` before anything reaches the node: the
meter, the amount decided, and the wallet's transaction records (nonce, the exact signed raw
transactions and their hashes). Whatever happens after that (the process dies, the node drops
the connection, the receipt never comes), the next attempt first settles the recorded intent
from the chain through the wallet: a receipt by hash, the account's mined nonce. Until the
recorded nonce is consumed, only the same signed transactions (or fee bumps at the same nonce)
are broadcast, so at most one of them can ever be mined. A new intent is decided only when the
recorded one is provably dead and the bill is still unpaid.

Token payments use one `payBillWithPermit`/`topUpWithPermit` transaction with an ERC-2612 permit
when the token has one, otherwise `approve` then the payment, both signed and recorded together
at consecutive nonces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import copy
from dataclasses import asdict, dataclass, field
from enum import StrEnum
import json
import os
from pathlib import Path
import time
from typing import Any, Protocol
import uuid

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.contract import AsyncContract

from .abi import ERC20_ABI, GRID_LEDGER_ABI
from .client import GridLedgerClient
from .errors import (
    AmountAboveLimitError,
    CannotConnectError,
    GridLedgerError,
    InsufficientBalanceError,
    InsufficientFundsError,
    InsufficientGasError,
    InsufficientTokenBalanceError,
    NothingDueError,
    PaymentPendingError,
    PaymentRevertedError,
    RevertedError,
    TransactionRejectedError,
    TransactionTimeoutError,
)
from .models import ContractCall, LedgerInfo, WalletTx
from .wallet import Settled, Wallet

__all__ = [
    "AmountAboveLimitError",
    "InsufficientBalanceError",
    "InsufficientGasError",
    "InsufficientTokenBalanceError",
    "NothingDueError",
    "PaymentPendingError",
    "PaymentRevertedError",
]

STORE_VERSION = 1
DONE_KEPT = 32  # completed request ids remembered for idempotent retries
MAX_ATTEMPTS = 3  # fresh intents per call whose nonce another transaction took
PAY_GAS_FLOOR = 200_000  # room for a payment that also closes a period and issues its bill
UNESTIMATED_PAY_GAS = 300_000  # a payment after an `approve` that is not mined yet
PERMIT_LIFETIME = 86_400
PERMIT_TYPEHASH = keccak(
    b"Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
)

# ------------------------------------------------------------------------------------ models


class PaymentKind(StrEnum):
    BILL = "bill"
    TOP_UP = "top_up"


class PaymentMethod(StrEnum):
    NATIVE = "native"
    PERMIT = "permit"  # one transaction with an ERC-2612 permit signature
    APPROVE = "approve"  # approve, then pay


class PaymentStatus(StrEnum):
    CONFIRMED = "confirmed"  # mined and accepted
    REVERTED = "reverted"  # mined and refused by the contract: no money moved
    DROPPED = "dropped"  # provably never mined: its nonce went to another transaction


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What became of a payment. `token` None: the native coin."""

    meter_id: int
    kind: PaymentKind
    status: PaymentStatus
    amount: int
    currency: str
    token: str | None
    method: PaymentMethod
    tx_hash: str | None
    block_number: int | None
    gas_used: int
    bill_period: int
    request_id: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PaymentResult:
        return cls(
            **{
                **data,
                "kind": PaymentKind(data["kind"]),
                "status": PaymentStatus(data["status"]),
                "method": PaymentMethod(data["method"]),
            }
        )


@dataclass(slots=True)
class PaymentIntent:
    """A decided payment and the wallet transactions that carry it out (the last one pays)."""

    id: str
    request_id: str | None
    kind: PaymentKind
    meter_id: int
    amount: int
    bill_period: int
    currency: str
    token: str | None
    method: PaymentMethod
    created_at: float
    txs: list[WalletTx] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "kind": str(self.kind),
            "meter_id": self.meter_id,
            "amount": self.amount,
            "bill_period": self.bill_period,
            "currency": self.currency,
            "token": self.token,
            "method": str(self.method),
            "created_at": self.created_at,
            "txs": [tx.as_dict() for tx in self.txs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PaymentIntent:
        return cls(
            id=str(data["id"]),
            request_id=data["request_id"],
            kind=PaymentKind(data["kind"]),
            meter_id=int(data["meter_id"]),
            amount=int(data["amount"]),
            bill_period=int(data["bill_period"]),
            currency=str(data["currency"]),
            token=data["token"],
            method=PaymentMethod(data["method"]),
            created_at=float(data["created_at"]),
            txs=[WalletTx.from_dict(tx) for tx in data["txs"]],
        )

    def same_request(self, kind: PaymentKind, meter_id: int, request_id: str | None) -> bool:
        if request_id is not None or self.request_id is not None:
            return self.request_id == request_id
        return self.kind == kind and self.meter_id == meter_id

    def redacted(self) -> dict[str, Any]:
        """The intent without its signed raw transactions (for diagnostics)."""
        view = self.as_dict()
        for tx in view["txs"]:
            for variant in tx["variants"]:
                variant.pop("raw", None)
        return view


# ------------------------------------------------------------------------------------ stores


class PaymentStore(Protocol):
    """Durable storage of one JSON-able dict (Home Assistant's `Store` in the integration)."""

    async def load(self) -> dict[str, Any] | None: ...

    async def save(self, data: dict[str, Any]) -> None: ...


class MemoryPaymentStore:
    """Keeps a deep copy, so what an engine holds is never what was saved."""

    def __init__(self) -> None:
        self.data: dict[str, Any] | None = None
        self.saves = 0

    async def load(self) -> dict[str, Any] | None:
        return copy.deepcopy(self.data)

    async def save(self, data: dict[str, Any]) -> None:
        self.data = json.loads(json.dumps(data))
        self.saves += 1


class JsonFilePaymentStore:
    """One JSON file, replaced atomically (written and fsynced beside it, then renamed).

    Its file I/O blocks: for tools and tests, not for an event loop others share.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        data: dict[str, Any] = json.loads(self.path.read_text())
        return data

    async def save(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)


# ------------------------------------------------------------------------------------ helpers


def permit_digest(
    domain_separator: bytes, owner: str, spender: str, value: int, nonce: int, deadline: int
) -> bytes:
    """The EIP-712 digest of an ERC-2612 `Permit`, in the token's own domain."""
    struct_hash = keccak(
        encode(
            ["bytes32", "address", "address", "uint256", "uint256", "uint256"],
            [PERMIT_TYPEHASH, owner, spender, value, nonce, deadline],
        )
    )
    return keccak(b"\x19\x01" + domain_separator + struct_hash)


# Awaited with the name of each durable step reached; raising from it stops the engine there.
Checkpoint = Callable[[str], Awaitable[None]]


def _payment_revert(err: RevertedError, tx_hash: str | None) -> PaymentRevertedError:
    return PaymentRevertedError(err.name, err.args_by_name, tx_hash)


# ------------------------------------------------------------------------------------ engine


class PaymentEngine:
    """Pays bills and tops up credit from one wallet, each payment at most once.

    One engine per wallet; payments are serialised (one intent at a time). Call `resume()` at
    start-up to settle a payment a previous run left behind.

    `checkpoint(stage)` is awaited after each durable step (`decided`, `signed`, `broadcast`,
    `mined`, `recorded`); fault tests use it to stop the engine at any of them.
    """

    def __init__(
        self,
        wallet: Wallet,
        store: PaymentStore,
        *,
        use_permit: bool | None = None,
        on_result: Callable[[PaymentResult], None] | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.wallet = wallet
        self._client: GridLedgerClient = wallet.client
        self.address = wallet.address
        self._store = store
        self._use_permit = use_permit
        self._on_result = on_result
        self._checkpoint = checkpoint
        self._lock = asyncio.Lock()
        self._data: dict[str, Any] | None = None
        self._ledger: AsyncContract = self._client.w3.eth.contract(
            address=to_checksum_address(self._client.address), abi=GRID_LEDGER_ABI
        )

    def __repr__(self) -> str:
        return f"PaymentEngine(address={self.address})"

    # -------------------------------------------------------------------- public API

    async def resume(self) -> PaymentResult | None:
        """Settle the payment a previous run left unfinished; None when there was none.

        A dead intent comes back `DROPPED` and is not re-signed: the caller decides again.
        Raises `PaymentPendingError` while its transaction is still unmined.
        """
        async with self._lock:
            intent = await self._pending()
            if intent is None:
                return None
            return await self._finish(intent)

    async def result(self, request_id: str) -> PaymentResult | None:
        """The recorded result of a finished request (one of the last few), if any."""
        return await self._done(request_id)

    async def pending(self) -> PaymentIntent | None:
        """The recorded unfinished intent, if any."""
        return await self._pending()

    async def pay_bill(
        self, meter_id: int, *, max_amount: int | None = None, request_id: str | None = None
    ) -> PaymentResult:
        """Pay the meter's whole amount due; refuse when it exceeds `max_amount`.

        Raises `NothingDueError`, `AmountAboveLimitError`, `InsufficientBalanceError`,
        `InsufficientGasError`, `PaymentRevertedError`, `PaymentPendingError`,
        `CannotConnectError`.
        """
        return await self._pay(PaymentKind.BILL, meter_id, max_amount, request_id)

    async def top_up(
        self, meter_id: int, amount: int, *, request_id: str | None = None
    ) -> PaymentResult:
        """Add `amount` of credit to the meter. Pass a `request_id` to make retries idempotent:
        a request already paid returns its result instead of paying again."""
        if amount <= 0:
            raise ValueError("a top-up amount must be positive")
        return await self._pay(PaymentKind.TOP_UP, meter_id, amount, request_id)

    async def supports_permit(self) -> bool:
        """Whether the ledger's token takes ERC-2612 permits (False for the native coin)."""
        info = await self.wallet.info()
        if info.payment_token is None:
            return False
        if self._use_permit is None:
            self._use_permit = await token_supports_permit(
                self._client, info.payment_token, self.address
            )
        return self._use_permit

    # -------------------------------------------------------------------- the payment loop

    async def _pay(
        self, kind: PaymentKind, meter_id: int, amount: int | None, request_id: str | None
    ) -> PaymentResult:
        async with self._lock:
            if request_id is not None and (done := await self._done(request_id)) is not None:
                return done
            intent = await self._pending()
            if intent is not None:
                result = await self._finish(intent)
                if intent.same_request(kind, meter_id, request_id):
                    if result.status is PaymentStatus.CONFIRMED:
                        return result
                    if result.status is PaymentStatus.REVERTED:
                        raise PaymentRevertedError(result.error or "Unknown", None, result.tx_hash)
            # Nothing of ours is in flight any more: read the chain and sign anew. A fresh
            # intent dies only when another transaction of this wallet took its nonce.
            for _ in range(MAX_ATTEMPTS):
                async with self.wallet.nonce_lock:  # the wallet's readings share its nonces
                    intent = await self._decide(kind, meter_id, amount, request_id)
                    await self._sign(intent)
                    save = self._saver(intent)
                    await self.wallet.first_broadcast(intent.txs, save, self._reached)
                result = await self._finish(intent)
                if result.status is PaymentStatus.REVERTED:
                    raise PaymentRevertedError(result.error or "Unknown", None, result.tx_hash)
                if result.status is PaymentStatus.CONFIRMED:
                    return result
            raise PaymentPendingError(result.tx_hash or "")

    async def _decide(
        self, kind: PaymentKind, meter_id: int, amount: int | None, request_id: str | None
    ) -> PaymentIntent:
        """Read the bill and the wallet, check the payment can go through; record the decision."""
        info = await self.wallet.info()
        period = 0
        if kind is PaymentKind.BILL:
            due = await self._amount_due(meter_id)
            if due == 0:
                raise NothingDueError(meter_id)
            if amount is not None and due > amount:
                raise AmountAboveLimitError(meter_id, due, amount)
            amount = due
            bill = await self._client.guard(self._ledger.functions.billOf(meter_id).call)
            period = int(bill[0])
        if amount is None:
            raise ValueError("a top-up needs an amount")
        method = PaymentMethod.NATIVE
        if info.payment_token is not None:
            balance = await self._token_balance(info.payment_token)
            if balance < amount:
                raise InsufficientTokenBalanceError(
                    self.address, info.token_symbol, balance, amount
                )
            method = PaymentMethod.PERMIT if await self.supports_permit() else PaymentMethod.APPROVE
        intent = PaymentIntent(
            id=uuid.uuid4().hex,
            request_id=request_id,
            kind=kind,
            meter_id=meter_id,
            amount=amount,
            bill_period=period,
            currency=info.token_symbol,
            token=info.payment_token,
            method=method,
            created_at=time.time(),
        )
        intent.txs = await self._build(intent, info)
        await self._save_pending(intent)
        await self._reached("decided")
        return intent

    async def _build(self, intent: PaymentIntent, info: LedgerInfo) -> list[WalletTx]:
        """The unsigned transactions of a payment, gas-checked, at the wallet's next nonces."""
        meter_id, amount = intent.meter_id, intent.amount
        bill = intent.kind is PaymentKind.BILL
        ledger = self._ledger.address
        calls: list[tuple[str, ContractCall]] = []
        value = 0
        name = "payBill" if bill else "topUp"
        args: list[Any] = [meter_id] if bill else [meter_id, amount]
        if intent.method is PaymentMethod.NATIVE:
            value = amount
        elif intent.method is PaymentMethod.PERMIT:
            token = str(info.payment_token)
            deadline = await self._client.latest_block_timestamp() + PERMIT_LIFETIME
            v, r, s = await self._sign_permit(token, ledger, amount, deadline)
            name = "payBillWithPermit" if bill else "topUpWithPermit"
            args = [meter_id, amount, deadline, v, r, s]
        else:
            token = str(info.payment_token)
            erc20 = self._token(token)
            allowance = int(
                await self._client.guard(erc20.functions.allowance(self.address, ledger).call)
            )
            if allowance < amount:
                approve = erc20.encode_abi("approve", [ledger, amount])
                calls.append(("approve", ContractCall(token, approve)))
        calls.append(("pay", ContractCall(ledger, self._ledger.encode_abi(name, args), value)))
        balance = await self.wallet.coin_balance()
        if balance < value:
            raise InsufficientBalanceError(self.address, info.token_symbol, balance, value)
        gas: list[int] = []
        for role, call in calls:
            if role == "pay" and len(calls) > 1:
                gas.append(UNESTIMATED_PAY_GAS)  # cannot be estimated before the approve
            else:
                gas.append(await self._estimate(role, call))
        max_fee, priority = await self.wallet.fees()
        if balance - value < sum(gas) * max_fee:
            raise InsufficientGasError(self.address, balance - value, sum(gas) * max_fee)
        nonce, block = await self.wallet.next_nonce()
        return [
            WalletTx(
                role,
                call.to,
                call.data,
                call.value,
                limit,
                nonce + offset,
                max_fee,
                priority,
                after_block=block,
            )
            for offset, ((role, call), limit) in enumerate(zip(calls, gas, strict=True))
        ]

    async def _estimate(self, role: str, call: ContractCall) -> int:
        try:
            gas = await self.wallet.estimate(call)
        except RevertedError as err:
            raise _payment_revert(err, None) from err
        except InsufficientFundsError as err:
            balance = await self.wallet.coin_balance()
            raise InsufficientGasError(self.address, balance - call.value, None) from err
        return max(gas, PAY_GAS_FLOOR if role == "pay" else 0)

    async def _sign(self, intent: PaymentIntent) -> None:
        """Sign every transaction of the intent and record them before any is broadcast."""
        for tx in intent.txs:
            await self.wallet.sign(tx)
        await self._save_pending(intent)
        await self._reached("signed")

    async def _finish(self, intent: PaymentIntent) -> PaymentResult:
        """Drive a recorded intent to an end: mined (either way) or provably dead."""
        try:
            settled = await self.wallet.settle(intent.txs, self._saver(intent), self._reached)
        except TransactionRejectedError as rejected:
            # The node refused every variant and holds none: none can ever be mined.
            await self._complete(intent, PaymentStatus.DROPPED, Settled(None, 0), str(rejected))
            if isinstance(rejected.error, InsufficientFundsError):
                balance = await self.wallet.coin_balance()
                raise InsufficientGasError(self.address, balance, None) from rejected.error
            raise rejected.error from rejected
        except TransactionTimeoutError as err:
            raise PaymentPendingError(err.tx_hash) from err
        if (receipt := settled.receipt) is None:
            return await self._complete(intent, PaymentStatus.DROPPED, settled, None)
        if receipt.succeeded:
            return await self._complete(intent, PaymentStatus.CONFIRMED, settled, None)
        error = await self.wallet.revert_reason(intent.txs[-1], receipt.block_number)
        return await self._complete(intent, PaymentStatus.REVERTED, settled, error.name)

    async def _complete(
        self, intent: PaymentIntent, status: PaymentStatus, settled: Settled, error: str | None
    ) -> PaymentResult:
        tx_hash: str | None = None
        if settled.receipt is not None:
            tx_hash = settled.receipt.tx_hash
        elif intent.txs and (newest := intent.txs[-1].newest) is not None:
            tx_hash = newest.hash
        result = PaymentResult(
            meter_id=intent.meter_id,
            kind=intent.kind,
            status=status,
            amount=intent.amount,
            currency=intent.currency,
            token=intent.token,
            method=intent.method,
            tx_hash=tx_hash,
            block_number=settled.receipt.block_number if settled.receipt is not None else None,
            gas_used=settled.gas_used,
            bill_period=intent.bill_period,
            request_id=intent.request_id,
            error=error,
        )
        data = await self._load()
        data["pending"] = None
        if result.request_id is not None and status is not PaymentStatus.DROPPED:
            data["done"] = [*data["done"], result.as_dict()][-DONE_KEPT:]
        await self._store.save(data)
        await self._reached("recorded")
        if self._on_result is not None:
            self._on_result(result)
        return result

    # -------------------------------------------------------------------- chain reads

    async def _amount_due(self, meter_id: int) -> int:
        return int(await self._client.guard(self._ledger.functions.amountDue(meter_id).call))

    def _token(self, token: str) -> AsyncContract:
        return self._client.w3.eth.contract(address=to_checksum_address(token), abi=ERC20_ABI)

    async def _token_balance(self, token: str) -> int:
        erc20 = self._token(token)
        return int(await self._client.guard(erc20.functions.balanceOf(self.address).call))

    async def _sign_permit(
        self, token: str, spender: str, amount: int, deadline: int
    ) -> tuple[int, bytes, bytes]:
        functions = self._token(token).functions
        separator = bytes(await self._client.guard(functions.DOMAIN_SEPARATOR().call))
        nonce = int(await self._client.guard(functions.nonces(self.address).call))
        digest = permit_digest(separator, self.address, spender, amount, nonce, deadline)
        return self.wallet.sign_digest(digest)

    # -------------------------------------------------------------------- persistence

    async def _load(self) -> dict[str, Any]:
        if self._data is None:
            data = await self._store.load() or {}
            if data.get("version", STORE_VERSION) != STORE_VERSION:
                raise GridLedgerError(f"unknown payment store version {data['version']}")
            self._data = {"version": STORE_VERSION, "pending": None, "done": [], **data}
        return self._data

    async def _pending(self) -> PaymentIntent | None:
        pending = (await self._load())["pending"]
        return None if pending is None else PaymentIntent.from_dict(pending)

    async def _done(self, request_id: str) -> PaymentResult | None:
        for item in (await self._load())["done"]:
            if item["request_id"] == request_id:
                return PaymentResult.from_dict(item)
        return None

    async def _save_pending(self, intent: PaymentIntent) -> None:
        data = await self._load()
        data["pending"] = intent.as_dict()
        await self._store.save(data)

    def _saver(self, intent: PaymentIntent) -> Callable[[], Awaitable[None]]:
        async def save() -> None:
            await self._save_pending(intent)

        return save

    async def _reached(self, stage: str) -> None:
        if self._checkpoint is not None:
            await self._checkpoint(stage)


async def token_supports_permit(client: GridLedgerClient, token: str, owner: str) -> bool:
    """ERC-2612 detection: the token answers `DOMAIN_SEPARATOR()` and `nonces(owner)`."""
    functions = client.w3.eth.contract(address=to_checksum_address(token), abi=ERC20_ABI).functions
    try:
        separator = await client.guard(functions.DOMAIN_SEPARATOR().call)
        await client.guard(functions.nonces(to_checksum_address(owner)).call)
    except CannotConnectError:
        raise
    except GridLedgerError:
        return False
    return len(bytes(separator)) == 32
