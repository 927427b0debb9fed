"""The feeder-loss blueprint alerts on each period a watched feeder lost more than its
tolerance (by the chosen margin), with the figures the integration's event carries."""

from __future__ import annotations

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import async_mock_service

from .conftest import SetUpAutomation

BLUEPRINT = "feeder_loss_alert.yaml"


def _loss_detected(
    hass: HomeAssistant, device: dr.DeviceEntry, period: int, loss: float, tolerance: float = 5.0
) -> None:
    """The event as the integration fires it (`LossWatch`)."""
    hass.bus.async_fire(
        "grid_ledger_loss_detected",
        {
            "device_id": device.id,
            "feeder_id": 7,
            "period": period,
            "loss_percent": loss,
            "tolerance_percent": tolerance,
            "feeder_kwh": 2.0,
            "children_kwh": round(2.0 * (1 - loss / 100), 3),
        },
    )


async def test_alerts_with_the_period_loss_and_tolerance(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    pushed = async_mock_service(hass, "notify", "mobile_app_pixel_9")
    await setup_automation(BLUEPRINT, {"meters": [meter.id], "notify_devices": [phone.id]})

    _loss_detected(hass, meter, period=12, loss=75.0)
    await hass.async_block_till_done()

    assert len(pushed) == 1
    assert pushed[0].data["title"] == "Losses on House meter: 75.0 %"
    assert pushed[0].data["message"] == (
        "In period 12, feeder 7 measured 2.0 kWh and the meters below it reported 0.5 kWh: "
        "75.0 % was lost, above its tolerance of 5.0 %. Look for an illegal tap, a meter that "
        "under-reports, or a line fault."
    )
    assert pushed[0].data["data"]["tag"] == f"grid_ledger_loss_detected_{meter.id}"
    notification = sidebar[f"grid_ledger_loss_detected_{meter.id}"]
    assert notification["message"] == pushed[0].data["message"]


async def test_each_period_alerts_and_replaces_the_sidebar_notification(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    await setup_automation(BLUEPRINT, {})

    _loss_detected(hass, meter, period=12, loss=75.0)
    _loss_detected(hass, meter, period=13, loss=50.0)
    await hass.async_block_till_done()

    assert list(sidebar) == [f"grid_ledger_loss_detected_{meter.id}"]
    assert sidebar[f"grid_ledger_loss_detected_{meter.id}"]["title"] == (
        "Losses on House meter: 50.0 %"
    )


async def test_a_margin_ignores_small_excesses(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
) -> None:
    pushed = async_mock_service(hass, "notify", "mobile_app_pixel_9")
    await setup_automation(
        BLUEPRINT, {"notify_devices": [phone.id], "persistent": False, "margin": 10}
    )

    _loss_detected(hass, meter, period=3, loss=14.5)  # 9.5 points above the tolerance
    await hass.async_block_till_done()
    assert pushed == []

    _loss_detected(hass, meter, period=4, loss=15.0)  # 10 points above
    await hass.async_block_till_done()
    assert [call.data["title"] for call in pushed] == ["Losses on House meter: 15.0 %"]


async def test_ignores_feeders_not_chosen(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    other_meter: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    await setup_automation(BLUEPRINT, {"meters": [other_meter.id]})

    _loss_detected(hass, meter, period=5, loss=30.0)
    await hass.async_block_till_done()
    assert sidebar == {}

    _loss_detected(hass, other_meter, period=5, loss=30.0)
    await hass.async_block_till_done()
    assert sidebar[f"grid_ledger_loss_detected_{other_meter.id}"]["title"] == (
        "Losses on Workshop: 30.0 %"
    )
