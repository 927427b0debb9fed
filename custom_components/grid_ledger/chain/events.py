"""Follow one contract's events: a log subscription over WebSocket, block polling over HTTP.

A follower is given the contract (the ledger, or another one beside it such as the energy
auction) and the topics to filter by. With a store it keeps the last block it delivered, and a
new start resumes after it, so events emitted while it was stopped are delivered then (in pages
of `MAX_BLOCK_RANGE` blocks), each once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import logging
from typing import Any, Protocol, cast

from web3 import WebSocketProvider
from web3.types import LogReceipt

from .client import GridLedgerClient
from .errors import GridLedgerError
from .models import LedgerEvent, Topics
from .payments import PaymentStore

_LOGGER = logging.getLogger(__name__)

EventCallback = Callable[[list[LedgerEvent]], Awaitable[None]]
MAX_BLOCK_RANGE = 2_000


class LogSource(Protocol):
    """A contract whose logs are read and decoded (`GridLedgerClient` for the ledger)."""

    @property
    def address(self) -> str: ...

    async def logs(self, from_block: int, to_block: int, topics: Topics) -> list[LedgerEvent]: ...

    def decode_log(self, log: LogReceipt) -> LedgerEvent | None: ...


class EventFollower:
    """Delivers batches of decoded events to a callback until stopped; survives node outages.

    `topics` filter the source's logs (`[None, meter_topic(id)]`: a party's events); the source
    is the client's ledger unless another contract is given. A `store` keeps `last_block`
    across restarts; without one a start begins at the chain's head.
    """

    def __init__(
        self,
        client: GridLedgerClient,
        topics: Topics,
        callback: EventCallback,
        *,
        source: LogSource | None = None,
        store: PaymentStore | None = None,
        poll_interval: float = 2.0,
        retry_interval: float = 5.0,
    ) -> None:
        self._client = client
        self._source: LogSource = source or client
        self._topics = topics
        self._callback = callback
        self._store = store
        self._poll_interval = poll_interval
        self._retry_interval = retry_interval
        self._task: asyncio.Task[None] | None = None
        self._step_lock = asyncio.Lock()
        self.last_block: int | None = None
        self._kept = 0  # the last block saved to the store

    async def async_load(self) -> None:
        """Resume after the last block a previous run delivered (kept in the store); on a first
        start, after the chain's head now, so whatever happens once this returns is delivered."""
        if self._store is not None and (data := await self._store.load()) is not None:
            self.last_block = data.get("last_block")
            self._kept = self.last_block or 0
        if self.last_block is None:
            with contextlib.suppress(GridLedgerError):  # the first poll reads it then
                await self._advance(await self._client.block_number(), keep=True)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="grid_ledger events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                if self._client.is_websocket:
                    await self._subscribe()
                else:
                    await self._poll()
            except GridLedgerError as err:
                _LOGGER.debug("Event follower interrupted: %s", err)
                await asyncio.sleep(self._retry_interval)

    async def async_step(self) -> None:
        """Deliver the events up to the chain's head now (also between polls)."""
        async with self._step_lock:
            head = await self._client.block_number()
            if self.last_block is None:
                await self._advance(head, keep=True)
                return
            while self.last_block < head:
                to_block = min(head, self.last_block + MAX_BLOCK_RANGE)
                events = await self._source.logs(self.last_block + 1, to_block, self._topics)
                if events:
                    await self._callback(events)
                await self._advance(to_block, keep=bool(events))

    async def _advance(self, block: int, *, keep: bool) -> None:
        """Delivered through `block`. Kept (before anything later is delivered) when events
        were delivered; blocks without any are kept only every `MAX_BLOCK_RANGE`, since reading
        them again after a restart announces nothing."""
        self.last_block = block
        if self._store is None or (not keep and block - self._kept < MAX_BLOCK_RANGE):
            return
        await self._store.save({"last_block": block})
        self._kept = block

    async def _poll(self) -> None:
        while True:
            await self.async_step()
            await asyncio.sleep(self._poll_interval)

    async def _subscribe(self) -> None:
        w3 = self._client.w3
        params: dict[str, Any] = {"address": self._source.address, "topics": self._topics}
        await self._client.block_number()  # connects the socket
        await self._client.guard(lambda: w3.eth.subscribe("logs", cast(Any, params)))
        # Subscribed first, then caught up: nothing falls between (an event may come twice).
        await self.async_step()
        provider = cast(WebSocketProvider, w3.provider)
        try:
            async for message in w3.socket.process_subscriptions():
                event = self._source.decode_log(cast(Any, message["result"]))
                if event is not None:
                    await self._callback([event])
                    async with self._step_lock:
                        await self._advance(
                            max(self.last_block or 0, event.block_number), keep=True
                        )
        except Exception as err:
            raise GridLedgerError(f"subscription lost: {err}") from err
        finally:
            with contextlib.suppress(Exception):
                await provider.disconnect()
            self._client.mark_disconnected()
