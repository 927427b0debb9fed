"""A contract beside a ledger on the ledger client's node (the energy auction, the settlement):
its calls encoded for the wallet, its logs read and decoded for the event follower."""

from __future__ import annotations

from typing import Any

from eth_utils.address import is_address, to_checksum_address
from web3.contract import AsyncContract
from web3.types import LogReceipt

from .client import GridLedgerClient
from .errors import NotGridLedgerError
from .models import ContractCall, LedgerEvent, Receipt, Topics


class BesideLedger:
    """One contract with its ABI and its events by topic, reached through the ledger's client."""

    def __init__(
        self,
        client: GridLedgerClient,
        address: str,
        abi: list[dict[str, Any]],
        events: dict[bytes, str],
    ) -> None:
        if not is_address(address):
            raise NotGridLedgerError(f"{address!r} is not an address")
        self.client = client
        self.address = to_checksum_address(address)
        self._contract: AsyncContract = client.w3.eth.contract(address=self.address, abi=abi)
        self._events = events

    def call(self, function: str, *args: Any, value: int = 0) -> ContractCall:
        """A call of one of the contract's functions, for the wallet to send."""
        return ContractCall(self.address, self._contract.encode_abi(function, list(args)), value)

    async def logs(self, from_block: int, to_block: int, topics: Topics) -> list[LedgerEvent]:
        return await self.client.logs(from_block, to_block, topics, self._contract, self._events)

    def decode_log(self, log: LogReceipt) -> LedgerEvent | None:
        return self.client.decode_log(log, self._contract, self._events)

    async def receipt_events(self, receipt: Receipt) -> list[LedgerEvent]:
        """The contract's events that one mined transaction emitted."""
        events = await self.logs(receipt.block_number, receipt.block_number, [])
        return [event for event in events if event.tx_hash.lower() == receipt.tx_hash.lower()]
