"""`make demo-scenario` as a test: the consumer's whole billing cycle and, beside it, the
prosumer's export → tokens → bill → sell-back, each figure checked against the tariff."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.demo.scenario import PRODUCER_STEPS, STEPS, run_scenario
from tests.demo.stack import FEED_IN_PER_KWH, NETWORK_CHARGE_PER_KWH, PRICE_PER_KWH


# Start-up (two firmware builds, Home Assistant, the deployment) takes minutes on a busy
# machine; the stories then live through four 60-second periods.
@pytest.mark.timeout(900)
def test_demo_scenario_lives_both_households_stories(tmp_path: Path, socket_enabled: None) -> None:
    outcome = run_scenario(tmp_path)
    assert outcome.steps == list(STEPS)
    assert outcome.producer_steps == list(PRODUCER_STEPS)
    figures = outcome.figures

    # Export on-chain, accrued as tokens.
    assert figures["exported_wh"] > 0
    assert 0 < figures["pending_wh"] <= figures["exported_wh"]
    # The bill took tokens for its energy first, each Wh worth the price less the network
    # charge (rounded down once, by the ledger); the bill is what was left.
    redeemed = figures["redeemed_wh"]
    assert 0 < redeemed <= figures["bill_energy_wh"]
    value = redeemed * (PRICE_PER_KWH - NETWORK_CHARGE_PER_KWH) / 1000
    assert figures["redeemed_amount"] == pytest.approx(value, abs=1)
    full_bill = figures["bill_energy_wh"] * PRICE_PER_KWH / 1000
    assert figures["bill_amount"] + figures["redeemed_amount"] == pytest.approx(full_bill, abs=1)
    # The rest minted to the wallet and sold back at feed-in, paid from the operator's funds.
    assert figures["claimed_wh"] > 0
    assert figures["sold_wh"] == figures["claimed_wh"]
    assert figures["sold_amount"] == figures["sold_wh"] * FEED_IN_PER_KWH // 1000
    assert figures["feed_in_funds_spent"] == figures["sold_amount"]
    assert figures["wallet_received"] == figures["sold_amount"]
    assert figures["tokens_left_wh"] == 0
