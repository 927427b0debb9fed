"""The notify-before-trip blueprint passes on the integration's trip warnings."""

from __future__ import annotations

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import async_mock_service

from .conftest import SetUpAutomation

BLUEPRINT = "notify_before_trip.yaml"
PERMIT_UNTIL = "2026-11-21T18:30:00+00:00"


async def test_warning_reaches_the_phone_and_the_sidebar(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    await hass.config.async_set_time_zone("UTC")
    pushed = async_mock_service(hass, "notify", "mobile_app_pixel_9")
    await setup_automation(BLUEPRINT, {"meters": [meter.id], "notify_devices": [phone.id]})

    hass.bus.async_fire(
        "grid_ledger_trip_warning",
        {"device_id": meter.id, "permit_until": PERMIT_UNTIL, "lead_time": 3600},
    )
    await hass.async_block_till_done()

    assert len(pushed) == 1
    data = pushed[0].data
    assert data["title"] == "Power cut in 1 h"
    assert data["message"] == (
        "Power to House meter will be cut at Sat 21 Nov, 18:30 unless the bill is paid or "
        "credit is topped up."
    )
    assert data["data"]["tag"] == f"grid_ledger_trip_{meter.id}"
    assert sidebar[f"grid_ledger_trip_{meter.id}"]["title"] == "Power cut in 1 h"


async def test_default_lead_passes_both_default_warnings(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    other_meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
) -> None:
    """No meters chosen: every meter; default `Notify from` of 24 h: both default warnings."""
    pushed = async_mock_service(hass, "notify", "mobile_app_pixel_9")
    await setup_automation(BLUEPRINT, {"notify_devices": [phone.id], "persistent": False})

    for device, lead in ((meter, 86400), (other_meter, 5400), (meter, 86401)):
        hass.bus.async_fire(
            "grid_ledger_trip_warning",
            {"device_id": device.id, "permit_until": PERMIT_UNTIL, "lead_time": lead},
        )
        await hass.async_block_till_done()

    assert [(c.data["title"], c.data["data"]["tag"]) for c in pushed] == [
        ("Power cut in 24 h", f"grid_ledger_trip_{meter.id}"),
        ("Power cut in 1 h 30 min", f"grid_ledger_trip_{other_meter.id}"),
    ]
    assert "Workshop" in pushed[1].data["message"]


async def test_only_the_chosen_meters_and_lead_time(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    other_meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    pushed = async_mock_service(hass, "notify", "mobile_app_pixel_9")
    await setup_automation(
        BLUEPRINT,
        {
            "meters": [meter.id],
            "lead_time": {"hours": 1, "minutes": 0, "seconds": 0},
            "notify_devices": [phone.id],
            "persistent": False,
        },
    )

    for device, lead in ((meter, 86400), (other_meter, 3600), (meter, 600)):
        hass.bus.async_fire(
            "grid_ledger_trip_warning",
            {"device_id": device.id, "permit_until": PERMIT_UNTIL, "lead_time": lead},
        )
        await hass.async_block_till_done()

    assert [c.data["title"] for c in pushed] == ["Power cut in 10 min"]
    assert sidebar == {}


async def test_sidebar_only(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    """Without phones the defaults still warn, in the sidebar."""
    await setup_automation(BLUEPRINT, {})

    hass.bus.async_fire(
        "grid_ledger_trip_warning",
        {"device_id": meter.id, "permit_until": PERMIT_UNTIL, "lead_time": 86400},
    )
    await hass.async_block_till_done()

    assert list(sidebar) == [f"grid_ledger_trip_{meter.id}"]
    assert sidebar[f"grid_ledger_trip_{meter.id}"]["message"].startswith("Power to House meter")
