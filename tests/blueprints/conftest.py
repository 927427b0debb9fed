"""Fixtures of the blueprint tests: our blueprints in a fresh config folder, devices to target."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
import shutil
from typing import Any

from homeassistant.components import automation, persistent_notification
from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, selector
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

BLUEPRINTS = Path(__file__).resolve().parents[2] / "blueprints" / "automation" / "grid_ledger"
BLUEPRINT_FILES = sorted(path.name for path in BLUEPRINTS.glob("*.yaml"))

type SetUpAutomation = Callable[[str, dict[str, Any]], Awaitable[None]]


@pytest.fixture
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Point HA at an empty config folder holding our blueprints, as a user installs them."""
    hass.config.config_dir = str(tmp_path)
    target = Path(hass.config.path("blueprints", "automation", "grid_ledger"))
    shutil.copytree(BLUEPRINTS, target)
    return tmp_path


@pytest.fixture
def meter(hass: HomeAssistant) -> dr.DeviceEntry:
    """A Grid Ledger meter device, as the integration registers it."""
    entry = MockConfigEntry(domain="grid_ledger", title="Grid Ledger")
    entry.add_to_hass(hass)
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={("grid_ledger", "meter-7")}, name="House meter"
    )


@pytest.fixture
def other_meter(hass: HomeAssistant) -> dr.DeviceEntry:
    entry = MockConfigEntry(domain="grid_ledger", title="Grid Ledger workshop")
    entry.add_to_hass(hass)
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={("grid_ledger", "meter-8")}, name="Workshop"
    )


@pytest.fixture
def phone(hass: HomeAssistant) -> dr.DeviceEntry:
    """A phone registered by the mobile app: its notify action is notify.mobile_app_pixel_9."""
    entry = MockConfigEntry(domain="mobile_app", title="Pixel 9")
    entry.add_to_hass(hass)
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={("mobile_app", "pixel-9")}, name="Pixel 9"
    )


@pytest.fixture
def setup_automation(hass: HomeAssistant, config_dir: Path) -> SetUpAutomation:
    """Create one automation from one of our blueprints with the given inputs.

    Each input is first checked against its selector, as the automation editor would.
    """

    async def _setup(blueprint: str, inputs: dict[str, Any]) -> None:
        loaded = await async_get_blueprints(hass).async_get_blueprint(f"grid_ledger/{blueprint}")
        for key, value in inputs.items():
            selector.selector(loaded.inputs[key]["selector"])(value)
        config = {
            automation.DOMAIN: {
                "id": "grid_ledger_test",
                "alias": "Grid Ledger test",
                "use_blueprint": {"path": f"grid_ledger/{blueprint}", "input": inputs},
            }
        }
        assert await async_setup_component(hass, automation.DOMAIN, config)
        await hass.async_block_till_done()
        assert hass.states.get("automation.grid_ledger_test").state == "on"

    return _setup


@pytest.fixture
async def sidebar(hass: HomeAssistant) -> dict[str, persistent_notification.Notification]:
    """The persistent notifications shown, by id."""
    assert await async_setup_component(hass, persistent_notification.DOMAIN, {})
    shown: dict[str, persistent_notification.Notification] = {}

    @callback
    def _updated(
        update: persistent_notification.UpdateType,
        notifications: dict[str, persistent_notification.Notification],
    ) -> None:
        if update is persistent_notification.UpdateType.REMOVED:
            for key in notifications:
                shown.pop(key, None)
        else:
            shown.update(notifications)

    persistent_notification.async_register_callback(hass, _updated)
    return shown
