"""The demo stack as `make demo` starts it, on free ports and in a temporary folder."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.anvil import REPO
from tests.demo.configure import DemoInHA, configure_home_assistant
from tests.demo.stack import DemoKeys, DemoStack


@pytest.fixture
def demo(tmp_path: Path, socket_enabled: None) -> Iterator[tuple[DemoStack, DemoInHA]]:
    """The stack, and its households (by role) and transformer in Home Assistant."""
    stack = DemoStack.beside_others(tmp_path / "demo", f"e2e-{tmp_path.name}")
    deployment = REPO / "contracts" / stack.deployment_file
    try:
        stack.state_dir.mkdir()
        keys = DemoKeys.load_or_create(stack.state_dir / "keys.json")
        stack.start(keys)
        # A private loop: asyncio.run() would clear the current loop the HA harness relies on.
        loop = asyncio.new_event_loop()
        try:
            configured = loop.run_until_complete(configure_home_assistant(stack, keys))
        finally:
            loop.close()
        yield stack, configured
    finally:
        stack.stop()
        deployment.unlink(missing_ok=True)
