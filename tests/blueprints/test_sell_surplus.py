"""The sell-surplus blueprint offers each batch of minted tokens, less what is kept, starting
at the floor or at the market's best price when that is higher."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import async_mock_service

from .conftest import SetUpAutomation

BLUEPRINT = "sell_surplus.yaml"
BEST_PRICE = "sensor.grid_ledger_meter_7_best_market_price"


def _minted(hass: HomeAssistant, device: dr.DeviceEntry, kwh: float) -> None:
    """The event as the integration fires it (`Producer`)."""
    hass.bus.async_fire(
        "grid_ledger_tokens_minted",
        {
            "device_id": device.id,
            "kwh": kwh,
            "payer": "0x" + "11" * 20,
            "tx_hash": "0x" + "ab" * 32,
        },
    )


def best_price(hass: HomeAssistant, device: dr.DeviceEntry, price: str) -> None:
    """The meter's best-market-price sensor, on its device, reading `price`."""
    er.async_get(hass).async_get_or_create(
        "sensor",
        "grid_ledger",
        "meter-7-market_best_price",
        device_id=device.id,
        suggested_object_id="grid_ledger_meter_7_best_market_price",
    )
    hass.states.async_set(BEST_PRICE, price)


def _offers(calls: list[ServiceCall]) -> list[dict[str, Any]]:
    return [
        {key: call.data[key] for key in ("device_id", "amount", "start_price", "duration")}
        for call in calls
    ]


async def test_offers_the_surplus_at_the_floor(
    hass: HomeAssistant, setup_automation: SetUpAutomation, meter: dr.DeviceEntry
) -> None:
    offered = async_mock_service(hass, "grid_ledger", "offer_energy")
    await setup_automation(BLUEPRINT, {"meters": [meter.id], "floor_price": 0.12, "keep_kwh": 0.5})

    _minted(hass, meter, 2.25)
    _minted(hass, meter, 0.5)  # all kept: nothing to offer
    await hass.async_block_till_done()

    assert _offers(offered) == [
        {
            "device_id": meter.id,
            "amount": 1.75,
            "start_price": 0.12,
            "duration": {"hours": 2, "minutes": 0, "seconds": 0},
        }
    ]


async def test_starts_at_the_best_price_when_it_is_above_the_floor(
    hass: HomeAssistant, setup_automation: SetUpAutomation, meter: dr.DeviceEntry
) -> None:
    offered = async_mock_service(hass, "grid_ledger", "offer_energy")
    best_price(hass, meter, "0.2")
    await setup_automation(BLUEPRINT, {"floor_price": 0.12, "duration": {"minutes": 30}})

    _minted(hass, meter, 1)
    await hass.async_block_till_done()
    hass.states.async_set(BEST_PRICE, "0.05")  # below the floor: the floor stands
    _minted(hass, meter, 1)
    await hass.async_block_till_done()

    assert [(o["start_price"], o["duration"]) for o in _offers(offered)] == [
        (0.2, {"minutes": 30}),
        (0.12, {"minutes": 30}),
    ]


async def test_not_following_the_market_starts_at_the_floor(
    hass: HomeAssistant, setup_automation: SetUpAutomation, meter: dr.DeviceEntry
) -> None:
    offered = async_mock_service(hass, "grid_ledger", "offer_energy")
    best_price(hass, meter, "0.2")
    await setup_automation(BLUEPRINT, {"floor_price": 0.12, "follow_market": False})

    _minted(hass, meter, 1)
    await hass.async_block_till_done()
    assert [o["start_price"] for o in _offers(offered)] == [0.12]


async def test_ignores_meters_not_chosen(
    hass: HomeAssistant,
    setup_automation: SetUpAutomation,
    meter: dr.DeviceEntry,
    other_meter: dr.DeviceEntry,
) -> None:
    offered = async_mock_service(hass, "grid_ledger", "offer_energy")
    await setup_automation(BLUEPRINT, {"meters": [other_meter.id]})

    _minted(hass, meter, 1)
    await hass.async_block_till_done()
    assert offered == []
    _minted(hass, other_meter, 1)
    await hass.async_block_till_done()
    assert [o["device_id"] for o in _offers(offered)] == [other_meter.id]
