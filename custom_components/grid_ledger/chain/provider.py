"""A JSON-RPC over HTTP provider that posts through a given aiohttp session.

web3's own `AsyncHTTPProvider` keeps a session cache guarded by a lock taken in a thread pool
on every request; this provider uses the caller's session directly and starts no threads.
"""

from __future__ import annotations

from typing import Any

from aiohttp import ClientSession
from web3.providers.async_base import AsyncJSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

HEADERS = {"Content-Type": "application/json"}


class SessionHTTPProvider(AsyncJSONBaseProvider):
    """Posts JSON-RPC requests to `endpoint_uri` with `session`."""

    def __init__(self, endpoint_uri: str, session: ClientSession) -> None:
        super().__init__()
        self.endpoint_uri = endpoint_uri
        self.session = session

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        body = self.encode_rpc_request(method, params)
        async with self.session.post(self.endpoint_uri, data=body, headers=HEADERS) as response:
            response.raise_for_status()
            raw = await response.read()
        return self.decode_rpc_response(raw)
