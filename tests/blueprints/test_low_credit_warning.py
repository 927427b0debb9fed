"""The low-credit blueprint warns once per quiet period."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import async_mock_service

from .conftest import SetUpAutomation

BLUEPRINT = "low_credit_warning.yaml"


def _low_credit(hass: HomeAssistant, device: dr.DeviceEntry, balance: float) -> None:
    hass.bus.async_fire(
        "grid_ledger_low_credit",
        {"device_id": device.id, "balance": balance, "threshold": 5, "currency": "USDC"},
    )


async def test_warns_with_balance_and_threshold(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    pushed = async_mock_service(hass, "notify", "mobile_app_pixel_9")
    await setup_automation(BLUEPRINT, {"meters": [meter.id], "notify_devices": [phone.id]})

    _low_credit(hass, meter, 4.25)
    await hass.async_block_till_done()

    assert len(pushed) == 1
    assert pushed[0].data["title"] == "Low credit on House meter"
    assert pushed[0].data["message"] == (
        "Credit is 4.25 USDC, below 5 USDC. Top up to keep the power on."
    )
    assert sidebar[f"grid_ledger_low_credit_{meter.id}"]["message"] == pushed[0].data["message"]


async def test_quiet_period_absorbs_repeats(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    other_meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    pushed = async_mock_service(hass, "notify", "mobile_app_pixel_9")
    await setup_automation(
        BLUEPRINT,
        {
            "notify_devices": [phone.id],
            "persistent": False,
            "quiet_period": {"hours": 2, "minutes": 0, "seconds": 0},
        },
    )

    _low_credit(hass, meter, 4)
    await hass.async_block_till_done()
    freezer.tick(timedelta(hours=2) - timedelta(seconds=1))
    _low_credit(hass, meter, 3)
    _low_credit(hass, other_meter, 3)
    await hass.async_block_till_done()
    assert [c.data["message"].split(",")[0] for c in pushed] == ["Credit is 4 USDC"]

    freezer.tick(timedelta(seconds=1))
    _low_credit(hass, meter, 2.5)
    await hass.async_block_till_done()
    assert [c.data["message"].split(",")[0] for c in pushed] == [
        "Credit is 4 USDC",
        "Credit is 2.5 USDC",
    ]


async def test_ignores_meters_not_chosen(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    other_meter: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    await setup_automation(BLUEPRINT, {"meters": [other_meter.id]})

    _low_credit(hass, meter, 1)
    await hass.async_block_till_done()
    assert sidebar == {}

    _low_credit(hass, other_meter, 1)
    await hass.async_block_till_done()
    assert list(sidebar) == [f"grid_ledger_low_credit_{other_meter.id}"]
    assert sidebar[f"grid_ledger_low_credit_{other_meter.id}"]["title"] == "Low credit on Workshop"
