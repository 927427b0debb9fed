"""Enforcement through real faults: the node cut off at expiry, Home Assistant restarted."""

from __future__ import annotations

from collections.abc import AsyncIterator

from homeassistant.core import HomeAssistant
import pytest

from custom_components.grid_ledger.const import CONF_FAIL_SAFE
from tests.payments.proxy import CuttableProxy

from .enforcement_fixtures import (
    SUPPLY_BOOLEAN,
    Grid,
    grid_fixture,  # noqa: F401
    node_fixture,  # noqa: F401
    relay_state,
    settle,
    setup_grid_entry,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def proxy(grid: Grid) -> AsyncIterator[CuttableProxy]:
    """A loopback proxy in front of the grid's node that the test can cut."""
    cuttable = CuttableProxy(grid.node.port)
    await cuttable.start()
    yield cuttable
    await cuttable.close()


async def cut(proxy: CuttableProxy) -> None:
    proxy.refuse = True
    await proxy.cut()


@pytest.mark.parametrize(
    ("fail_safe", "relay_after", "reason"),
    [
        ("fail_open", "on", None),
        ("fail_closed", "off", "state_unknown_fail_closed"),
    ],
)
async def test_node_down_at_expiry(
    hass: HomeAssistant,
    grid: Grid,
    proxy: CuttableProxy,
    fail_safe: str,
    relay_after: str,
    reason: str | None,
) -> None:
    until = grid.permit_until()
    entry = await setup_grid_entry(hass, grid, {CONF_FAIL_SAFE: fail_safe}, rpc_url=proxy.url)
    coordinator = entry.runtime_data.coordinator
    await cut(proxy)
    await grid.move_to(hass, until)
    assert not coordinator.last_update_success  # the read at expiry failed: the permit is unknown
    assert relay_state(hass) == relay_after
    reasons = [event["reason"] for event in grid.of("grid_ledger_tripped")]
    assert reasons == ([reason] if reason else [])

    # The node answers again and confirms the expiry: the supply is off either way.
    proxy.refuse = False
    await coordinator.async_refresh()
    await settle(hass)
    assert coordinator.last_update_success
    assert relay_state(hass) == "off"
    reasons = [event["reason"] for event in grid.of("grid_ledger_tripped")]
    assert reasons == [reason or "permit_expired"]


async def test_fail_closed_keeps_a_valid_permit_while_the_node_is_down(
    hass: HomeAssistant, grid: Grid, proxy: CuttableProxy
) -> None:
    until = grid.permit_until()
    entry = await setup_grid_entry(hass, grid, {CONF_FAIL_SAFE: "fail_closed"}, rpc_url=proxy.url)
    await cut(proxy)
    await entry.runtime_data.coordinator.async_refresh()
    await grid.move_to(hass, until - 1)
    assert relay_state(hass) == "on"  # the last known permit still runs
    await grid.move_to(hass, until)
    assert relay_state(hass) == "off"


async def test_tripped_survives_a_restart(hass: HomeAssistant, grid: Grid) -> None:
    until = grid.permit_until()
    entry = await setup_grid_entry(hass, grid)
    await grid.move_to(hass, until)
    assert relay_state(hass) == "off"

    # Home Assistant is down; someone switches the supply on by hand.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": SUPPLY_BOOLEAN}, blocking=True
    )
    await settle(hass)
    assert relay_state(hass) == "on"
    assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)
    assert relay_state(hass) == "off"
    reasons = [event["reason"] for event in grid.of("grid_ledger_tripped")]
    assert reasons == ["permit_expired", "switched_on_while_expired"]

    # Paid while Home Assistant was down: restored when it starts.
    assert await hass.config_entries.async_unload(entry.entry_id)
    grid.pay()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)
    assert relay_state(hass) == "on"
    assert len(grid.of("grid_ledger_restored")) == 1


async def test_switched_on_by_hand_after_paying_while_down(hass: HomeAssistant, grid: Grid) -> None:
    """Tripped, paid and switched on by hand while HA was down: nothing to do, nothing to undo."""
    until = grid.permit_until()
    entry = await setup_grid_entry(hass, grid)
    await grid.move_to(hass, until)
    assert await hass.config_entries.async_unload(entry.entry_id)
    grid.pay()
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": SUPPLY_BOOLEAN}, blocking=True
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)
    assert relay_state(hass) == "on"
    assert entry.runtime_data.enforcer is not None
    assert not entry.runtime_data.enforcer.tripped
    assert grid.of("grid_ledger_restored") == []
