"""The outbid blueprint tells the household of each outbid bid, with the lot and the new price."""

from __future__ import annotations

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import async_mock_service

from .conftest import SetUpAutomation

BLUEPRINT = "notify_when_outbid.yaml"


def _outbid(hass: HomeAssistant, device: dr.DeviceEntry, lot_id: int, price: float) -> None:
    """The event as the integration fires it (`Market`)."""
    hass.bus.async_fire(
        "grid_ledger_outbid",
        {
            "device_id": device.id,
            "lot_id": lot_id,
            "price_per_kwh": price,
            "currency": "ETH",
            "tx_hash": "0x" + "ab" * 32,
        },
    )


async def test_tells_each_outbid_with_lot_and_price(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    pushed = async_mock_service(hass, "notify", "mobile_app_pixel_9")
    await setup_automation(BLUEPRINT, {"meters": [meter.id], "notify_devices": [phone.id]})

    _outbid(hass, meter, 7, 0.00105)
    _outbid(hass, meter, 8, 0.2)
    await hass.async_block_till_done()

    assert [call.data["title"] for call in pushed] == ["Outbid on lot 7", "Outbid on lot 8"]
    assert pushed[0].data["message"] == (
        "House meter: a neighbour bid 0.00105 ETH/kWh for lot 7. Bid again before the auction "
        "ends; your payment waits as a refund."
    )
    assert pushed[0].data["data"]["tag"] == f"grid_ledger_outbid_{meter.id}_7"
    assert sorted(sidebar) == [
        f"grid_ledger_outbid_{meter.id}_7",
        f"grid_ledger_outbid_{meter.id}_8",
    ]


async def test_ignores_meters_not_chosen(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    other_meter: dr.DeviceEntry,
    sidebar: dict[str, persistent_notification.Notification],
) -> None:
    await setup_automation(BLUEPRINT, {"meters": [other_meter.id]})

    _outbid(hass, meter, 3, 0.1)
    await hass.async_block_till_done()
    assert sidebar == {}

    _outbid(hass, other_meter, 3, 0.1)
    await hass.async_block_till_done()
    assert list(sidebar) == [f"grid_ledger_outbid_{other_meter.id}_3"]
    assert sidebar[f"grid_ledger_outbid_{other_meter.id}_3"]["message"].startswith("Workshop: ")
