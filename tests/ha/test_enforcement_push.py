"""The permit push when the relay's ESPHome node offers the action: found through the relay's
config entry, sent when the action appears and on every change, retried after a failure."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import RELAY_ENTITY
from .enforcement_fixtures import (
    Grid,
    grid_fixture,  # noqa: F401
    node_fixture,  # noqa: F401
    poll_events,
    settle,
    setup_grid_entry,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")
ACTION = "meter_1_set_permit_until"


def esphome_relay(hass: HomeAssistant) -> None:
    """`switch.house_supply` as an entity of the ESPHome node `meter-1`."""
    node = MockConfigEntry(domain="esphome", data={"device_name": "meter-1"})
    node.add_to_hass(hass)
    er.async_get(hass).async_get_or_create(
        "switch", "esphome", "relay", config_entry=node, suggested_object_id="house_supply"
    )
    hass.states.async_set(RELAY_ENTITY, "on")


async def test_push_when_the_action_appears_and_on_change(hass: HomeAssistant, grid: Grid) -> None:
    esphome_relay(hass)
    calls: list[dict[str, Any]] = []
    fail = [True]

    async def _set_permit(call: ServiceCall) -> None:
        if fail[0]:
            fail[0] = False
            raise HomeAssistantError("node away")
        calls.append(dict(call.data))

    await setup_grid_entry(hass, grid)
    assert calls == []  # no action yet: nothing pushed
    hass.services.async_register("esphome", ACTION, _set_permit)
    await settle(hass)  # the first push fails: it is retried on the next evaluation
    assert calls == []
    hass.services.async_remove("esphome", ACTION)
    hass.services.async_register("esphome", ACTION, _set_permit)
    await settle(hass)
    assert calls == [{"until": grid.permit_until()}]

    grid.ledger.deployment.set_protected(grid.meter.meter_id)
    await poll_events(hass, grid, lambda: len(calls) == 2)
    assert calls[-1] == {"until": 2**31 - 1}

    # The node went away and came back: it gets the permit again.
    hass.states.async_set(RELAY_ENTITY, "unavailable")
    await settle(hass)
    hass.states.async_set(RELAY_ENTITY, "on")
    await settle(hass)
    assert calls[-1] == {"until": 2**31 - 1}
    assert len(calls) == 3
