"""The announce blueprint tells of a trip and of the restore, and runs the user's own actions."""

from __future__ import annotations

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events, async_mock_service

from custom_components.grid_ledger.policy import Reason

from .conftest import SetUpAutomation

BLUEPRINT = "announce_trip_and_restore.yaml"


@pytest.fixture(autouse=True)
async def utc(hass: HomeAssistant) -> None:
    await hass.config.async_set_time_zone("UTC")


async def test_trip_then_restore(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    pushed = async_mock_service(hass, "notify", "mobile_app_pixel_9")
    cut = async_capture_events(hass, "house_dark")
    back = async_capture_events(hass, "house_lit")
    await setup_automation(
        BLUEPRINT,
        {
            "meters": [meter.id],
            "notify_devices": [phone.id],
            "on_tripped": [{"event": "house_dark", "event_data": {"who": "{{ meter_name }}"}}],
            "on_restored": [{"event": "house_lit"}],
        },
    )
    tag = f"grid_ledger_supply_{meter.id}"

    hass.bus.async_fire(
        "grid_ledger_tripped",
        {
            "device_id": meter.id,
            "permit_until": "2026-11-21T18:30:00+00:00",
            "reason": Reason.PERMIT_EXPIRED.value,
        },
    )
    await hass.async_block_till_done()

    assert pushed[-1].data["title"] == "Power cut: House meter"
    assert pushed[-1].data["message"] == (
        "Grid Ledger cut the power to House meter: the permit has ended (a bill is unpaid or "
        "the credit is used up). Pay the bill or top up to restore it."
    )
    assert pushed[-1].data["data"]["tag"] == tag
    assert sidebar[tag]["title"] == "Power cut: House meter"
    assert [e.data for e in cut] == [{"who": "House meter"}]
    assert back == []

    hass.bus.async_fire(
        "grid_ledger_restored",
        {"device_id": meter.id, "permit_until": "2026-12-21T18:30:00+00:00"},
    )
    await hass.async_block_till_done()

    assert len(pushed) == 2
    assert pushed[-1].data["title"] == "Power back on: House meter"
    assert pushed[-1].data["message"] == (
        "Grid Ledger turned the power to House meter back on. "
        "The permit runs until Mon 21 Dec, 18:30."
    )
    # The restore replaces the trip notification, on the phone and in the sidebar.
    assert pushed[-1].data["data"]["tag"] == tag
    assert list(sidebar) == [tag]
    assert sidebar[tag]["title"] == "Power back on: House meter"
    assert len(back) == 1
    assert len(cut) == 1


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (Reason.SWITCHED_ON_WHILE_EXPIRED, "the supply was switched back on while the permit"),
        (Reason.STATE_UNKNOWN_FAIL_CLOSED, "the fail-safe policy is fail-closed"),
    ],
)
async def test_trip_reasons_are_explained(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
    reason: Reason,
    text: str,
) -> None:
    await setup_automation(BLUEPRINT, {})

    hass.bus.async_fire(
        "grid_ledger_tripped",
        {"device_id": meter.id, "permit_until": None, "reason": reason.value},
    )
    await hass.async_block_till_done()

    assert text in sidebar[f"grid_ledger_supply_{meter.id}"]["message"]


async def test_restore_without_a_scheduled_expiry(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    other_meter: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    await setup_automation(BLUEPRINT, {"meters": [meter.id]})

    hass.bus.async_fire("grid_ledger_restored", {"device_id": other_meter.id, "permit_until": None})
    hass.bus.async_fire("grid_ledger_restored", {"device_id": meter.id, "permit_until": None})
    await hass.async_block_till_done()

    assert list(sidebar) == [f"grid_ledger_supply_{meter.id}"]
    assert sidebar[f"grid_ledger_supply_{meter.id}"]["message"] == (
        "Grid Ledger turned the power to House meter back on."
    )
