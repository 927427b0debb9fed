"""The demo stack on real parts, seen by a person: Chromium logs into HA and reads the dashboard."""

from __future__ import annotations

import os
from pathlib import Path
import shutil

import pytest

from tests.anvil import REPO
from tests.demo.stack import STABLECOIN_FOR_HOUSEHOLD, DemoKeys, DemoStack
from tests.e2e.browser import browse

DASHBOARD_TEXTS = ("Supply permit", "Permit active", "Tariff price", "Stablecoin", "Supply relay")


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
    assert stack.hass is not None
    browse(stack.hass.url, "grid-ledger/0", screenshot, *DASHBOARD_TEXTS)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target := os.environ.get("SCREENSHOT_TO"):  # `make screenshot` refreshes docs/
        shutil.copyfile(screenshot, REPO / target)
