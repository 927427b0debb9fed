"""Bill payments and top-ups that are never sent twice.

A payment is an *intent* persisted in a `PaymentStore` before anything reaches the node: the
meter, the amount decided, the account nonce and the exact signed raw transaction(s) with their
hashes. Whatever happens after that (the process dies, the node drops the connection, the receipt
never comes), the next attempt first settles the recorded intent from the chain: a receipt by
hash, the account's mined nonce, the meter's amount due. Until the recorded nonce is consumed,
only the same signed transactions (or fee bumps at the same nonce) are broadcast, so at most one
of them can ever be mined. A new transaction is signed only when the recorded one is provably dead
(its nonce taken by another transaction, none of its hashes mined) and the bill is still unpaid.

Token payments use one `payBillWithPermit`/`topUpWithPermit` transaction with an ERC-2612 permit
when the token has one, otherwise `approve` then the payment, both signed and recorded together
at consecutive nonces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import copy
from dataclasses import asdict, dataclass
from enum import StrEnum
import json
import logging
import os
from pathlib import Path
import time
from typing import Any, Protocol, cast
import uuid

from eth_abi.abi import decode, encode
from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3.contract import AsyncContract
from web3.exceptions import TransactionNotFound

from custom_components.grid_ledger.policy import (
    PaymentAction,
    PaymentDecision,
    decide_payment,
    gas_low,
)

from .abi import ERC20_ABI, ERC20_ERRORS, GRID_LEDGER_ABI
from .client import GridLedgerClient, decode_revert
from .errors import (
    CannotConnectError,
    GridLedgerError,
    InsufficientFundsError,
    RevertedError,
    TransactionTimeoutError,
)
from .models import LedgerInfo
from .sender import ALREADY_SENT, GAS_MARGIN_PERCENT, TransactionSender
from .signing import parse_private_key

_LOGGER = logging.getLogger(__name__)

STORE_VERSION = 1
DONE_KEPT = 32  # completed request ids remembered for idempotent retries
MAX_ATTEMPTS = 3  # fresh intents per call whose nonce another transaction took
PAY_GAS_FLOOR = 200_000  # room for a payment that also closes a period and issues its bill
UNESTIMATED_PAY_GAS = 300_000  # a payment after an `approve` that is not mined yet
PERMIT_LIFETIME = 86_400
PERMIT_TYPEHASH = keccak(
    b"Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
)
REPLACED = ("replacement transaction underpriced", "replacement underpriced")

# ------------------------------------------------------------------------------------ errors


class NothingDueError(GridLedgerError):
    """The meter owes nothing: there is no bill to pay."""

    def __init__(self, meter_id: int) -> None:
        super().__init__(f"meter {meter_id} owes nothing")
        self.meter_id = meter_id


class AmountAboveLimitError(GridLedgerError):
    """The amount due is above the amount the payment was approved for."""

    def __init__(self, meter_id: int, amount_due: int, limit: int) -> None:
        super().__init__(f"meter {meter_id} owes {amount_due}, above the approved {limit}")
        self.meter_id = meter_id
        self.amount_due = amount_due
        self.limit = limit


class InsufficientGasError(InsufficientFundsError):
    """The wallet's coin cannot pay the gas of the payment."""

    def __init__(self, address: str, balance: int, needed: int | None) -> None:
        super().__init__(f"{address} holds {balance} wei, too little for the gas ({needed})")
        self.balance = balance
        self.needed = needed


class InsufficientBalanceError(GridLedgerError):
    """The wallet holds less of the payment currency than the payment."""

    def __init__(self, address: str, currency: str, balance: int, needed: int) -> None:
        super().__init__(f"{address} holds {balance} {currency} base units, needs {needed}")
        self.currency = currency
        self.balance = balance
        self.needed = needed


class InsufficientTokenBalanceError(InsufficientBalanceError):
    """The wallet holds less of the ledger's ERC-20 than the payment."""


class PaymentRevertedError(RevertedError):
    """The payment was refused by the contract (or the token); `name` is the decoded error."""

    def __init__(self, name: str, args: dict[str, Any] | None = None, tx_hash: str | None = None):
        super().__init__(name, args)
        self.tx_hash = tx_hash


class PaymentPendingError(TransactionTimeoutError):
    """The payment is broadcast and recorded but not mined yet; retrying is safe."""


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


@dataclass(frozen=True, slots=True)
class AutoPayOutcome:
    """The policy's decision and, when it said pay, the payment."""

    decision: PaymentDecision
    result: PaymentResult | None


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


def decode_payment_revert(data: str | bytes | None) -> RevertedError:
    """Name a revert by the ledger's errors, then by the standard ERC-20 errors."""
    err = decode_revert(data)
    if err.name != "Unknown":
        return err
    raw = bytes.fromhex(str(err.args_by_name["data"]).removeprefix("0x"))
    if (item := ERC20_ERRORS.get(raw[:4])) is None:
        return err
    types = [arg["type"] for arg in item["inputs"]]
    names = [arg["name"] for arg in item["inputs"]]
    return RevertedError(item["name"], dict(zip(names, decode(types, raw[4:]), strict=True)))


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


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


# Awaited with the name of each durable step reached; raising from it stops the engine there.
Checkpoint = Callable[[str], Awaitable[None]]


class _RejectedError(Exception):
    """The node refused a transaction it does not hold."""

    def __init__(self, error: GridLedgerError) -> None:
        super().__init__(str(error))
        self.error = error


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
        client: GridLedgerClient,
        sender: TransactionSender,
        private_key: str,
        store: PaymentStore,
        *,
        use_permit: bool | None = None,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.1,
        bump_after: float = 30.0,
        bump_percent: int = 25,
        rebroadcast_after: float = 2.0,
        on_result: Callable[[PaymentResult], None] | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self._client = client
        self._sender = sender
        self._key = parse_private_key(private_key)
        self.address: ChecksumAddress = self._key.public_key.to_checksum_address()
        if self.address != sender.address:
            raise ValueError("the payment key is not the sender's wallet")
        self._store = store
        self._use_permit = use_permit
        self._receipt_timeout = receipt_timeout
        self._poll_interval = poll_interval
        self._bump_after = bump_after
        self._bump_percent = bump_percent
        self._rebroadcast_after = rebroadcast_after
        self._on_result = on_result
        self._checkpoint = checkpoint
        self._lock = asyncio.Lock()
        self._data: dict[str, Any] | None = None
        w3 = client.w3
        self._ledger: AsyncContract = w3.eth.contract(
            address=to_checksum_address(client.address), abi=GRID_LEDGER_ABI
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

    async def pending(self) -> dict[str, Any] | None:
        """The recorded unfinished intent (for diagnostics), without its raw transactions."""
        intent = await self._pending()
        if intent is None:
            return None
        view = copy.deepcopy(intent)
        for tx in view["txs"]:
            for variant in tx["variants"]:
                variant.pop("raw", None)
        return view

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

    async def auto_pay(
        self, meter_id: int, *, cap_per_period: int, paid_this_period: int, enabled: bool
    ) -> AutoPayOutcome:
        """Pay the amount due when the spending policy allows it; otherwise only decide."""
        due = await self._amount_due(meter_id)
        decision = decide_payment(
            amount_due=due,
            cap_per_period=cap_per_period,
            paid_this_period=paid_this_period,
            auto_pay=enabled,
        )
        if decision.action is not PaymentAction.PAY:
            return AutoPayOutcome(decision, None)
        result = await self.pay_bill(meter_id, max_amount=decision.amount)
        return AutoPayOutcome(decision, result)

    async def supports_permit(self) -> bool:
        """Whether the ledger's token takes ERC-2612 permits (False for the native coin)."""
        info = await self._info()
        if info.payment_token is None:
            return False
        if self._use_permit is None:
            self._use_permit = await token_supports_permit(
                self._client, info.payment_token, self.address
            )
        return self._use_permit

    async def gas_low(self, gas_per_transaction: int, transactions: int) -> bool:
        """Whether the wallet's coin cannot pay the next `transactions` at today's fees."""
        max_fee, _ = await self._sender.fees()
        balance = await self._client.coin_balance(self.address)
        return gas_low(
            balance=balance,
            gas_price=max_fee,
            gas_per_transaction=gas_per_transaction,
            transactions=transactions,
        )

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
                if self._same_request(intent, kind, meter_id, request_id):
                    if result.status is PaymentStatus.CONFIRMED:
                        return result
                    if result.status is PaymentStatus.REVERTED:
                        raise PaymentRevertedError(result.error or "Unknown", None, result.tx_hash)
            # Nothing of ours is in flight any more: read the chain and sign anew. A fresh
            # intent dies only when another transaction of this wallet took its nonce.
            for _ in range(MAX_ATTEMPTS):
                async with self._sender.nonce_lock:  # the wallet's readings share its nonces
                    intent = await self._decide(kind, meter_id, amount, request_id)
                    await self._sign(intent)
                    await self._first_broadcast(intent)
                result = await self._finish(intent)
                if result.status is PaymentStatus.REVERTED:
                    raise PaymentRevertedError(result.error or "Unknown", None, result.tx_hash)
                if result.status is PaymentStatus.CONFIRMED:
                    return result
            raise PaymentPendingError(result.tx_hash or "")

    async def _first_broadcast(self, intent: dict[str, Any]) -> None:
        """Hand the signed transactions to the node before the nonce lock is released; a
        failure here is met again, and settled, by `_finish`."""
        with contextlib.suppress(CannotConnectError, _RejectedError):
            await self._broadcast(intent)

    @staticmethod
    def _same_request(
        intent: dict[str, Any], kind: PaymentKind, meter_id: int, request_id: str | None
    ) -> bool:
        if request_id is not None or intent["request_id"] is not None:
            return bool(intent["request_id"] == request_id)
        return bool(intent["kind"] == kind and intent["meter_id"] == meter_id)

    async def _decide(
        self, kind: PaymentKind, meter_id: int, amount: int | None, request_id: str | None
    ) -> dict[str, Any]:
        """Read the bill and the wallet, check the payment can go through; record the decision."""
        info = await self._info()
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
        intent: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "request_id": request_id,
            "kind": str(kind),
            "meter_id": meter_id,
            "amount": amount,
            "bill_period": period,
            "currency": info.token_symbol,
            "token": info.payment_token,
            "method": str(method),
            "created_at": time.time(),
            "txs": [],
        }
        intent["txs"] = await self._build(intent, info)
        await self._save_pending(intent)
        await self._reached("decided")
        return intent

    async def _build(self, intent: dict[str, Any], info: LedgerInfo) -> list[dict[str, Any]]:
        """The unsigned transactions of a payment, gas-checked, at the wallet's next nonces."""
        meter_id, amount = int(intent["meter_id"]), int(intent["amount"])
        bill = intent["kind"] == PaymentKind.BILL
        ledger = self._ledger.address
        txs: list[dict[str, Any]] = []
        value = 0
        name = "payBill" if bill else "topUp"
        args: list[Any] = [meter_id] if bill else [meter_id, amount]
        if intent["method"] == PaymentMethod.NATIVE:
            value = amount
        elif intent["method"] == PaymentMethod.PERMIT:
            token = cast(str, info.payment_token)
            deadline = await self._block_timestamp() + PERMIT_LIFETIME
            v, r, s = await self._sign_permit(token, ledger, amount, deadline)
            name = "payBillWithPermit" if bill else "topUpWithPermit"
            args = [meter_id, amount, deadline, v, r, s]
        else:
            token = cast(str, info.payment_token)
            erc20 = self._token(token)
            allowance = int(
                await self._client.guard(erc20.functions.allowance(self.address, ledger).call)
            )
            if allowance < amount:
                txs.append(
                    self._tx("approve", token, erc20.encode_abi("approve", [ledger, amount]), 0)
                )
        data = self._ledger.encode_abi(name, args)
        txs.append(self._tx("pay", ledger, data, value))
        balance = await self._client.coin_balance(self.address)
        if balance < value:
            raise InsufficientBalanceError(self.address, info.token_symbol, balance, value)
        for tx in txs:
            if tx["role"] == "pay" and len(txs) > 1:
                tx["gas"] = UNESTIMATED_PAY_GAS  # cannot be estimated before the approve
            else:
                tx["gas"] = await self._estimate(tx)
        max_fee, priority = await self._sender.fees()
        gas = sum(int(tx["gas"]) for tx in txs)
        if gas_low(
            balance=balance - value, gas_price=max_fee, gas_per_transaction=gas, transactions=1
        ):
            raise InsufficientGasError(self.address, balance - value, gas * max_fee)
        nonce = await self._nonce("pending")
        for offset, tx in enumerate(txs):
            tx.update(nonce=nonce + offset, max_fee=max_fee, priority=priority)
        return txs

    @staticmethod
    def _tx(role: str, to: str, data: str, value: int) -> dict[str, Any]:
        return {"role": role, "to": to, "data": data, "value": value, "variants": []}

    async def _estimate(self, tx: dict[str, Any]) -> int:
        params: dict[str, Any] = {
            "from": self.address,
            "to": tx["to"],
            "data": tx["data"],
            "value": tx["value"],
        }
        try:
            gas = int(
                await self._client.guard(
                    lambda: self._client.w3.eth.estimate_gas(cast(Any, params))
                )
            )
        except RevertedError as err:
            raise self._reverted(err, None) from err
        except InsufficientFundsError as err:
            balance = await self._client.coin_balance(self.address)
            raise InsufficientGasError(self.address, balance - int(tx["value"]), None) from err
        floor = PAY_GAS_FLOOR if tx["role"] == "pay" else 0
        return max(gas * GAS_MARGIN_PERCENT // 100, floor)

    async def _sign(self, intent: dict[str, Any]) -> None:
        """Sign every transaction of the intent and record them before any is broadcast."""
        info = await self._info()
        for tx in intent["txs"]:
            self._add_variant(tx, info.chain_id, int(tx["max_fee"]), int(tx["priority"]))
        await self._save_pending(intent)
        await self._reached("signed")

    def _add_variant(self, tx: dict[str, Any], chain_id: int, max_fee: int, priority: int) -> None:
        unsigned: dict[str, Any] = {
            "type": 2,
            "chainId": chain_id,
            "nonce": int(tx["nonce"]),
            "to": to_checksum_address(tx["to"]),
            "data": tx["data"],
            "value": int(tx["value"]),
            "gas": int(tx["gas"]),
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority,
        }
        signed = Account.sign_transaction(unsigned, self._key.to_bytes())
        tx["variants"].append(
            {
                "hash": _hex(bytes(signed.hash)),
                "raw": _hex(bytes(signed.raw_transaction)),
                "max_fee": max_fee,
                "priority": priority,
            }
        )

    async def _finish(self, intent: dict[str, Any]) -> PaymentResult:
        """Drive a recorded intent to an end: mined (either way) or provably dead."""
        if not any(tx["variants"] for tx in intent["txs"]):
            # Decided, never signed: nothing can have reached the node.
            return await self._complete(intent, PaymentStatus.DROPPED, None, None)
        deadline = asyncio.get_running_loop().time() + self._receipt_timeout
        next_bump = asyncio.get_running_loop().time() + self._bump_after
        next_broadcast = 0.0
        last_error: CannotConnectError | None = None
        looked_dead = False
        while True:
            try:
                state, receipt = await self._check(intent)
                if state == "mined":
                    return await self._mined(intent, cast(dict[str, Any], receipt))
                if state == "dead":
                    if looked_dead:
                        return await self._complete(intent, PaymentStatus.DROPPED, None, None)
                    # A node may count the nonce as used a moment before it serves the receipt
                    # (anvil does, now and then): dead only when the next look agrees.
                    looked_dead = True
                    await asyncio.sleep(self._poll_interval)
                    continue
                looked_dead = False
                now = asyncio.get_running_loop().time()
                if now >= next_bump:
                    await self._bump(intent)
                    next_bump = now + self._bump_after
                    next_broadcast = now + self._rebroadcast_after
                elif now >= next_broadcast:
                    await self._broadcast(intent)
                    next_broadcast = now + self._rebroadcast_after
                last_error = None
            except CannotConnectError as err:
                last_error = err
            except _RejectedError as rejected:
                # The node refused every variant and holds none: none can ever be mined.
                await self._complete(intent, PaymentStatus.DROPPED, None, str(rejected.error))
                if isinstance(rejected.error, InsufficientFundsError):
                    raise InsufficientGasError(
                        self.address, await self._client.coin_balance(self.address), None
                    ) from rejected.error
                raise rejected.error from rejected
            if asyncio.get_running_loop().time() >= deadline:
                if last_error is not None:
                    raise last_error
                raise PaymentPendingError(intent["txs"][-1]["variants"][-1]["hash"])
            await asyncio.sleep(self._poll_interval)

    async def _check(self, intent: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """`mined` (with the payment's receipt), `dead` or `pending`, from the chain alone."""
        pay = intent["txs"][-1]
        if (receipt := await self._find_receipt(pay)) is not None:
            return "mined", receipt
        if await self._nonce("latest") > int(pay["nonce"]):
            # The nonce is used. Ask once more: ours may have been mined since the first look.
            if (receipt := await self._find_receipt(pay)) is not None:
                return "mined", receipt
            return "dead", None
        return "pending", None

    async def _find_receipt(self, tx: dict[str, Any]) -> dict[str, Any] | None:
        for variant in reversed(tx["variants"]):
            receipt = await self._receipt(str(variant["hash"]))
            if receipt is not None:
                return receipt
        return None

    async def _broadcast(self, intent: dict[str, Any]) -> None:
        """Send the newest signed variant of each unmined transaction, in nonce order."""
        mined = await self._nonce("latest")
        for tx in intent["txs"]:
            if int(tx["nonce"]) < mined or not tx["variants"]:
                continue
            await self._send_raw(intent, tx["variants"][-1])
            await self._reached("broadcast")

    async def _send_raw(self, intent: dict[str, Any], variant: dict[str, Any]) -> None:
        raw = HexBytes(variant["raw"])
        w3 = self._client.w3
        try:
            await self._client.guard(lambda: w3.eth.send_raw_transaction(raw))
        except CannotConnectError:
            raise
        except GridLedgerError as err:
            text = str(err).lower()
            if any(known in text for known in (*ALREADY_SENT, *REPLACED)):
                return  # the node has it, or a newer variant of it, or it is mined
            if await self._held(intent):
                return  # the node holds one of ours: the receipt loop decides
            raise _RejectedError(err) from err
        if not variant.get("accepted"):
            variant["accepted"] = True
            await self._save_pending(intent)

    async def _held(self, intent: dict[str, Any]) -> bool:
        """Whether any signed variant was ever accepted, or is held (pooled or mined) now."""
        for tx in intent["txs"]:
            for variant in tx["variants"]:
                if variant.get("accepted") or await self._known(str(variant["hash"])):
                    return True
        return False

    async def _bump(self, intent: dict[str, Any]) -> None:
        """Re-sign each unmined transaction at its nonce with higher fees, record, broadcast."""
        info = await self._info()
        mined = await self._nonce("latest")
        max_fee, priority = await self._sender.fees()
        changed = False
        for tx in intent["txs"]:
            if int(tx["nonce"]) < mined:
                continue
            last = tx["variants"][-1]
            factor = 100 + self._bump_percent
            new_priority = max(priority, int(last["priority"]) * factor // 100 + 1)
            new_max = max(max_fee, int(last["max_fee"]) * factor // 100 + 1, new_priority)
            self._add_variant(tx, info.chain_id, new_max, new_priority)
            changed = True
        if changed:
            await self._save_pending(intent)
            await self._reached("signed")
            await self._broadcast(intent)

    async def _mined(self, intent: dict[str, Any], receipt: dict[str, Any]) -> PaymentResult:
        await self._reached("mined")
        tx_hash = _hex(bytes(receipt["transactionHash"]))
        gas_used = int(receipt["gasUsed"])
        for tx in intent["txs"][:-1]:  # an approve before the payment
            if (earlier := await self._find_receipt(tx)) is not None:
                gas_used += int(earlier["gasUsed"])
        if int(receipt["status"]) == 1:
            return await self._complete(intent, PaymentStatus.CONFIRMED, receipt, None, gas_used)
        error = await self._revert_reason(intent, int(receipt["blockNumber"]))
        return await self._complete(
            intent, PaymentStatus.REVERTED, receipt, error.name, gas_used, tx_hash
        )

    async def _complete(
        self,
        intent: dict[str, Any],
        status: PaymentStatus,
        receipt: dict[str, Any] | None,
        error: str | None,
        gas_used: int = 0,
        tx_hash: str | None = None,
    ) -> PaymentResult:
        if receipt is not None:
            tx_hash = _hex(bytes(receipt["transactionHash"]))
        elif intent["txs"] and intent["txs"][-1]["variants"]:
            tx_hash = str(intent["txs"][-1]["variants"][-1]["hash"])
        result = PaymentResult(
            meter_id=int(intent["meter_id"]),
            kind=PaymentKind(intent["kind"]),
            status=status,
            amount=int(intent["amount"]),
            currency=str(intent["currency"]),
            token=intent["token"],
            method=PaymentMethod(intent["method"]),
            tx_hash=tx_hash,
            block_number=int(receipt["blockNumber"]) if receipt is not None else None,
            gas_used=gas_used,
            bill_period=int(intent["bill_period"]),
            request_id=intent["request_id"],
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

    async def _revert_reason(self, intent: dict[str, Any], block: int) -> RevertedError:
        """Replay the failed payment on the state its block left, to name the revert."""
        pay = intent["txs"][-1]
        params: dict[str, Any] = {
            "from": self.address,
            "to": pay["to"],
            "data": pay["data"],
            "value": int(pay["value"]),
        }
        try:
            await self._client.guard(
                lambda: self._client.w3.eth.call(cast(Any, params), block_identifier=block)
            )
        except RevertedError as err:
            return self._reverted(err, None)
        except CannotConnectError:
            raise
        except GridLedgerError:
            pass
        return RevertedError("Unknown")

    @staticmethod
    def _reverted(err: RevertedError, tx_hash: str | None) -> PaymentRevertedError:
        if err.name == "Unknown" and "data" in err.args_by_name:
            err = decode_payment_revert(str(err.args_by_name["data"]))
        return PaymentRevertedError(err.name, err.args_by_name, tx_hash)

    # -------------------------------------------------------------------- chain reads

    async def _info(self) -> LedgerInfo:
        return self._client.info or await self._client.connect()

    async def _amount_due(self, meter_id: int) -> int:
        return int(await self._client.guard(self._ledger.functions.amountDue(meter_id).call))

    def _token(self, token: str) -> AsyncContract:
        return self._client.w3.eth.contract(address=to_checksum_address(token), abi=ERC20_ABI)

    async def _token_balance(self, token: str) -> int:
        erc20 = self._token(token)
        return int(await self._client.guard(erc20.functions.balanceOf(self.address).call))

    async def _nonce(self, block: str) -> int:
        w3 = self._client.w3
        return int(
            await self._client.guard(
                lambda: w3.eth.get_transaction_count(self.address, cast(Any, block))
            )
        )

    async def _block_timestamp(self) -> int:
        block = await self._client.guard(lambda: self._client.w3.eth.get_block("latest"))
        return int(block["timestamp"])

    async def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        w3 = self._client.w3

        async def fetch() -> dict[str, Any] | None:
            try:
                return dict(await w3.eth.get_transaction_receipt(HexBytes(tx_hash)))
            except TransactionNotFound:
                return None

        return await self._client.guard(fetch)

    async def _known(self, tx_hash: str) -> bool:
        """Whether the node holds the transaction (in its pool or mined)."""
        w3 = self._client.w3

        async def fetch() -> bool:
            try:
                await w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False
            return True

        return await self._client.guard(fetch)

    async def _sign_permit(
        self, token: str, spender: str, amount: int, deadline: int
    ) -> tuple[int, bytes, bytes]:
        functions = self._token(token).functions
        separator = bytes(await self._client.guard(functions.DOMAIN_SEPARATOR().call))
        nonce = int(await self._client.guard(functions.nonces(self.address).call))
        digest = permit_digest(separator, self.address, spender, amount, nonce, deadline)
        signature = self._key.sign_msg_hash(digest)
        return (
            signature.v + 27,
            signature.r.to_bytes(32, "big"),
            signature.s.to_bytes(32, "big"),
        )

    # -------------------------------------------------------------------- persistence

    async def _load(self) -> dict[str, Any]:
        if self._data is None:
            data = await self._store.load() or {}
            if data.get("version", STORE_VERSION) != STORE_VERSION:
                raise GridLedgerError(f"unknown payment store version {data['version']}")
            self._data = {"version": STORE_VERSION, "pending": None, "done": [], **data}
        return self._data

    async def _pending(self) -> dict[str, Any] | None:
        pending: dict[str, Any] | None = (await self._load())["pending"]
        return pending

    async def _done(self, request_id: str) -> PaymentResult | None:
        for item in (await self._load())["done"]:
            if item["request_id"] == request_id:
                return PaymentResult.from_dict(item)
        return None

    async def _save_pending(self, intent: dict[str, Any]) -> None:
        data = await self._load()
        data["pending"] = intent
        await self._store.save(data)

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
