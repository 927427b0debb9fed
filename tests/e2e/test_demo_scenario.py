"""`make demo-scenario` as a test: the consumer's whole billing cycle and, beside it, the
prosumer's export → tokens → bill → sell-back, each figure checked against the tariff; then the
theft below their transformer, caught by the ledger's loss check and gone once the tap is off,
and beside it the market, the prosumer's tokens bought by the consumer and paying its bill;
last, the settlement of the tapped period and the clean one, the tap lowering the markup."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.demo.scenario import (
    MARKET_STEPS,
    PRODUCER_STEPS,
    SETTLEMENT_STEPS,
    STEPS,
    THEFT_STEPS,
    run_scenario,
)
from tests.demo.stack import (
    AUTO_BID_CEILING,
    AUTO_SELL_FLOOR,
    FEED_IN_PER_KWH,
    FEEDER_LOSS_TOLERANCE_BPS,
    IDEAL_LOSS_BPS,
    NETWORK_CHARGE_PER_KWH,
    PENALTY_BPS,
    PLANT_PRICE_PER_KWH,
    PRICE_PER_KWH,
    SERVICE_COST_BPS,
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
    assert outcome.market_steps == list(MARKET_STEPS)
    assert outcome.settlement_steps == list(SETTLEMENT_STEPS)
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

    # The market: the prosumer's lot at its floor, the consumer's bid within its ceiling, its
    # escrowed payment rounded up; the bought tokens took their energy's worth (less the
    # network charge) off the consumer's bill, and auto-pay paid the rest.
    market = outcome.market_figures
    assert market["lot_wh"] == market["bought_wh"] > 0
    assert market["start_price"] == round(AUTO_SELL_FLOOR * 10**6)
    assert market["start_price"] <= market["bid_price"] <= round(AUTO_BID_CEILING * 10**6)
    assert market["payment"] == -(-market["lot_wh"] * market["bid_price"] // 1000)
    assert 0 < market["redeemed_wh"] <= market["bought_wh"]
    value = market["redeemed_wh"] * (PRICE_PER_KWH - NETWORK_CHARGE_PER_KWH) / 1000
    assert market["redeemed_amount"] == pytest.approx(value, abs=1)
    assert market["paid_after"] > 0
    assert market["due_after"] == 0

    # The settlement: each statement as the formula has it, to the base unit; the tapped
    # period's loss above the ideal costs the distributor markup, the clean one's barely.
    settled = outcome.settlement_figures
    assert settled["tapped_period"] == theft["tapped_period"]
    assert settled["clean_period"] == theft["clean_period"]
    for which in ("tapped", "clean"):
        plant_wh, households_wh = settled[f"{which}_plant_wh"], settled[f"{which}_households_wh"]
        loss = (plant_wh - households_wh) * 10_000 // plant_wh
        assert settled[f"{which}_loss_bps"] == loss
        base = IDEAL_LOSS_BPS + SERVICE_COST_BPS
        penalty = max(0, loss - IDEAL_LOSS_BPS) * PENALTY_BPS // 10_000
        assert settled[f"{which}_markup_bps"] == max(0, base - penalty)
        value = households_wh * PRICE_PER_KWH // 1000
        assert settled[f"{which}_households_value"] == value
        assert settled[f"{which}_plant_owed"] == plant_wh * PLANT_PRICE_PER_KWH // 1000
        owed = value * settled[f"{which}_markup_bps"] // 10_000
        assert settled[f"{which}_distributor_owed"] == owed
        assert settled[f"{which}_operator_keeps"] == (value - settled[f"{which}_plant_owed"] - owed)
    assert settled["tapped_loss_bps"] > FEEDER_LOSS_TOLERANCE_BPS
    assert settled["tapped_markup_bps"] < settled["clean_markup_bps"]
