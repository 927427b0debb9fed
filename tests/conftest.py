"""Fixtures shared by every test area: a real anvil chain for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_socket

from tests.anvil import Anvil

pytest_plugins = ["tests.chain_fixtures"]


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """A real anvil node on a free loopback port for the whole test session.

    The HA harness disables sockets before each test; starting the node (which picks a port
    and polls it) is allowed here, and tests that talk to it request `socket_enabled`.
    """
    pytest_socket.enable_socket()
    try:
        node = Anvil().start()
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)
    yield node
    node.stop()
