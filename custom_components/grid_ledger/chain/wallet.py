"""One wallet: its key, nonce lock, fee policy, signatures, and every transaction it sends.

Readings and payments are intents the wallet carries out. Each transaction is a `WalletTx`
record that holds the exact signed bytes; the intent saves the record durably before the wallet
hands it to the node. Until the record's nonce is consumed, only the same bytes (or fee bumps at
the same nonce) are broadcast, so at most one of them can ever be mined. A caller signs a new
transaction only when `settle` found the recorded one provably dead: a block the node serves
holds another transaction of the wallet at its nonce.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass
from functools import partial
import json
import logging
from typing import Any, cast

from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound
from web3.types import BlockData

from .client import GridLedgerClient
from .errors import (
    CannotConnectError,
    GridLedgerError,
    InsufficientFundsError,
    RevertedError,
    TransactionRejectedError,
    TransactionTimeoutError,
)
from .models import ContractCall, LedgerInfo, Receipt, SignedTx, WalletTx
from .signing import parse_private_key

_LOGGER = logging.getLogger(__name__)

DEFAULT_PRIORITY_FEE = 1_000_000_000  # 1 gwei when the node has no fee oracle
GAS_MARGIN_PERCENT = 120
ALREADY_SENT = ("already known", "nonce too low", "already imported")
REPLACED = ("replacement transaction underpriced", "replacement underpriced")
LEGACY_SCAN_BLOCKS = 1_024  # searched for the taker of a nonce recorded without `after_block`

# Awaited after the caller's record changed: it must be durable before the wallet goes on.
Save = Callable[[], Awaitable[None]]
# Awaited with the name of each durable step reached (`signed`, `broadcast`, `mined`).
Step = Callable[[str], Awaitable[None]]


async def _nothing_to_save() -> None:
    """For transactions whose record lives only in memory (tools, tests)."""


async def _no_step(_stage: str) -> None:
    """Steps are announced only to callers that follow them."""


@dataclass(frozen=True, slots=True)
class Settled:
    """How recorded transactions ended: the last one mined (`receipt`, succeeded or not), or
    provably dead (`receipt` None: a served block holds another transaction at its nonce)."""

    receipt: Receipt | None
    gas_used: int  # of every mined transaction of the intent


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _receipt(raw: Any) -> Receipt:
    return Receipt(
        tx_hash=_hex(bytes(raw["transactionHash"])),
        block_number=int(raw["blockNumber"]),
        gas_used=int(raw["gasUsed"]),
        effective_gas_price=int(raw.get("effectiveGasPrice", 0)),
        succeeded=int(raw["status"]) == 1,
    )


class Wallet:
    """The only holder of a wallet's key: everything this wallet signs goes through it."""

    def __init__(
        self,
        client: GridLedgerClient,
        private_key: str,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.1,
        rebroadcast_after: float = 2.0,
        bump_after: float = 30.0,
        bump_percent: int = 25,
    ) -> None:
        self.client = client
        self._key = parse_private_key(private_key)
        self.address: ChecksumAddress = self._key.public_key.to_checksum_address()
        self._retries = retries
        self._backoff = backoff
        self.receipt_timeout = receipt_timeout
        self._poll_interval = poll_interval
        self._rebroadcast_after = rebroadcast_after
        self._bump_after = bump_after
        self._bump_percent = bump_percent
        self._lock = asyncio.Lock()
        self._in_flight: dict[int, WalletTx] = {}  # sent and not settled yet, by nonce
        self._listeners: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"Wallet(address={self.address})"

    # -------------------------------------------------------------------- pending view

    @property
    def pending_hashes(self) -> list[str]:
        """The newest hash of each transaction sent and not settled yet, in nonce order."""
        return [
            variant.hash
            for _, tx in sorted(self._in_flight.items())
            if (variant := tx.newest) is not None
        ]

    def add_pending_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` when the pending transactions change; returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _track(self, txs: list[WalletTx], *, pending: bool) -> None:
        before = self.pending_hashes
        for tx in txs:
            if pending and tx.variants:
                self._in_flight[tx.nonce] = tx
            elif not pending and self._in_flight.get(tx.nonce) is tx:
                del self._in_flight[tx.nonce]
        if self.pending_hashes != before:
            for listener in list(self._listeners):
                listener()

    @property
    def nonce_lock(self) -> asyncio.Lock:
        """Held from reading the wallet's next nonce until its transactions are recorded and
        first broadcast, so two transactions never get the same nonce."""
        return self._lock

    # -------------------------------------------------------------------- node reads

    async def _ask[T](self, call: Callable[[], Awaitable[T]], retry: bool) -> T:
        """One node call; with `retry`, transient errors are retried with exponential backoff."""
        attempts = self._retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                return await self.client.guard(call)
            except CannotConnectError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def info(self) -> LedgerInfo:
        return self.client.info or await self.client.connect()

    async def fees(self, *, retry: bool = True) -> tuple[int, int]:
        """EIP-1559 (max fee, priority fee): room for the base fee to double twice."""
        w3 = self.client.w3
        block: BlockData = await self._ask(lambda: w3.eth.get_block("latest"), retry)
        base_fee = int(block.get("baseFeePerGas", 0))
        try:
            priority = int(await self._ask(lambda: w3.eth.max_priority_fee, retry))
        except GridLedgerError:
            priority = DEFAULT_PRIORITY_FEE
        return 2 * base_fee + priority, priority

    async def coin_balance(self) -> int:
        return await self.client.coin_balance(self.address)

    async def nonce(self, block: str = "pending", *, retry: bool = False) -> int:
        w3 = self.client.w3
        return int(
            await self._ask(
                lambda: w3.eth.get_transaction_count(self.address, cast(Any, block)), retry
            )
        )

    async def next_nonce(self, *, retry: bool = False) -> tuple[int, int]:
        """The wallet's next nonce, and the newest block read before it: no transaction of the
        wallet holds that nonce in that block or an earlier one (see `WalletTx.after_block`)."""
        w3 = self.client.w3
        block = int(await self._ask(lambda: w3.eth.block_number, retry))
        return await self.nonce("pending", retry=retry), block

    def _params(self, to: str, data: str, value: int) -> dict[str, Any]:
        return {"from": self.address, "to": to, "data": data, "value": value}

    async def estimate(self, call: ContractCall, *, retry: bool = False) -> int:
        """The call's gas with the wallet's safety margin; a revert comes back named."""
        params = self._params(call.to, call.data, call.value)
        w3 = self.client.w3
        gas = int(await self._ask(lambda: w3.eth.estimate_gas(cast(Any, params)), retry))
        return max(gas * GAS_MARGIN_PERCENT // 100, call.min_gas)

    async def receipt(self, tx_hash: str) -> Receipt | None:
        w3 = self.client.w3

        async def fetch() -> Receipt | None:
            try:
                return _receipt(await w3.eth.get_transaction_receipt(HexBytes(tx_hash)))
            except TransactionNotFound:
                return None

        return await self.client.guard(fetch)

    async def _known(self, tx_hash: str) -> bool:
        """Whether the node holds the transaction (in its pool or mined)."""
        w3 = self.client.w3

        async def fetch() -> bool:
            try:
                await w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False
            return True

        return await self.client.guard(fetch)

    async def revert_reason(self, tx: WalletTx, block: int) -> RevertedError:
        """Replay a failed transaction on the state its block left, to name the revert."""
        params = self._params(tx.to, tx.data, tx.value)
        w3 = self.client.w3
        try:
            await self.client.guard(lambda: w3.eth.call(cast(Any, params), block_identifier=block))
        except RevertedError as err:
            return err
        except CannotConnectError:
            raise
        except GridLedgerError:
            pass
        return RevertedError("Unknown")

    # -------------------------------------------------------------------- signing

    async def prepare(self, role: str, call: ContractCall, *, retry: bool = False) -> WalletTx:
        """An unsigned transaction at the wallet's next nonce, its gas estimated and paid for.

        Call under `nonce_lock`, and sign and record it before the lock is released.
        """
        gas = await self.estimate(call, retry=retry)
        max_fee, priority = await self.fees(retry=retry)
        balance = await self.coin_balance()
        if balance < gas * max_fee + call.value:
            raise InsufficientFundsError(
                f"{self.address} holds {balance} wei, needs {gas * max_fee + call.value}"
            )
        nonce, block = await self.next_nonce(retry=retry)
        return WalletTx(
            role, call.to, call.data, call.value, gas, nonce, max_fee, priority, after_block=block
        )

    async def sign(
        self, tx: WalletTx, max_fee: int | None = None, priority: int | None = None
    ) -> None:
        """Sign the transaction (at its own fees unless others are given) as its newest variant."""
        info = await self.info()
        max_fee = tx.max_fee if max_fee is None else max_fee
        priority = tx.priority if priority is None else priority
        unsigned: dict[str, Any] = {
            "type": 2,
            "chainId": info.chain_id,
            "nonce": tx.nonce,
            "to": to_checksum_address(tx.to),
            "data": tx.data,
            "value": tx.value,
            "gas": tx.gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority,
        }
        signed = Account.sign_transaction(unsigned, self._key.to_bytes())
        tx.variants.append(
            SignedTx(
                hash=_hex(bytes(signed.hash)),
                raw=_hex(bytes(signed.raw_transaction)),
                max_fee=max_fee,
                priority=priority,
            )
        )

    def keystore(self, password: str) -> str:
        """The key as an encrypted Web3 Secret Storage (keystore v3) JSON, for a backup; slow by
        design (scrypt), so run it in an executor."""
        return json.dumps(Account.encrypt(self._key.to_bytes(), password))

    def sign_digest(self, digest: bytes) -> tuple[int, bytes, bytes]:
        """(v, r, s) of a 32-byte digest, e.g. an ERC-2612 permit in a token's domain."""
        signature = self._key.sign_msg_hash(digest)
        return signature.v + 27, signature.r.to_bytes(32, "big"), signature.s.to_bytes(32, "big")

    # -------------------------------------------------------------------- broadcast

    async def first_broadcast(self, txs: list[WalletTx], save: Save, step: Step = _no_step) -> None:
        """Hand recorded transactions to the node before the nonce lock is released; a failure
        here is met again, and settled, by `settle`."""
        self._track(txs, pending=True)
        with contextlib.suppress(CannotConnectError, TransactionRejectedError):
            await self.broadcast(txs, save, step, fresh=True)

    async def broadcast(
        self, txs: list[WalletTx], save: Save, step: Step = _no_step, *, fresh: bool = False
    ) -> None:
        """Send the newest signed variant of each unmined transaction, in nonce order (`fresh`:
        all of them were just signed at the wallet's next nonces, so none can be mined yet)."""
        mined = 0 if fresh else await self.nonce("latest")
        for tx in txs:
            if tx.nonce < mined or (variant := tx.newest) is None:
                continue
            await self._send_raw(txs, variant, save)
            await step("broadcast")

    async def _send_raw(self, txs: list[WalletTx], variant: SignedTx, save: Save) -> None:
        raw = HexBytes(variant.raw)
        w3 = self.client.w3
        try:
            await self.client.guard(lambda: w3.eth.send_raw_transaction(raw))
        except CannotConnectError:
            raise
        except GridLedgerError as err:
            text = str(err).lower()
            if any(known in text for known in (*ALREADY_SENT, *REPLACED)):
                return  # the node has it, or a newer variant of it, or it is mined
            if await self._held(txs):
                return  # the node holds one of ours: the receipt decides
            raise TransactionRejectedError(err) from err
        if not variant.accepted:
            variant.accepted = True
            await save()

    async def _held(self, txs: list[WalletTx]) -> bool:
        """Whether any signed variant was ever accepted, or is held (pooled or mined) now."""
        for tx in txs:
            for variant in tx.variants:
                if variant.accepted or await self._known(variant.hash):
                    return True
        return False

    async def _bump(self, txs: list[WalletTx], save: Save, step: Step) -> None:
        """Re-sign each unmined transaction at its nonce with higher fees, record, broadcast."""
        mined = await self.nonce("latest")
        max_fee, priority = await self.fees(retry=False)
        factor = 100 + self._bump_percent
        changed = False
        for tx in txs:
            if tx.nonce < mined or (last := tx.newest) is None:
                continue
            new_priority = max(priority, last.priority * factor // 100 + 1)
            new_max = max(max_fee, last.max_fee * factor // 100 + 1, new_priority)
            await self.sign(tx, new_max, new_priority)
            changed = True
        if changed:
            await save()
            await step("signed")
            await self.broadcast(txs, save, step)

    # -------------------------------------------------------------------- settling

    async def settle(self, txs: list[WalletTx], save: Save, step: Step = _no_step) -> Settled:
        """Drive recorded transactions to an end, from the chain alone.

        While none is mined, the same bytes go to the node again every `rebroadcast_after` (a
        node that restarted or evicted them forgot them) and fees are bumped every
        `bump_after`. Raises `TransactionRejectedError` when the node refuses them all,
        `TransactionTimeoutError` when they are still pending at the deadline (they may be mined
        later: settle again), `CannotConnectError` when the node did not answer by then.
        """
        if not any(tx.variants for tx in txs):
            return Settled(None, 0)  # never signed: nothing can have reached the node
        self._track(txs, pending=True)  # also what a previous run left
        try:
            settled = await self._settle(txs, save, step)
        except TransactionRejectedError:
            self._track(txs, pending=False)  # the node holds none: none can be mined
            raise
        self._track(txs, pending=False)
        return settled

    async def _settle(self, txs: list[WalletTx], save: Save, step: Step) -> Settled:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.receipt_timeout
        next_bump = loop.time() + self._bump_after
        next_broadcast = 0.0
        last_error: CannotConnectError | None = None
        while True:
            try:
                if (settled := await self._check(txs)) is not None:
                    if settled.receipt is not None:
                        await step("mined")
                    return settled
                now = loop.time()
                if now >= next_bump:
                    await self._bump(txs, save, step)
                    next_bump = now + self._bump_after
                    next_broadcast = now + self._rebroadcast_after
                elif now >= next_broadcast:
                    await self.broadcast(txs, save, step)
                    next_broadcast = now + self._rebroadcast_after
                last_error = None
            except CannotConnectError as err:
                last_error = err
            if loop.time() >= deadline:
                if last_error is not None:
                    raise last_error
                raise TransactionTimeoutError(txs[-1].variants[-1].hash)
            await asyncio.sleep(self._poll_interval)

    async def _check(self, txs: list[WalletTx]) -> Settled | None:
        """The last transaction mined or dead; None while it is pending, or while the node does
        not yet show which transaction took its nonce."""
        last = txs[-1]
        if (receipt := await self._find_receipt(last)) is None:
            if await self.nonce("latest") <= last.nonce:
                return None
            # The nonce is used, yet no receipt of ours is served. A node may count a nonce as
            # used before it serves the block and receipt that used it (anvil does, for as long
            # as its miner is descheduled; so do providers behind a load balancer), so no wait
            # proves ours was not the one: only a served block holding another transaction at
            # the nonce does. Until then it may still be ours, and nothing new may be signed.
            taker = await self._nonce_taker(last)
            if taker is None:
                return None
            if taker not in {variant.hash.lower() for variant in last.variants}:
                return Settled(None, 0)
            if (receipt := await self._find_receipt(last)) is None:
                return None  # ours is mined: its receipt is served next
        gas_used = receipt.gas_used
        for tx in txs[:-1]:  # an approve before a payment
            if (earlier := await self._find_receipt(tx)) is not None:
                gas_used += earlier.gas_used
        return Settled(receipt, gas_used)

    async def _nonce_taker(self, tx: WalletTx) -> str | None:
        """The hash (lower case) of the wallet's transaction at `tx.nonce` in a block the node
        serves, searched from the block after `tx.after_block`; None when no block shows it."""
        w3 = self.client.w3
        latest = int(await self.client.guard(lambda: w3.eth.block_number))
        if tx.after_block is not None:
            first = tx.after_block + 1
        else:
            first = max(0, latest - LEGACY_SCAN_BLOCKS)
        sender = self.address.lower()
        for number in range(first, latest + 1):
            block = await self.client.guard(partial(w3.eth.get_block, number, True))
            for item in block.get("transactions", []):
                if isinstance(item, bytes | str):
                    continue  # a hash only: not asked for
                if str(item["from"]).lower() == sender and int(item["nonce"]) == tx.nonce:
                    return _hex(bytes(item["hash"])).lower()
        return None

    async def _find_receipt(self, tx: WalletTx) -> Receipt | None:
        for variant in reversed(tx.variants):
            if (receipt := await self.receipt(variant.hash)) is not None:
                return receipt
        return None

    # -------------------------------------------------------------------- one-off calls

    async def send(self, call: ContractCall) -> Receipt:
        """Send one call and wait for it to be mined; a failed one raises its decoded revert.

        Its record lives only in memory: for tools and tests. Intents that must survive a
        restart record the transaction themselves (`prepare`, `sign`, `first_broadcast`,
        `settle`).
        """
        async with self._lock:
            tx = await self.prepare("call", call, retry=True)
            await self.sign(tx)
            await self.first_broadcast([tx], _nothing_to_save)
        try:
            settled = await self.settle([tx], _nothing_to_save)
        except TransactionRejectedError as err:
            raise err.error from err
        if (receipt := settled.receipt) is None:
            raise GridLedgerError(f"transaction {tx.variants[-1].hash} was replaced")
        if not receipt.succeeded:
            raise await self.revert_reason(tx, receipt.block_number)
        _LOGGER.debug("Mined %s in block %s", receipt.tx_hash, receipt.block_number)
        return receipt
