"""The demo stack on real parts, seen by a person: Chromium logs into HA and reads the dashboard."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

from tests.anvil import REPO, free_port
from tests.demo.configure import configure_home_assistant
from tests.demo.stack import HA_USER, STABLECOIN_FOR_HOUSEHOLD, DemoKeys, DemoStack

DASHBOARD_TEXTS = ("Supply permit", "Permit active", "Tariff price", "Stablecoin", "Supply relay")


@pytest.fixture
def demo(tmp_path: Path, socket_enabled: None) -> Iterator[tuple[DemoStack, DemoKeys]]:
    stack = DemoStack(
        anvil_port=free_port(),
        ha_port=free_port(),
        meter_port=free_port(),
        state_dir=tmp_path / "demo",
        deployment_file=f"deployments/e2e-{tmp_path.name}.json",
    )
    deployment = REPO / "contracts" / stack.deployment_file
    try:
        stack.state_dir.mkdir()
        keys = DemoKeys.load_or_create(stack.state_dir / "keys.json")
        stack.start_chain()
        stack.deploy(keys)
        stack.start_meter()
        stack.start_home_assistant()
        # A private loop: asyncio.run() would clear the current loop the HA harness relies on.
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(configure_home_assistant(stack, keys))
        finally:
            loop.close()
        yield stack, keys
    finally:
        stack.stop()
        deployment.unlink(missing_ok=True)


def test_demo_dashboard_shows_the_meter_in_a_browser(
    demo: tuple[DemoStack, DemoKeys], tmp_path: Path
) -> None:
    stack, _ = demo
    assert stack.hass is not None
    states = stack.hass.states()
    prefix = "grid_ledger_meter_1_"
    by_suffix = {
        object_id.removeprefix(prefix): state
        for entity_id, state in states.items()
        if (object_id := entity_id.split(".", 1)[1]).startswith(prefix)
    }
    assert by_suffix["permit_active"]["state"] == "on"
    assert float(by_suffix["wallet_token_balance"]["state"]) == STABLECOIN_FOR_HOUSEHOLD / 10**6
    assert float(by_suffix["tariff_price"]["state"]) == pytest.approx(0.3)

    screenshot = tmp_path / "dashboard.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.e2e.browser",
            stack.hass.url,
            HA_USER["username"],
            HA_USER["password"],
            "grid-ledger/0",
            str(screenshot),
            *DASHBOARD_TEXTS,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target := os.environ.get("SCREENSHOT_TO"):  # `make screenshot` refreshes docs/
        shutil.copyfile(screenshot, REPO / target)
