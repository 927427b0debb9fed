"""The demo stack on real parts, seen by a person: Chromium logs into HA and reads the dashboard,
the consumer's view, the prosumer's, the transformer's and the energy market's."""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import time

import pytest

from tests.anvil import REPO
from tests.demo.configure import DemoInHA
from tests.demo.stack import (
    AUTO_SELL_FLOOR,
    CONSUMER,
    FEEDER_LOSS_TOLERANCE_BPS,
    HOUSEHOLDS,
    PERIOD_LENGTH,
    PROSUMER,
    PV_PEAK_W,
    SPENDING_CAP,
    STABLECOIN_FOR_HOUSEHOLD,
    DemoStack,
)
from tests.e2e.browser import browse

DASHBOARD_TEXTS = ("Supply permit", "Permit active", "Tariff price", "Stablecoin", "Supply relay")
PROSUMER_TEXTS = (
    "Rooftop solar",
    "Solar power",
    "Meter export register",
    "Producer",
    "Exported energy",
    "Energy tokens",
    "Tokens minted this period",
    "Export compensation",
    "Permit active",
)
TRANSFORMER_TEXTS = (
    "Transformer meter",
    "Illegal tap",
    "Households' import power",
    "Feeder on the ledger",
    "Feeder energy this period",
    "Households' energy this period",
    "Actual loss",
    "Loss tolerance",
    "Settlement",
    "Distributor's markup",
    "Owed to the distributor",
)
MARKET_TEXTS = (
    "Consumer (meter 1): wallet",
    "Consumer (meter 1): market",
    "Prosumer (meter 2): wallet",
    "Prosumer (meter 2): market",
    "Energy tokens",
    "Meter power (import +, export -)",
    "Pending transactions",
    "Open offers",
    "Best price",
    "Auction end",
    "Last price",
    "Refunds and proceeds",
)


def test_demo_dashboard_shows_both_households_in_a_browser(
    demo: tuple[DemoStack, DemoInHA], tmp_path: Path
) -> None:
    stack, configured = demo
    homes, feeder = configured.homes, configured.feeder
    assert stack.hass is not None
    states = stack.hass.states()
    for household in HOUSEHOLDS:
        prefix = f"grid_ledger_meter_{household.meter_id}_"
        by_suffix = {
            object_id.removeprefix(prefix): state
            for entity_id, state in states.items()
            if (object_id := entity_id.split(".", 1)[1]).startswith(prefix)
        }
        assert by_suffix["permit_active"]["state"] == "on", household
        # The wallet's stablecoin as on-chain: its 500 test dollars, less what it spent within
        # its cap (the consumer's automatic bid may be in escrow by now).
        wallet = by_suffix["wallet_address"]["state"]
        token = stack.deployment["paymentToken"]
        held = stack.cast_call(token, "balanceOf(address)(uint256)", wallet)
        balance = float(by_suffix["wallet_token_balance"]["state"])
        assert balance == held / 10**6, household
        spent = STABLECOIN_FOR_HOUSEHOLD - held
        assert 0 <= spent <= SPENDING_CAP * 10**6, household
        assert float(by_suffix["tariff_price"]["state"]) == pytest.approx(0.3)
    # The prosumer's producer entities are live; its meter runs rooftop solar, the consumer's
    # none.
    producer = homes[PROSUMER.role].entities
    for key in ("exported_energy", "export_compensation", "token_balance", "tokens_minted_period"):
        assert states[producer[key]]["state"] != "unavailable", key
    assert float(states[f"number.{PROSUMER.device}_simulated_pv_peak"]["state"]) == PV_PEAK_W
    assert float(states["number.grid_ledger_simulator_simulated_pv_peak"]["state"]) == 0

    # The transformer: its feeder entry live with the demo's tolerance, its tap off.
    assert float(states[feeder.entities["loss_tolerance"]]["state"]) == pytest.approx(
        FEEDER_LOSS_TOLERANCE_BPS / 100
    )
    assert states[feeder.meter["illegal_tap"]]["state"] == "off"
    assert states[feeder.entities["loss_above_tolerance"]]["state"] == "off"

    screenshot = tmp_path / "dashboard.png"
    browse(stack.hass.url, "grid-ledger/0", screenshot, *DASHBOARD_TEXTS)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    prosumer_screenshot = tmp_path / "prosumer.png"
    browse(stack.hass.url, "grid-ledger/1", prosumer_screenshot, *PROSUMER_TEXTS)
    assert prosumer_screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    transformer_screenshot = tmp_path / "transformer.png"
    browse(stack.hass.url, "grid-ledger/2", transformer_screenshot, *TRANSFORMER_TEXTS)
    assert transformer_screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The market, once the prosumer offers what its roof earned (its simulated midday comes
    # within a period): the consumer sees the lot's price, both wallets their tokens.
    best_price = homes[CONSUMER.role].entities["market_best_price"]
    deadline = time.monotonic() + 2 * PERIOD_LENGTH
    while (price := stack.hass.states()[best_price]["state"]) in ("unknown", "unavailable"):
        assert time.monotonic() < deadline, "no automatic offer in the market"
        time.sleep(5)
    assert float(price) >= AUTO_SELL_FLOOR
    market_screenshot = tmp_path / "market.png"
    browse(stack.hass.url, "grid-ledger/3", market_screenshot, *MARKET_TEXTS)
    assert market_screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target := os.environ.get("SCREENSHOT_TO"):  # `make screenshot` refreshes docs/
        shutil.copyfile(screenshot, REPO / target)
        for name, shot in (("prosumer", prosumer_screenshot), ("market", market_screenshot)):
            shutil.copyfile(shot, REPO / Path(target).with_name(f"{Path(target).stem}-{name}.png"))
