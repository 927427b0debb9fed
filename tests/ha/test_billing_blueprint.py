"""The approval blueprint end to end: a bill over the cap, a tap on Pay, the real pay_bill."""

from __future__ import annotations

from pathlib import Path
import shutil

from homeassistant.components import automation
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.grid_ledger.const import CONF_AUTO_PAY, CONF_SPENDING_CAP

from .conftest import Ledger
from .test_billing import (
    BILL,
    amount_due,
    device_id,
    issue_bill,
    new_meter,
    payments,
    set_up,
    until,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

BLUEPRINTS = Path(__file__).resolve().parents[2] / "blueprints" / "automation" / "grid_ledger"


async def test_approve_blueprint_pays_through_the_real_action(
    hass: HomeAssistant, ledger: Ledger, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / "grid_ledger")
    phone_entry = MockConfigEntry(domain="mobile_app", title="Pixel 9")
    phone_entry.add_to_hass(hass)
    phone = dr.async_get(hass).async_get_or_create(
        config_entry_id=phone_entry.entry_id,
        identifiers={("mobile_app", "pixel-9")},
        name="Pixel 9",
    )
    pushed: list[ServiceCall] = async_mock_service(hass, "notify", "mobile_app_pixel_9")

    meter = new_meter(ledger)
    await set_up(hass, ledger, meter, **{CONF_AUTO_PAY: True, CONF_SPENDING_CAP: 0.001})
    device = device_id(hass, ledger, meter)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "id": "approve",
                "alias": "Approve",
                "use_blueprint": {
                    "path": "grid_ledger/approve_payment.yaml",
                    "input": {"meters": [device], "approvers": [phone.id]},
                },
            }
        },
    )

    issue_bill(ledger, meter)
    await until(lambda: len(pushed) == 1)  # the integration asked, the blueprint asked the phone
    question = pushed[0].data
    assert question["title"] == "Pay 0.01 ETH?"
    approve = question["data"]["actions"][0]["action"]
    assert approve.startswith("GRID_LEDGER_APPROVE_")
    assert payments(ledger, meter) == []

    hass.bus.async_fire("mobile_app_notification_action", {"action": approve})
    await until(lambda: len(pushed) == 2)
    await hass.async_block_till_done(wait_background_tasks=True)

    [event] = payments(ledger, meter)
    assert event["args"]["amount"] == BILL
    assert amount_due(ledger, meter) == 0
    outcome = pushed[1].data
    assert outcome["title"] == "Paid 0.01 ETH"
    tx_hash = "0x" + bytes(event["transactionHash"]).hex()
    assert (
        outcome["message"]
        == f"The bill of Grid Ledger meter {meter.meter_id} is paid, transaction {tx_hash}."
    )
