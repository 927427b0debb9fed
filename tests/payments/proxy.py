"""A loopback TCP proxy in front of anvil that a test can cut: real connection faults.

- `drop_response_to(marker)`: the next request whose bytes contain `marker` reaches the node,
  the node answers, and the answer is thrown away with the connection (the client sees the
  connection die after the node acted: the worst moment for a payment).
- `refuse = True`: every new connection is closed at once, before any byte reaches the node.
- `cut()`: closes every open connection now.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    swallow: bool = False


@dataclass
class CuttableProxy:
    upstream_port: int
    refuse: bool = False
    dropped: int = 0
    url: str = ""
    _markers: list[bytes] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _connections: set[_Connection] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def drop_response_to(self, marker: bytes) -> None:
        self._markers.append(marker)

    async def cut(self) -> None:
        for conn in list(self._connections):
            await self._close(conn)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        conn = _Connection(writer, up_writer)
        self._connections.add(conn)
        for pump in (self._requests(conn, reader), self._responses(conn, up_reader)):
            task = asyncio.ensure_future(pump)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _requests(self, conn: _Connection, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                for marker in self._markers:
                    if marker in data:
                        self._markers.remove(marker)
                        conn.swallow = True
                        break
                conn.upstream.write(data)
                await conn.upstream.drain()
        except OSError:
            pass
        finally:
            await self._close(conn)

    async def _responses(self, conn: _Connection, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                if conn.swallow:
                    self.dropped += 1
                    break
                conn.client.write(data)
                await conn.client.drain()
        except OSError:
            pass
        finally:
            await self._close(conn)

    async def _close(self, conn: _Connection) -> None:
        if conn not in self._connections:
            return
        self._connections.discard(conn)
        for writer in (conn.client, conn.upstream):
            writer.close()
        for writer in (conn.client, conn.upstream):
            with contextlib.suppress(OSError):
                await writer.wait_closed()
