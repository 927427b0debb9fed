"""Transactions from one wallet: nonce lock, EIP-1559 fees, retries, receipts."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from eth_account import Account
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound
from web3.types import BlockData

from .client import GridLedgerClient, decode_revert
from .errors import (
    CannotConnectError,
    GridLedgerError,
    InsufficientFundsError,
    RevertedError,
    TransactionTimeoutError,
)
from .models import Receipt
from .signing import parse_private_key

_LOGGER = logging.getLogger(__name__)

DEFAULT_PRIORITY_FEE = 1_000_000_000  # 1 gwei when the node has no fee oracle
GAS_MARGIN_PERCENT = 120
ALREADY_SENT = ("already known", "nonce too low", "already imported")


class TransactionSender:
    """Sends contract calls from one wallet, one nonce at a time."""

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
    ) -> None:
        self._client = client
        self._key = parse_private_key(private_key)
        self.address: ChecksumAddress = self._key.public_key.to_checksum_address()
        self._retries = retries
        self._backoff = backoff
        self._receipt_timeout = receipt_timeout
        self._poll_interval = poll_interval
        self._rebroadcast_after = rebroadcast_after
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TransactionSender(address={self.address})"

    @property
    def nonce_lock(self) -> asyncio.Lock:
        """Held from reading the wallet's next nonce until its transaction is broadcast.

        Anything else that signs for this wallet (payments) takes it too, so two transactions
        never get the same nonce.
        """
        return self._lock

    async def _retrying[T](self, call: Any) -> T:
        """Retry a node call on transient errors, with exponential backoff."""
        for attempt in range(self._retries + 1):
            try:
                return cast(T, await self._client.guard(call))
            except CannotConnectError:
                if attempt == self._retries:
                    raise
                await asyncio.sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def fees(self, *, retry: bool = True) -> tuple[int, int]:
        """EIP-1559 (max fee, priority fee): room for the base fee to double twice.

        `retry=False` asks the node once (for estimates that may simply wait for the next try).
        """
        w3 = self._client.w3
        ask: Any = self._retrying if retry else self._client.guard
        block: BlockData = await ask(lambda: w3.eth.get_block("latest"))
        base_fee = int(block.get("baseFeePerGas", 0))
        try:
            priority = int(await ask(lambda: w3.eth.max_priority_fee))
        except GridLedgerError:
            priority = DEFAULT_PRIORITY_FEE
        return 2 * base_fee + priority, priority

    async def send(self, call: Any, value: int = 0) -> Receipt:
        """Send a contract call and wait for it to be mined; revert reasons come back named."""
        w3 = self._client.w3
        async with self._lock:
            info = self._client.info or await self._client.connect()
            base: dict[str, Any] = {"from": self.address, "value": value}
            gas: int = await self._retrying(lambda: call.estimate_gas(base))
            max_fee, priority = await self.fees()
            gas_limit = int(gas) * GAS_MARGIN_PERCENT // 100
            balance = await self._client.coin_balance(self.address)
            if balance < gas_limit * max_fee + value:
                raise InsufficientFundsError(
                    f"{self.address} holds {balance} wei, needs {gas_limit * max_fee + value}"
                )
            nonce: int = await self._retrying(
                lambda: w3.eth.get_transaction_count(self.address, "pending")
            )
            tx = await call.build_transaction(
                {
                    **base,
                    "chainId": info.chain_id,
                    "nonce": nonce,
                    "gas": gas_limit,
                    "maxFeePerGas": max_fee,
                    "maxPriorityFeePerGas": priority,
                }
            )
            signed = Account.sign_transaction(tx, self._key.to_bytes())
            tx_hash = "0x" + bytes(signed.hash).hex()
            raw = bytes(signed.raw_transaction)
            await self._send_raw(raw)
        return await self._wait(tx_hash, raw, call, base)

    async def _send_raw(self, raw: bytes) -> None:
        w3 = self._client.w3
        for attempt in range(self._retries + 1):
            try:
                await self._client.guard(lambda: w3.eth.send_raw_transaction(raw))
            except CannotConnectError:
                if attempt == self._retries:
                    raise
                await asyncio.sleep(self._backoff * 2**attempt)
            except GridLedgerError as err:
                if attempt > 0 and any(text in str(err).lower() for text in ALREADY_SENT):
                    return
                raise
            else:
                return

    async def _wait(self, tx_hash: str, raw: bytes, call: Any, base: dict[str, Any]) -> Receipt:
        """Wait for a receipt, handing the same signed bytes to the node again while none comes
        (a node that restarted or evicted it forgot it); a failed transaction raises its decoded
        revert."""
        w3 = self._client.w3
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._receipt_timeout
        next_broadcast = loop.time() + self._rebroadcast_after
        while True:
            try:
                receipt = await self._client.guard(
                    lambda: w3.eth.get_transaction_receipt(HexBytes(tx_hash))
                )
                break
            except GridLedgerError as err:
                if not isinstance(err.__cause__, TransactionNotFound) and not isinstance(
                    err, CannotConnectError
                ):
                    raise
            if (now := loop.time()) > deadline:
                raise TransactionTimeoutError(tx_hash)
            if now >= next_broadcast:
                next_broadcast = now + self._rebroadcast_after
                await self._rebroadcast(raw)
            await asyncio.sleep(self._poll_interval)
        if int(receipt["status"]) != 1:
            raise await self._revert_reason(call, base, int(receipt["blockNumber"]))
        return Receipt(
            tx_hash=tx_hash,
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice", 0)),
        )

    async def _rebroadcast(self, raw: bytes) -> None:
        """Send the same transaction again; whatever the node answers (it knows it, it was
        mined, the nonce went to another), the receipt and the deadline decide."""
        w3 = self._client.w3
        try:
            await self._client.guard(lambda: w3.eth.send_raw_transaction(raw))
        except GridLedgerError as err:
            _LOGGER.debug("Rebroadcast not taken: %s", err)

    async def _revert_reason(self, call: Any, base: dict[str, Any], block: int) -> RevertedError:
        """Replay a failed call on the state its block left, to name the revert."""
        try:
            await self._client.guard(lambda: call.call(base, block_identifier=block))
        except RevertedError as err:
            return err
        return decode_revert(None)
