"""Home Assistant restarted between sending a payment and its receipt: exactly one payment."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.grid_ledger.const import CONF_AUTO_PAY, CONF_SPENDING_CAP, DOMAIN

from .conftest import Ledger
from .test_billing import (
    BILL,
    amount_due,
    issue_bill,
    new_meter,
    payments,
    refresh,
    set_up,
    until,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")


def pooled(ledger: Ledger, address: str) -> int:
    """Transactions of `address` waiting in the node's pool."""
    w3 = ledger.w3
    return int(w3.eth.get_transaction_count(address, "pending")) - int(
        w3.eth.get_transaction_count(address, "latest")
    )


@pytest.mark.parametrize("auto_pay", [False, True], ids=["pay_bill", "auto_pay"])
async def test_restart_between_send_and_receipt_pays_once(
    hass: HomeAssistant, ledger: Ledger, hass_storage: dict[str, Any], auto_pay: bool
) -> None:
    meter = new_meter(ledger)
    options: dict[str, Any] = {CONF_AUTO_PAY: auto_pay, CONF_SPENDING_CAP: 1.0}
    entry = await set_up(hass, ledger, meter, **options)
    confirmed = async_capture_events(hass, "grid_ledger_payment_confirmed")
    issue_bill(ledger, meter)
    nonce = ledger.w3.eth.get_transaction_count(meter.wallet_address)

    ledger.anvil.rpc("evm_setAutomine", False)
    try:
        calling: asyncio.Task[Any] | None = None
        if auto_pay:
            await entry.runtime_data.coordinator.async_refresh()  # sees the bill, pays it
        else:
            calling = hass.async_create_task(
                hass.services.async_call(
                    DOMAIN,
                    "pay_bill",
                    {"config_entry_id": entry.entry_id},
                    blocking=True,
                    return_response=True,
                )
            )
        await until(lambda: pooled(ledger, meter.wallet_address) == 1)
        intent = hass_storage[f"{DOMAIN}.{entry.entry_id}.payment"]["data"]["pending"]
        assert intent is not None
        assert intent["amount"] == BILL

        # Home Assistant stops while the payment waits for its block, and starts again.
        assert await hass.config_entries.async_unload(entry.entry_id)
        if calling is not None:
            with pytest.raises(HomeAssistantError) as err:
                await calling
            assert err.value.translation_key == "payment_interrupted"
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert confirmed == []
        assert pooled(ledger, meter.wallet_address) == 1  # still the one transaction

        ledger.anvil.rpc("evm_mine")
        await until(lambda: len(confirmed) == 1)
    finally:
        ledger.anvil.rpc("evm_setAutomine", True)
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)

    [event] = payments(ledger, meter)
    assert confirmed[0].data["tx_hash"] == "0x" + bytes(event["transactionHash"]).hex()
    assert ledger.w3.eth.get_transaction_count(meter.wallet_address) == nonce + 1
    assert amount_due(ledger, meter) == 0
    assert hass_storage[f"{DOMAIN}.{entry.entry_id}.payment"]["data"]["pending"] is None
    assert len(confirmed) == 1


async def test_late_receipt_is_reported_pending_then_settled_once(
    hass: HomeAssistant, ledger: Ledger, hass_storage: dict[str, Any]
) -> None:
    meter = new_meter(ledger)
    with patch("custom_components.grid_ledger.RECEIPT_TIMEOUT", 1.0):
        entry = await set_up(hass, ledger, meter, **{CONF_AUTO_PAY: True, CONF_SPENDING_CAP: 1.0})
    confirmed = async_capture_events(hass, "grid_ledger_payment_confirmed")
    issue_bill(ledger, meter)
    period = int(ledger.contract.functions.billOf(meter.meter_id).call()[0])

    def spent() -> dict[str, int]:
        return dict(hass_storage[f"{DOMAIN}.{entry.entry_id}.billing"]["data"]["spent"])

    ledger.anvil.rpc("evm_setAutomine", False)
    try:
        await refresh(hass, entry)  # auto-pay sends, and gives up waiting after a second
        assert pooled(ledger, meter.wallet_address) == 1
        assert spent() == {f"auto_{meter.meter_id}_{period}": BILL}
        [tx_hash] = [
            variant["hash"]
            for tx in hass_storage[f"{DOMAIN}.{entry.entry_id}.payment"]["data"]["pending"]["txs"]
            for variant in tx["variants"]
        ]

        with pytest.raises(HomeAssistantError) as err:
            await hass.services.async_call(
                DOMAIN, "pay_bill", {"config_entry_id": entry.entry_id}, blocking=True
            )
        assert err.value.translation_key == "payment_pending"
        assert err.value.translation_placeholders == {"tx_hash": tx_hash}
        await refresh(hass, entry)  # still not mined: still the one transaction
        assert pooled(ledger, meter.wallet_address) == 1
        assert confirmed == []

        ledger.anvil.rpc("evm_mine")
        await refresh(hass, entry)
        await until(lambda: len(confirmed) == 1)
    finally:
        ledger.anvil.rpc("evm_setAutomine", True)
    await hass.async_block_till_done(wait_background_tasks=True)
    [event] = payments(ledger, meter)
    assert "0x" + bytes(event["transactionHash"]).hex() == tx_hash == confirmed[0].data["tx_hash"]
    assert amount_due(ledger, meter) == 0
    assert spent() == {f"auto_{meter.meter_id}_{period}": BILL}


async def test_failed_auto_payment_gives_its_share_of_the_cap_back(
    hass: HomeAssistant, ledger: Ledger, hass_storage: dict[str, Any]
) -> None:
    meter = new_meter(ledger, coin=10**15)  # gas, but less coin than the 0.01 ETH bill
    entry = await set_up(hass, ledger, meter, **{CONF_AUTO_PAY: True, CONF_SPENDING_CAP: 1.0})
    issue_bill(ledger, meter)
    await refresh(hass, entry)
    assert payments(ledger, meter) == []
    assert hass_storage[f"{DOMAIN}.{entry.entry_id}.billing"]["data"]["spent"] == {}
    assert entry.runtime_data.billing.spent == 0
