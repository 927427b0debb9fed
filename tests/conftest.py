"""Fixtures shared by every test area: a real anvil chain for the session, and a frozen wall
clock whose event loop keeps running in real time."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
import time

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component import patch_time
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


def real_monotonic() -> float:
    """The real monotonic clock, by a name freezegun does not replace."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class LoopClock:
    """Stands in for the `time` module that the HA harness reads its event loop's clock from
    (`patch_time._monotonic`): the frozen wall time plus the real time elapsed since freezing."""

    def __init__(self, freezer: FrozenDateTimeFactory) -> None:
        self._freezer = freezer
        self._started = real_monotonic()

    def monotonic(self) -> float:
        frozen = self._freezer.time_to_freeze
        wall = calendar.timegm(frozen.timetuple()) + frozen.microsecond / 1e6
        return wall + real_monotonic() - self._started


@pytest.fixture
def freezer(
    freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> FrozenDateTimeFactory:
    """freezegun's frozen wall clock, with the event loop's clock running on from it.

    Plain freezegun freezes `time.monotonic`, and with it the event loop: an `asyncio.sleep` or
    timeout in code under test then never ends unless the test moves the clock. Our tests wait
    on real I/O (the node) while the wall clock stands still, so the loop's clock here is the
    frozen time plus the real time elapsed: waits progress as in life, and moving the wall clock
    moves the loop's clock by as much, so Home Assistant's timers fall due with it.
    """
    monkeypatch.setattr(patch_time, "time", LoopClock(freezer))
    return freezer
