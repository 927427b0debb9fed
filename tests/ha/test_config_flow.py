"""Config flow: every step, branch and error, against the contract on anvil."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import patch

from aiohttp import web
from eth_account import Account
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.grid_ledger.chain import UnsupportedVersionError, address_of
from custom_components.grid_ledger.const import (
    CONF_EXPORT_ENTITY,
    CONF_KEYSTORE,
    CONF_METER_ID,
    CONF_METER_KEY,
    CONF_READING_INTERVAL,
    CONF_REDEEM_TOKENS,
    CONF_WALLET_KEY,
    CONF_WALLET_TYPE,
    DOMAIN,
    WALLET_GENERATED,
    WALLET_KEYSTORE,
)
from tests.anvil import free_port

from .conftest import (
    ENERGY_ENTITY,
    RELAY_ENTITY,
    Ledger,
    MeterSetup,
    deploy,
    make_entry,
    register_meter,
    start_anvil,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")
EXPORT_ENTITY = "sensor.house_export"


async def chain_form(hass: HomeAssistant, kind: str = "household") -> dict[str, Any]:
    """The chain step, after choosing the kind of meter in the first step's menu."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["household", "feeder"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": kind}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "chain"
    return result


async def start(hass: HomeAssistant, ledger: Ledger) -> dict[str, Any]:
    result = await chain_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": ledger.anvil.rpc_url, "contract_address": ledger.address.lower()}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "wallet"
    assert result["description_placeholders"]["chain_id"] == "31337"
    return result


def meter_input(meter: MeterSetup, **overrides: Any) -> dict[str, Any]:
    return {
        CONF_METER_ID: meter.meter_id,
        CONF_METER_KEY: meter.meter_key,
        "energy_entity": ENERGY_ENTITY,
        "relay_entity": RELAY_ENTITY,
        **overrides,
    }


async def choose_key(hass: HomeAssistant, flow: dict[str, Any], key: str) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": "wallet_key"}
    )
    assert result["step_id"] == "wallet_key"
    return await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_WALLET_KEY: key})


async def test_user_flow_with_imported_key(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    result = await choose_key(hass, await start(hass, ledger), meter.wallet_key)
    assert result["step_id"] == "meter"
    assert result["description_placeholders"]["address"] == meter.wallet_address
    with patch("custom_components.grid_ledger.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], meter_input(meter)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Meter {meter.meter_id}"
    data = result["data"]
    assert data["contract_address"] == ledger.address
    assert data["chain_id"] == 31337
    assert data[CONF_METER_ID] == meter.meter_id
    assert result["options"] == {CONF_READING_INTERVAL: 15}
    assert result["result"].unique_id == f"31337-{ledger.address.lower()}-{meter.meter_id}"


async def test_user_flow_with_keystore(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    keystore = Account.encrypt(meter.wallet_key, "correct horse", kdf="pbkdf2", iterations=2)
    flow = await start(hass, ledger)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": "wallet_keystore"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEYSTORE: json.dumps(keystore), "password": "wrong"}
    )
    assert result["errors"] == {"password": "invalid_keystore"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEYSTORE: json.dumps(keystore), "password": "correct horse"}
    )
    assert result["step_id"] == "meter"
    with patch("custom_components.grid_ledger.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], meter_input(meter)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_WALLET_TYPE] == WALLET_KEYSTORE
    assert CONF_WALLET_KEY not in result["data"]


async def test_generated_wallet_must_be_the_meter_payer(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    flow = await start(hass, ledger)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": "wallet_generate"}
    )
    assert result["step_id"] == "wallet_generate"
    address = result["description_placeholders"]["address"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "meter"
    assert result["description_placeholders"]["address"] == address
    result = await hass.config_entries.flow.async_configure(result["flow_id"], meter_input(meter))
    assert result["errors"] == {CONF_METER_ID: "meter_not_bound"}

    ledger.transact(ledger.contract.functions.setMeterPayer(meter.meter_id, address))
    with patch("custom_components.grid_ledger.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], meter_input(meter)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_WALLET_TYPE] == WALLET_GENERATED
    assert address_of(result["data"][CONF_WALLET_KEY]) == address


@pytest.mark.parametrize(
    ("url", "contract", "error"),
    [
        (None, "0x1234", {"contract_address": "invalid_address"}),
        ("closed", None, {"url": "cannot_connect"}),
        (None, "account", {"contract_address": "not_grid_ledger"}),
        (None, "token", {"contract_address": "not_grid_ledger"}),
    ],
)
async def test_chain_step_errors(
    hass: HomeAssistant,
    ledger: Ledger,
    meter: MeterSetup,
    url: str | None,
    contract: str | None,
    error: dict[str, str],
) -> None:
    if url == "closed":
        url = f"http://127.0.0.1:{free_port()}"
    if contract == "account":
        contract = meter.wallet_address
    elif contract == "token":
        contract = ledger.token_address()
    result = await chain_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"url": url or ledger.anvil.rpc_url, "contract_address": contract or ledger.address},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error
    # The user corrects the field and goes on.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": ledger.anvil.rpc_url, "contract_address": ledger.address}
    )
    assert result["step_id"] == "wallet"


@pytest.mark.parametrize("kind", ["household", "feeder"])
async def test_chain_step_unsupported_version(
    hass: HomeAssistant, ledger: Ledger, kind: str
) -> None:
    result = await chain_form(hass, kind)
    with patch(
        "custom_components.grid_ledger.config_flow.GridLedgerClient.connect",
        side_effect=UnsupportedVersionError("4.0.0"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"url": ledger.anvil.rpc_url, "contract_address": ledger.address}
        )
    assert result["errors"] == {"contract_address": "unsupported_version"}


async def test_wallet_key_must_be_a_key(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    result = await choose_key(hass, await start(hass, ledger), "0xnot-a-key")
    assert result["errors"] == {CONF_WALLET_KEY: "invalid_key"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_WALLET_KEY: meter.wallet_key}
    )
    assert result["step_id"] == "meter"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({CONF_METER_ID: 999_999}, {CONF_METER_ID: "unknown_meter"}),
        ({CONF_METER_KEY: "0x" + "11" * 32}, {CONF_METER_KEY: "meter_key_mismatch"}),
        ({CONF_METER_KEY: "zz"}, {CONF_METER_KEY: "invalid_key"}),
        ("other_payer", {CONF_METER_ID: "meter_not_bound"}),
    ],
)
async def test_meter_step_errors(
    hass: HomeAssistant,
    ledger: Ledger,
    meter: MeterSetup,
    change: dict[str, Any] | str,
    error: dict[str, str],
) -> None:
    if change == "other_payer":
        change = {CONF_METER_ID: register_meter(ledger, payer_index=2).meter_id}
    assert isinstance(change, dict)
    result = await choose_key(hass, await start(hass, ledger), meter.wallet_key)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], meter_input(meter, **change)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error
    with patch("custom_components.grid_ledger.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], meter_input(meter)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_meter_step_node_gone(hass: HomeAssistant, ledger: Ledger, meter: MeterSetup) -> None:
    node = start_anvil()
    try:
        other = deploy(node)
        flow = await chain_form(hass)
        flow = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"url": node.rpc_url, "contract_address": other.address}
        )
        result = await choose_key(hass, flow, meter.wallet_key)
    finally:
        node.stop()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], meter_input(meter))
    assert result["errors"] == {"base": "cannot_connect"}


async def test_meter_already_configured(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    make_entry(ledger, meter).add_to_hass(hass)
    result = await choose_key(hass, await start(hass, ledger), meter.wallet_key)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], meter_input(meter))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def reconfigure_checks_the_node(
    hass: HomeAssistant, entry: MockConfigEntry
) -> dict[str, Any]:
    """Reconfigure the entry with a node that does not answer, then one of another chain:
    each is refused on the URL field. Returns the form, for a good URL next."""
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": f"http://127.0.0.1:{free_port()}"}
    )
    assert result["errors"] == {"url": "cannot_connect"}
    other_chain = start_anvil(chain_id=1337)
    try:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"url": other_chain.rpc_url}
        )
    finally:
        other_chain.stop()
    assert result["errors"] == {"url": "wrong_chain"}
    return result


async def test_reconfigure_changes_the_node(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    entry = make_entry(ledger, meter)
    entry.add_to_hass(hass)
    result = await reconfigure_checks_the_node(hass, entry)
    with patch("custom_components.grid_ledger.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"url": ledger.anvil.ws_url}
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["url"] == ledger.anvil.ws_url


async def test_meter_step_takes_an_export_entity(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    result = await choose_key(hass, await start(hass, ledger), meter.wallet_key)
    with patch("custom_components.grid_ledger.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], meter_input(meter, export_entity=EXPORT_ENTITY)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_EXPORT_ENTITY] == EXPORT_ENTITY
    assert result["data"]["energy_entity"] == ENERGY_ENTITY


async def test_reconfigure_picks_and_clears_the_export_entity(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    entry = make_entry(ledger, meter)
    entry.add_to_hass(hass)
    for chosen in ({CONF_EXPORT_ENTITY: EXPORT_ENTITY}, {}):
        result = await entry.start_reconfigure_flow(hass)
        with patch("custom_components.grid_ledger.async_setup_entry", return_value=True):
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {"url": ledger.anvil.rpc_url, **chosen}
            )
        assert result["reason"] == "reconfigure_successful"
        assert entry.data.get(CONF_EXPORT_ENTITY) == chosen.get(CONF_EXPORT_ENTITY)
        assert entry.data["energy_entity"] == ENERGY_ENTITY  # the rest of the entry stays


async def test_reauth_unlocks_the_keystore(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    keystore = Account.encrypt(meter.wallet_key, "new password", kdf="pbkdf2", iterations=2)
    data = {
        **make_entry(ledger, meter).data,
        CONF_WALLET_TYPE: WALLET_KEYSTORE,
        CONF_KEYSTORE: json.dumps(keystore),
        "password": "old password",
    }
    data.pop(CONF_WALLET_KEY)
    entry = MockConfigEntry(domain=DOMAIN, unique_id="reauth", data=data)
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": "still wrong"}
    )
    assert result["errors"] == {"password": "invalid_keystore"}
    with patch("custom_components.grid_ledger.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"password": "new password"}
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == "new password"


async def test_options_flow(hass: HomeAssistant, ledger: Ledger, meter: MeterSetup) -> None:
    entry = make_entry(ledger, meter)
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    with patch("custom_components.grid_ledger.async_setup_entry", return_value=True):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_READING_INTERVAL: 5.0, CONF_REDEEM_TOKENS: True}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_READING_INTERVAL: 5, CONF_REDEEM_TOKENS: True}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("this is not json", {"url": "cannot_connect"}),
        (
            '{"jsonrpc": "2.0", "id": 0, "error": {"code": -32601, "message": "no"}}',
            {"base": "unknown"},
        ),
    ],
)
async def test_chain_step_with_a_server_that_is_not_a_node(
    hass: HomeAssistant, ledger: Ledger, body: str, error: dict[str, str]
) -> None:
    async def answer(_request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        result = await chain_form(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"url": f"http://127.0.0.1:{port}/", "contract_address": ledger.address},
        )
    finally:
        await runner.cleanup()
    assert result["errors"] == error
