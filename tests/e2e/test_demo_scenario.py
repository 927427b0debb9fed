"""`make demo-scenario` as a test: the consumer's whole billing cycle and, beside it, the
prosumer's export → tokens → bill → sell-back, each figure checked against the tariff; then the
theft below their transformer, caught by the ledger's loss check and gone once the tap is off."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.demo.scenario import PRODUCER_STEPS, STEPS, THEFT_STEPS, run_scenario
from tests.demo.stack import (
    FEED_IN_PER_KWH,
    FEEDER_LOSS_TOLERANCE_BPS,
    NETWORK_CHARGE_PER_KWH,
    PRICE_PER_KWH,
    TECHNICAL_LOSS_PERCENT,
)


# Start-up (three firmware builds, Home Assistant, the deployment) takes minutes on a busy
# machine; the households' stories then live through four 60-second periods, the theft through
# up to eight more (each loss check waits for the feeder's first reading two periods on).
@pytest.mark.timeout(1500)
def test_demo_scenario_lives_both_households_stories(tmp_path: Path, socket_enabled: None) -> None:
    outcome = run_scenario(tmp_path)
    assert outcome.steps == list(STEPS)
    assert outcome.producer_steps == list(PRODUCER_STEPS)
    assert outcome.theft_steps == list(THEFT_STEPS)
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

    # The theft: a tapped period's loss above the tolerance, as the ledger computed it from the
    # feeder's and the households' energy; the first period wholly after the tap within it, a
    # loss near the transformer's technical loss (each register read to whole Wh).
    theft = outcome.theft_figures
    feeder_wh, children_wh = theft["tapped_feeder_wh"], theft["tapped_children_wh"]
    assert theft["tapped_loss_bps"] == (feeder_wh - children_wh) * 10_000 // feeder_wh
    assert theft["tapped_loss_bps"] > FEEDER_LOSS_TOLERANCE_BPS
    assert theft["clean_period"] > theft["tapped_period"]
    assert theft["clean_children_wh"] > 0
    assert theft["clean_loss_bps"] <= FEEDER_LOSS_TOLERANCE_BPS
    assert theft["clean_loss_bps"] == pytest.approx(TECHNICAL_LOSS_PERCENT * 100, abs=400)
