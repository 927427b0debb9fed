"""The permit pushed to the meter's local copy: HA's real esphome integration and the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.grid_ledger.const import CONF_RELAY_ENTITY, DOMAIN
from custom_components.grid_ledger.enforcement import ESPHOME_MAX_UNTIL
from tests.esphome.fixtures import simulator_build  # noqa: F401
from tests.esphome.simulator import (
    TEST_NAME,
    SimulatorBuild,
    SimulatorProcess,
    parse_permit_until,
    running_simulator,
)

from .conftest import Ledger, MeterSetup, entry_data, set_register
from .enforcement_fixtures import settle, wait_for

pytestmark = pytest.mark.usefixtures("socket_enabled", "enable_bluetooth")

SERVICE = f"{TEST_NAME.replace('-', '_')}_set_permit_until"


@pytest.fixture
def sim(simulator_build: SimulatorBuild, tmp_path: Path) -> Iterator[SimulatorProcess]:  # noqa: F811
    with running_simulator(simulator_build.program, tmp_path) as process:
        yield process


async def setup_node(hass: HomeAssistant, sim: SimulatorProcess) -> MockConfigEntry:
    assert await async_setup_component(hass, "homeassistant", {})  # conversation needs it
    node = MockConfigEntry(
        domain="esphome",
        title=TEST_NAME,
        data={"host": "127.0.0.1", "port": sim.port, "password": "", "device_name": TEST_NAME},
    )
    node.add_to_hass(hass)
    assert await hass.config_entries.async_setup(node.entry_id)
    await wait_for(hass, lambda: hass.services.has_service("esphome", SERVICE))
    return node


def node_entity(hass: HomeAssistant, node: MockConfigEntry, domain: str, suffix: str) -> str:
    for entity in er.async_entries_for_config_entry(er.async_get(hass), node.entry_id):
        if entity.domain == domain and entity.entity_id.endswith(suffix):
            return entity.entity_id
    raise AssertionError(f"no {domain} *{suffix} on the node")


async def test_permit_is_pushed_to_the_meter_on_start_and_on_change(
    hass: HomeAssistant, sim: SimulatorProcess, ledger: Ledger, meter: MeterSetup
) -> None:
    node = await setup_node(hass, sim)
    relay = node_entity(hass, node, "switch", "relay")
    permit_sensor = node_entity(hass, node, "sensor", "permit_until")

    def node_permit() -> int | None:
        state = hass.states.get(permit_sensor)
        if state is None or state.state in ("unknown", "unavailable"):
            return None
        return parse_permit_until(state.state)

    await set_register(hass, 1.0)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Meter {meter.meter_id}",
        data={**entry_data(ledger, meter), CONF_RELAY_ENTITY: relay},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    until = int(ledger.contract.functions.permitUntil(meter.meter_id).call())
    await wait_for(hass, lambda: node_permit() == until)

    ledger.deployment.set_protected(meter.meter_id)
    await wait_for(hass, lambda: node_permit() == ESPHOME_MAX_UNTIL)

    # The meter is replaced by one with an empty flash: on reconnect it gets the permit again.
    await hass.async_add_executor_job(sim.stop)
    await wait_for(hass, lambda: hass.states.get(relay).state == "unavailable")  # type: ignore[union-attr]
    for stored in sim.prefdir.iterdir():
        stored.unlink()
    await hass.async_add_executor_job(sim.start)
    await wait_for(hass, lambda: hass.states.get(relay).state in ("on", "off"), seconds=60)  # type: ignore[union-attr]

    def pushes() -> int:
        return sim.log_path.read_text(errors="replace").count(f"Permit until {ESPHOME_MAX_UNTIL}")

    await wait_for(hass, lambda: pushes() == 2)  # once before the restart, once after
    await wait_for(hass, lambda: node_permit() == ESPHOME_MAX_UNTIL)
    await settle(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_unload(node.entry_id)
