"""The Energy dashboard accepts our energy and price entities as grid consumption."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy import data as energy_data, validate as energy_validate
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from .conftest import LocalChain
from .test_entities import setup_fixed_meter

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must exist before Home Assistant starts."""


async def test_energy_dashboard_accepts_our_entities(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
) -> None:
    await setup_fixed_meter(hass, local_chain)
    energy_entity = "sensor.grid_ledger_meter_7_attested_energy"
    price_entity = "sensor.grid_ledger_meter_7_tariff_price"
    await async_wait_recording_done(hass)
    start = dt_util.utcnow().replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    freezer.move_to(start + timedelta(minutes=5, seconds=1))
    do_adhoc_statistics(hass, start=start)
    await async_wait_recording_done(hass)

    assert await async_setup_component(hass, "energy", {})
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "grid",
                    "flow_from": [
                        {
                            "stat_energy_from": energy_entity,
                            "stat_cost": None,
                            "entity_energy_price": price_entity,
                            "number_energy_price": None,
                        }
                    ],
                    "flow_to": [],
                    "cost_adjustment_day": 0,
                }
            ]
        }
    )
    hass.config.currency = "EUR"
    result = await energy_validate.async_validate(hass)
    assert result.as_dict() == {
        "energy_sources": [[]],
        "device_consumption": [],
        "device_consumption_water": [],
    }
