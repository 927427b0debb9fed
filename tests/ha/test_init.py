"""Setting up and unloading an entry, and the setup failures."""

from __future__ import annotations

import json

from eth_account import Account
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.grid_ledger.const import (
    CONF_CHAIN_ID,
    CONF_KEYSTORE,
    CONF_WALLET_KEY,
    CONF_WALLET_TYPE,
    DOMAIN,
    WALLET_KEYSTORE,
)
from tests.anvil import free_port

from .conftest import Ledger, MeterSetup, entry_data, make_entry

pytestmark = pytest.mark.usefixtures("socket_enabled")


async def test_setup_and_unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert entry.state is ConfigEntryState.LOADED
    meter_id = entry.data["meter_id"]
    reachable = hass.states.get(f"binary_sensor.grid_ledger_meter_{meter_id}_node_reachable")
    assert reachable is not None
    assert reachable.state == "on"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_node_down_means_not_ready(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    entry = make_entry(ledger, meter, rpc_url=f"http://127.0.0.1:{free_port()}")
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason == "The node did not answer"


async def test_wrong_chain_is_an_error(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, data={**entry_data(ledger, meter), CONF_CHAIN_ID: 1})
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "chain 31337" in str(entry.reason)


async def test_locked_keystore_starts_reauth(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    keystore = Account.encrypt(meter.wallet_key, "right", kdf="pbkdf2", iterations=2)
    data = entry_data(ledger, meter) | {
        CONF_WALLET_TYPE: WALLET_KEYSTORE,
        CONF_KEYSTORE: json.dumps(keystore),
        "password": "wrong",
    }
    data.pop(CONF_WALLET_KEY)
    entry = MockConfigEntry(domain=DOMAIN, data=data)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]

    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"password": "right"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert entry.state is ConfigEntryState.LOADED
