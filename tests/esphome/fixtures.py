"""Simulator fixtures: one compile per session, one process per test.

Loaded by tests/esphome/conftest.py; other test areas can load this module as a pytest plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.esphome.simulator import (
    SimulatorBuild,
    SimulatorProcess,
    compile_simulator,
    running_simulator,
)


@pytest.fixture(scope="session")
def simulator_build() -> SimulatorBuild:
    """The test build of simulator.yaml, compiled offline once per session."""
    return compile_simulator()


@pytest.fixture
def simulator(
    simulator_build: SimulatorBuild, tmp_path: Path, socket_enabled: None
) -> Iterator[SimulatorProcess]:
    """A running simulator on a free loopback port with its own prefs directory."""
    with running_simulator(simulator_build.program, tmp_path) as sim:
        yield sim
