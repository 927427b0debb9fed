"""Config flow of a feeder meter: every step, branch and error, against the contract on anvil."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.grid_ledger.const import (
    CONF_BAUDRATE,
    CONF_ENERGY_ENTITY,
    CONF_ENERGY_SOURCE,
    CONF_EXPORT_ENTITY,
    CONF_FEEDER_ID,
    CONF_FEEDER_KEY,
    CONF_READING_INTERVAL,
    CONF_SERIAL_PORT,
    CONF_SETTLEMENT,
    CONF_WALLET_KEY,
)

from .conftest import (
    FEEDER_ENTITY,
    FeederSetup,
    Ledger,
    deploy,
    make_feeder_entry,
    register_feeder,
    start_anvil,
)
from .test_config_flow import chain_form, reconfigure_checks_the_node
from .test_serial_meter import Meter

pytestmark = pytest.mark.usefixtures("socket_enabled")
SETUP = "custom_components.grid_ledger.async_setup_entry"


@pytest.fixture
def feeder(ledger: Ledger, socket_enabled: None) -> FeederSetup:
    return register_feeder(ledger)


async def feeder_step(hass: HomeAssistant, url: str, contract: str) -> dict[str, Any]:
    result = await chain_form(hass, "feeder")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": url, "contract_address": contract}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "feeder_meter"
    return result


def feeder_input(feeder: FeederSetup, **overrides: Any) -> dict[str, Any]:
    return {
        CONF_FEEDER_ID: feeder.feeder_id,
        CONF_FEEDER_KEY: feeder.feeder_key,
        CONF_ENERGY_SOURCE: "entity",
        CONF_ENERGY_ENTITY: FEEDER_ENTITY,
        **overrides,
    }


async def test_feeder_flow_with_an_energy_sensor(
    hass: HomeAssistant, ledger: Ledger, feeder: FeederSetup
) -> None:
    result = await feeder_step(hass, ledger.anvil.rpc_url, ledger.address.lower())
    assert result["description_placeholders"] == {"chain_id": "31337", "version": "3.0.0"}
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], feeder_input(feeder)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Feeder {feeder.feeder_id}"
    assert result["data"] == {
        "url": ledger.anvil.rpc_url,
        "contract_address": ledger.address,
        "chain_id": 31337,
        CONF_FEEDER_ID: feeder.feeder_id,
        CONF_FEEDER_KEY: feeder.feeder_key,
        CONF_ENERGY_ENTITY: FEEDER_ENTITY,
    }
    assert result["options"] == {CONF_READING_INTERVAL: 15}
    unique_id = f"31337-{ledger.address.lower()}-feeder-{feeder.feeder_id}"
    assert result["result"].unique_id == unique_id


async def test_feeder_flow_with_a_serial_meter(
    hass: HomeAssistant, ledger: Ledger, feeder: FeederSetup
) -> None:
    result = await feeder_step(hass, ledger.anvil.rpc_url, ledger.address)
    user_input = feeder_input(feeder, **{CONF_ENERGY_SOURCE: "serial"})
    del user_input[CONF_ENERGY_ENTITY]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["step_id"] == "meter_serial"
    async with Meter() as meter:
        with patch(SETUP, return_value=True):
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_SERIAL_PORT: meter.port, CONF_BAUDRATE: "9600"}
            )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Feeder {feeder.feeder_id}"
    assert result["data"][CONF_SERIAL_PORT] == meter.port
    assert CONF_ENERGY_ENTITY not in result["data"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({CONF_FEEDER_ID: 999_999}, {CONF_FEEDER_ID: "unknown_feeder"}),
        ({CONF_FEEDER_KEY: "0x" + "11" * 32}, {CONF_FEEDER_KEY: "feeder_key_mismatch"}),
        ({CONF_FEEDER_KEY: "zz"}, {CONF_FEEDER_KEY: "invalid_key"}),
        ({CONF_ENERGY_ENTITY: None}, {CONF_ENERGY_ENTITY: "energy_entity_required"}),
    ],
)
async def test_feeder_step_errors(
    hass: HomeAssistant,
    ledger: Ledger,
    feeder: FeederSetup,
    change: dict[str, Any],
    error: dict[str, str],
) -> None:
    result = await feeder_step(hass, ledger.anvil.rpc_url, ledger.address)
    wrong = {k: v for k, v in feeder_input(feeder, **change).items() if v is not None}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], wrong)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error
    # The form comes back with what was entered, never the key; the user corrects and goes on.
    suggested = {
        str(field): field.description["suggested_value"]
        for field in result["data_schema"].schema
        if "suggested_value" in (field.description or {})
    }
    assert suggested[CONF_FEEDER_ID] == wrong[CONF_FEEDER_ID]
    assert CONF_FEEDER_KEY not in suggested
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], feeder_input(feeder)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_feeder_step_node_gone(hass: HomeAssistant, ledger: Ledger) -> None:
    node = start_anvil()
    try:
        other = deploy(node)
        feeder = register_feeder(other)
        result = await feeder_step(hass, node.rpc_url, other.address)
    finally:
        node.stop()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], feeder_input(feeder))
    assert result["errors"] == {"base": "cannot_connect"}


async def test_feeder_already_configured(
    hass: HomeAssistant, ledger: Ledger, feeder: FeederSetup
) -> None:
    make_feeder_entry(ledger, feeder).add_to_hass(hass)
    result = await feeder_step(hass, ledger.anvil.rpc_url, ledger.address)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], feeder_input(feeder))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_a_feeder_changes_only_the_node(
    hass: HomeAssistant, ledger: Ledger, feeder: FeederSetup
) -> None:
    entry = make_feeder_entry(ledger, feeder)
    entry.add_to_hass(hass)
    result = await reconfigure_checks_the_node(hass, entry)
    assert [str(field) for field in result["data_schema"].schema] == ["url"]
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"url": ledger.anvil.ws_url}
        )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["url"] == ledger.anvil.ws_url
    assert entry.data[CONF_FEEDER_KEY] == feeder.feeder_key
    assert CONF_EXPORT_ENTITY not in entry.data


async def test_a_feeder_options_are_its_reading_interval_and_settlement(
    hass: HomeAssistant, ledger: Ledger, feeder: FeederSetup
) -> None:
    entry = make_feeder_entry(ledger, feeder)
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    fields = [str(field) for field in result["data_schema"].schema]
    assert fields == [CONF_READING_INTERVAL, CONF_SETTLEMENT]
    settlement = ledger.deployment.settlement
    assert settlement is not None
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {CONF_READING_INTERVAL: 5.0, CONF_SETTLEMENT: str(settlement.address)},
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_READING_INTERVAL: 5, CONF_SETTLEMENT: settlement.address}


async def test_the_feeder_key_is_not_a_wallet_step(
    hass: HomeAssistant, ledger: Ledger, feeder: FeederSetup
) -> None:
    """A feeder's key pays its own gas: the flow asks for no wallet."""
    result = await feeder_step(hass, ledger.anvil.rpc_url, ledger.address)
    fields = {str(field) for field in result["data_schema"].schema}
    assert fields == {CONF_FEEDER_ID, CONF_FEEDER_KEY, CONF_ENERGY_SOURCE, CONF_ENERGY_ENTITY}
    assert CONF_WALLET_KEY not in fields
