"""The approval blueprint turns a tap on Pay into exactly one `grid_ledger.pay_bill` call.

`grid_ledger.pay_bill` is stood in by a recorded service: the integration's action is being
built alongside these blueprints. Its contract is in blueprints/automation/grid_ledger/EVENTS.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from homeassistant.components import automation
from homeassistant.core import HomeAssistant, ServiceCall, SupportsResponse
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)

from .conftest import SetUpAutomation

BLUEPRINT = "approve_payment.yaml"
TX_HASH = "0x" + "ab" * 32


@pytest.fixture
def pushed(hass: HomeAssistant) -> list[ServiceCall]:
    return async_mock_service(hass, "notify", "mobile_app_pixel_9")


@pytest.fixture
def payments(hass: HomeAssistant) -> list[ServiceCall]:
    return async_mock_service(
        hass,
        "grid_ledger",
        "pay_bill",
        response={"tx_hash": TX_HASH, "amount": 42.17},
        supports_response=SupportsResponse.OPTIONAL,
    )


async def _until(done: Callable[[], bool]) -> None:
    """Let the event loop run until `done()`.

    A run waiting for an answer is a task that never ends by itself, so
    `hass.async_block_till_done()` would wait for it forever.
    """
    for _ in range(1000):
        if done():
            return
        await asyncio.sleep(0)
    raise AssertionError("the automation did not get there")


def _waiting(hass: HomeAssistant) -> int:
    """Questions open: the answer listeners of runs waiting for a tap."""
    return hass.bus.async_listeners().get("mobile_app_notification_action", 0) // 2


def _running(hass: HomeAssistant) -> int:
    return int(hass.states.get("automation.grid_ledger_test").attributes["current"])


def _request(hass: HomeAssistant, device: dr.DeviceEntry, request_id: str, amount: Any) -> None:
    hass.bus.async_fire(
        "grid_ledger_payment_approval_requested",
        {"device_id": device.id, "request_id": request_id, "amount": amount, "currency": "USDC"},
    )


def _tap(hass: HomeAssistant, action: str) -> None:
    hass.bus.async_fire("mobile_app_notification_action", {"action": action})


async def _settle() -> None:
    """Give anything wrongly triggered the loop turns it needs to show."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_pay_tapped_pays_the_requested_amount(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    pushed: list[ServiceCall],
    payments: list[ServiceCall],
) -> None:
    await setup_automation(BLUEPRINT, {"meters": [meter.id], "approvers": [phone.id]})

    _request(hass, meter, "r-1", 42.17)
    await _until(lambda: _waiting(hass) == 1)

    assert len(pushed) == 1
    question = pushed[0].data
    assert question["title"] == "Pay 42.17 USDC?"
    assert question["message"] == (
        "The bill of House meter is over your auto-pay limit. Pay 42.17 USDC now?"
    )
    assert question["data"]["tag"] == "grid_ledger_approval_r-1"
    assert question["data"]["actions"] == [
        {
            "action": "GRID_LEDGER_APPROVE_r-1",
            "title": "Pay 42.17 USDC",
            "authenticationRequired": True,
        },
        {"action": "GRID_LEDGER_DENY_r-1", "title": "Not now"},
    ]
    assert payments == []

    _tap(hass, "GRID_LEDGER_APPROVE_r-1")
    await _until(lambda: _running(hass) == 0)

    assert [c.data for c in payments] == [{"device_id": meter.id, "amount": 42.17}]
    assert len(pushed) == 2
    assert pushed[1].data["title"] == "Paid 42.17 USDC"
    assert pushed[1].data["message"] == f"The bill of House meter is paid, transaction {TX_HASH}."
    assert pushed[1].data["data"]["tag"] == "grid_ledger_approval_r-1"

    # A second tap (another phone, a repeated event) pays nothing more.
    _tap(hass, "GRID_LEDGER_APPROVE_r-1")
    await hass.async_block_till_done()
    assert len(payments) == 1


async def test_each_request_waits_for_its_own_answer(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    other_meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    pushed: list[ServiceCall],
    payments: list[ServiceCall],
) -> None:
    await setup_automation(BLUEPRINT, {"approvers": [phone.id]})

    _request(hass, meter, "r-1", 42.17)
    _request(hass, other_meter, "r-2", 120)
    await _until(lambda: _waiting(hass) == 2)
    assert len(pushed) == 2

    _tap(hass, "GRID_LEDGER_APPROVE_r-2")
    await _until(lambda: _running(hass) == 1)
    assert [c.data for c in payments] == [{"device_id": other_meter.id, "amount": 120}]
    assert _waiting(hass) == 1

    _tap(hass, "GRID_LEDGER_DENY_r-1")
    await _until(lambda: _running(hass) == 0)
    assert len(payments) == 1
    assert pushed[-1].data == {
        "message": "clear_notification",
        "data": {"tag": "grid_ledger_approval_r-1"},
    }


async def test_not_now_withdraws_the_question(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    pushed: list[ServiceCall],
    payments: list[ServiceCall],
) -> None:
    await setup_automation(BLUEPRINT, {"approvers": [phone.id]})

    _request(hass, meter, "r-1", 42.17)
    await _until(lambda: _waiting(hass) == 1)
    _tap(hass, "GRID_LEDGER_DENY_r-1")
    await _until(lambda: _running(hass) == 0)
    # A later Pay on another phone finds the question withdrawn.
    _tap(hass, "GRID_LEDGER_APPROVE_r-1")
    await hass.async_block_till_done()

    assert payments == []
    assert pushed[-1].data == {
        "message": "clear_notification",
        "data": {"tag": "grid_ledger_approval_r-1"},
    }


async def test_request_lapses_after_the_time_to_answer(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    pushed: list[ServiceCall],
    payments: list[ServiceCall],
) -> None:
    await setup_automation(
        BLUEPRINT,
        {"approvers": [phone.id], "approval_timeout": {"hours": 1, "minutes": 0, "seconds": 0}},
    )

    _request(hass, meter, "r-1", 42.17)
    await _until(lambda: _waiting(hass) == 1)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=59))
    await _settle()
    assert _waiting(hass) == 1
    assert len(pushed) == 1

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=1, seconds=1))
    await _until(lambda: _running(hass) == 0)
    assert pushed[-1].data["message"] == "clear_notification"

    _tap(hass, "GRID_LEDGER_APPROVE_r-1")
    await hass.async_block_till_done()
    assert payments == []


async def test_a_payment_made_elsewhere_ends_the_question(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    other_meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    pushed: list[ServiceCall],
    payments: list[ServiceCall],
) -> None:
    await setup_automation(BLUEPRINT, {"approvers": [phone.id]})

    _request(hass, meter, "r-1", 42.17)
    await _until(lambda: _waiting(hass) == 1)
    confirmed = {"amount": 42.17, "currency": "USDC", "tx_hash": TX_HASH}
    hass.bus.async_fire("grid_ledger_payment_confirmed", {"device_id": other_meter.id, **confirmed})
    await _settle()
    assert _waiting(hass) == 1
    assert len(pushed) == 1

    hass.bus.async_fire("grid_ledger_payment_confirmed", {"device_id": meter.id, **confirmed})
    await _until(lambda: _running(hass) == 0)
    assert pushed[-1].data["message"] == "clear_notification"
    _tap(hass, "GRID_LEDGER_APPROVE_r-1")
    await hass.async_block_till_done()
    assert payments == []


async def test_a_failed_payment_is_reported(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    pushed: list[ServiceCall],
) -> None:
    attempts = async_mock_service(
        hass,
        "grid_ledger",
        "pay_bill",
        supports_response=SupportsResponse.OPTIONAL,
        raise_exception=HomeAssistantError("insufficient funds"),
    )
    await setup_automation(BLUEPRINT, {"approvers": [phone.id]})

    _request(hass, meter, "r-1", 42.17)
    await _until(lambda: _waiting(hass) == 1)
    _tap(hass, "GRID_LEDGER_APPROVE_r-1")
    await _until(lambda: _running(hass) == 0)

    assert len(attempts) == 1
    assert pushed[-1].data["title"] == "Payment failed: 42.17 USDC"
    assert pushed[-1].data["message"].startswith("The bill of House meter could not be paid")


@pytest.mark.parametrize(
    "data",
    [{"request_id": "", "amount": 42.17}, {"request_id": "r-1", "amount": 0}, {"amount": 42.17}],
)
async def test_malformed_requests_are_ignored(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    pushed: list[ServiceCall],
    data: dict[str, Any],
) -> None:
    await setup_automation(BLUEPRINT, {"approvers": [phone.id]})

    hass.bus.async_fire(
        "grid_ledger_payment_approval_requested",
        {"device_id": meter.id, "currency": "USDC", **data},
    )
    await hass.async_block_till_done()
    assert pushed == []


async def test_phones_are_a_required_input(hass: HomeAssistant, config_dir: object) -> None:
    config = {
        automation.DOMAIN: {
            "id": "grid_ledger_test",
            "alias": "Grid Ledger test",
            "use_blueprint": {"path": f"grid_ledger/{BLUEPRINT}", "input": {}},
        }
    }
    assert await async_setup_component(hass, automation.DOMAIN, config)
    await hass.async_block_till_done()
    assert hass.states.get("automation.grid_ledger_test").state == "unavailable"
