"""Follow a meter's contract events: a log subscription over WebSocket, block polling over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import logging
from typing import Any, cast

from web3 import WebSocketProvider

from .client import GridLedgerClient, meter_topic
from .errors import GridLedgerError
from .models import LedgerEvent

_LOGGER = logging.getLogger(__name__)

EventCallback = Callable[[list[LedgerEvent]], Awaitable[None]]
MAX_BLOCK_RANGE = 2_000


class EventFollower:
    """Delivers batches of decoded events to a callback until stopped; survives node outages."""

    def __init__(
        self,
        client: GridLedgerClient,
        meter_id: int,
        callback: EventCallback,
        *,
        poll_interval: float = 2.0,
        retry_interval: float = 5.0,
    ) -> None:
        self._client = client
        self._topics: list[str | None] = [None, meter_topic(meter_id)]
        self._callback = callback
        self._poll_interval = poll_interval
        self._retry_interval = retry_interval
        self._task: asyncio.Task[None] | None = None
        self.last_block: int | None = None

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

    async def _catch_up(self) -> None:
        head = await self._client.block_number()
        if self.last_block is None:
            self.last_block = head
            return
        while self.last_block < head:
            to_block = min(head, self.last_block + MAX_BLOCK_RANGE)
            events = await self._client.logs(self.last_block + 1, to_block, self._topics)
            self.last_block = to_block
            if events:
                await self._callback(events)

    async def _poll(self) -> None:
        while True:
            await self._catch_up()
            await asyncio.sleep(self._poll_interval)

    async def _subscribe(self) -> None:
        w3 = self._client.w3
        params: dict[str, Any] = {"address": self._client.address, "topics": self._topics}
        await self._client.block_number()  # connects the socket
        await self._client.guard(lambda: w3.eth.subscribe("logs", cast(Any, params)))
        # Subscribed first, then caught up: nothing falls between (an event may come twice).
        await self._catch_up()
        provider = cast(WebSocketProvider, w3.provider)
        try:
            async for message in w3.socket.process_subscriptions():
                event = self._client.decode_log(cast(Any, message["result"]))
                if event is not None:
                    self.last_block = max(self.last_block or 0, event.block_number)
                    await self._callback([event])
        except Exception as err:
            raise GridLedgerError(f"subscription lost: {err}") from err
        finally:
            with contextlib.suppress(Exception):
                await provider.disconnect()
            self._client.mark_disconnected()
