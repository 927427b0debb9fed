"""The pay_bill and top_up actions: response data, targets, and every error by translation key."""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
import pytest_socket
import voluptuous as vol

from custom_components.grid_ledger.const import DOMAIN
from tests.anvil import Anvil

from .conftest import Ledger, LocalChain, deploy, set_register
from .test_billing import BILL, amount_due, device_id, issue_bill, new_meter, payments, set_up

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture(scope="module")
def token_ledger(anvil: Anvil) -> Ledger:
    """A ledger paid in the test stablecoin (tUSD, 6 decimals)."""
    pytest_socket.enable_socket()
    try:
        return deploy(anvil, token=True)
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)


async def call(hass: HomeAssistant, service: str, data: dict[str, Any]) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


async def test_pay_bill_by_entry_returns_the_transaction(
    hass: HomeAssistant, ledger: Ledger
) -> None:
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter)
    issue_bill(ledger, meter)
    response = await call(hass, "pay_bill", {"config_entry_id": entry.entry_id})
    [event] = payments(ledger, meter)
    receipt = ledger.w3.eth.get_transaction_receipt(response["tx_hash"])
    assert receipt["status"] == 1
    assert response == {
        "tx_hash": "0x" + bytes(event["transactionHash"]).hex(),
        "block_number": receipt["blockNumber"],
        "amount": 0.01,
        "currency": "ETH",
    }
    assert event["args"]["amount"] == BILL

    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "pay_bill", {"config_entry_id": entry.entry_id})
    assert err.value.translation_key == "nothing_due"
    assert len(payments(ledger, meter)) == 1


async def test_top_up_by_device_returns_the_transaction(
    hass: HomeAssistant, ledger: Ledger
) -> None:
    meter = new_meter(ledger)
    await set_up(hass, ledger, meter)
    response = await call(
        hass, "top_up", {"device_id": device_id(hass, ledger, meter), "amount": 0.025}
    )
    [event] = payments(ledger, meter)
    assert event["args"]["amount"] == 25 * 10**15
    assert response == {
        "tx_hash": "0x" + bytes(event["transactionHash"]).hex(),
        "block_number": event["blockNumber"],
        "amount": 0.025,
        "currency": "ETH",
    }


async def test_pay_bill_refuses_more_than_approved(hass: HomeAssistant, ledger: Ledger) -> None:
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter)
    issue_bill(ledger, meter)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "pay_bill", {"config_entry_id": entry.entry_id, "amount": 0.005})
    assert err.value.translation_key == "amount_above_approval"
    assert err.value.translation_placeholders == {
        "amount_due": "0.01",
        "amount": "0.005",
        "currency": "ETH",
    }
    assert payments(ledger, meter) == []
    assert amount_due(ledger, meter) == BILL


@pytest.mark.parametrize(
    ("service", "data"), [("pay_bill", {}), ("top_up", {"amount": 1.5})], ids=["pay", "top_up"]
)
async def test_insufficient_token_balance(
    hass: HomeAssistant, token_ledger: Ledger, service: str, data: dict[str, Any]
) -> None:
    meter = new_meter(token_ledger)
    entry = await set_up(hass, token_ledger, meter)
    if service == "pay_bill":
        issue_bill(token_ledger, meter)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, service, {"config_entry_id": entry.entry_id, **data})
    assert err.value.translation_key == "insufficient_balance"
    placeholders = err.value.translation_placeholders or {}
    assert (placeholders["balance"], placeholders["currency"]) == ("0", "tUSD")
    assert payments(token_ledger, meter) == []


async def test_no_gas_for_the_payment(hass: HomeAssistant, ledger: Ledger) -> None:
    meter = new_meter(ledger, coin=BILL + 10**9)  # the bill, and next to nothing for gas
    entry = await set_up(hass, ledger, meter)
    issue_bill(ledger, meter)
    nonce = ledger.w3.eth.get_transaction_count(meter.wallet_address)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "pay_bill", {"config_entry_id": entry.entry_id})
    assert err.value.translation_key == "payment_no_gas"
    assert err.value.translation_placeholders == {"address": meter.wallet_address}
    assert ledger.w3.eth.get_transaction_count(meter.wallet_address) == nonce
    assert payments(ledger, meter) == []


async def test_node_down(hass: HomeAssistant, local_chain: LocalChain) -> None:
    ledger = local_chain.ledger
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter)
    issue_bill(ledger, meter)
    local_chain.down()
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "pay_bill", {"config_entry_id": entry.entry_id})
    assert err.value.translation_key == "cannot_connect"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "top_up", {"config_entry_id": entry.entry_id, "amount": 0.01})
    assert err.value.translation_key == "cannot_connect"
    local_chain.up()
    assert payments(ledger, meter) == []


async def test_targets_and_amounts_are_validated(hass: HomeAssistant, ledger: Ledger) -> None:
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "pay_bill", {"device_id": "not-a-device"})
    assert err.value.translation_key == "device_not_found"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "top_up", {"config_entry_id": entry.entry_id, "amount": 1e-19})
    assert err.value.translation_key == "invalid_amount"
    with pytest.raises(vol.Invalid):
        await call(hass, "top_up", {"config_entry_id": entry.entry_id, "amount": -1})
    with pytest.raises(vol.Invalid):
        await call(hass, "pay_bill", {})
    with pytest.raises(vol.Invalid):
        await call(
            hass,
            "pay_bill",
            {"config_entry_id": entry.entry_id, "device_id": device_id(hass, ledger, meter)},
        )

    assert await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "pay_bill", {"device_id": device_id(hass, ledger, meter)})
    assert err.value.translation_key == "entry_not_loaded"
    assert payments(ledger, meter) == []


async def test_payment_refused_by_the_contract(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter)
    issue_bill(ledger, meter)
    ledger.transact(ledger.contract.functions.pause())
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "pay_bill", {"config_entry_id": entry.entry_id})
    assert err.value.translation_key == "contract_paused"
    assert payments(ledger, meter) == []


async def test_reading_and_top_up_at_once_take_turns_with_the_nonce(
    hass: HomeAssistant, ledger: Ledger
) -> None:
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter)
    await set_register(hass, 1.001)
    nonce = ledger.w3.eth.get_transaction_count(meter.wallet_address)
    target = {"config_entry_id": entry.entry_id}
    reading, top_up = await asyncio.gather(
        call(hass, "submit_reading", target),
        call(hass, "top_up", {**target, "amount": 0.01}),
    )
    assert reading["submitted"] is True
    sent = [ledger.w3.eth.get_transaction(tx) for tx in (reading["tx_hash"], top_up["tx_hash"])]
    assert sorted(tx["nonce"] for tx in sent) == [nonce, nonce + 1]
    for tx in (reading["tx_hash"], top_up["tx_hash"]):
        assert ledger.w3.eth.get_transaction_receipt(tx)["status"] == 1
    assert len(payments(ledger, meter)) == 1
