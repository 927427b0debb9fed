"""A prosumer against the producer contracts on anvil: bidirectional readings signed and
accepted, the repairs when the ledger and the configuration disagree, tokens claimed, redeemed
against a bill and sold back, the redeem-tokens choice, and what a restart keeps."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eth_account import Account
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import DOMAIN as REPAIRS_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.grid_ledger.chain.abi import ERC20_ABI
from custom_components.grid_ledger.const import (
    CONF_EXPORT_ENTITY,
    CONF_READING_INTERVAL,
    CONF_REDEEM_TOKENS,
    DOMAIN,
    EVENT_TOKENS_MINTED,
    EVENT_TOKENS_REDEEMED,
)

from .conftest import (
    RELAY_ENTITY,
    Ledger,
    LocalChain,
    MeterSetup,
    call,
    entry_data,
    register_meter,
    set_register,
    until,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

EXPORT_ENTITY = "sensor.house_export"
MAX_EXPORT_W = 2**20 - 1  # the highest export rating the ledger stores (20 bits)
EXPORT_SECONDS = 20  # between readings: 2 kWh exported in 20 s is 360 kW, within the rating
FEED_IN = 10**15  # wei per kWh: 0.001 ETH


def enable_export(ledger: Ledger, meter: MeterSetup, export_wh: int = 0) -> None:
    ledger.deployment.enable_export(meter.meter_id, MAX_EXPORT_W, export_wh)


def set_feed_in(ledger: Ledger, price: int = FEED_IN, tariff_id: int = 1) -> None:
    ledger.transact(ledger.contract.functions.setProducerTariff(tariff_id, (price, 0)))


def producer_info(ledger: Ledger, meter: MeterSetup) -> tuple[Any, ...]:
    """(exports, redeemTokens, maxExportW, exportWh, pendingWh, billRedeemedWh)."""
    return tuple(ledger.contract.functions.producerInfo(meter.meter_id).call())


def token_balance(ledger: Ledger, meter: MeterSetup) -> int:
    token = ledger.contract.functions.energyToken().call()
    erc20 = ledger.w3.eth.contract(address=token, abi=ERC20_ABI)
    return int(erc20.functions.balanceOf(meter.wallet_address).call())


def logs(ledger: Ledger, meter: MeterSetup, name: str) -> list[dict[str, Any]]:
    events = ledger.contract.events[name]().get_logs(
        from_block=0, argument_filters={"meterId": meter.meter_id}
    )
    return [dict(event["args"]) for event in events]


async def set_export(hass: HomeAssistant, kwh: float) -> None:
    hass.states.async_set(
        EXPORT_ENTITY,
        str(kwh),
        {"unit_of_measurement": "kWh", "device_class": "energy", "state_class": "total_increasing"},
    )
    await hass.async_block_till_done()


async def follow(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """The entry's event follower reads the chain now (as its next poll would), and the meter
    is read again: a test waits for no poll."""
    follower = entry.runtime_data.coordinator.follower
    assert follower is not None
    await follower.async_step()
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


def state(hass: HomeAssistant, meter: MeterSetup, name: str) -> str:
    found = hass.states.get(f"sensor.grid_ledger_meter_{meter.meter_id}_{name}")
    assert found is not None, name
    return found.state


async def prosumer(
    hass: HomeAssistant,
    ledger: Ledger,
    *,
    export_enabled: bool = True,
    export_entity: bool = True,
    **options: Any,
) -> tuple[MeterSetup, MockConfigEntry]:
    """A meter at 1 kWh import and 0 export, its entry set up with the export sensor."""
    meter = register_meter(ledger)
    if export_enabled:
        enable_export(ledger, meter)
    await set_register(hass, 1.0)
    await set_export(hass, 0)
    hass.states.async_set(RELAY_ENTITY, "on")
    data = entry_data(ledger, meter)
    if export_entity:
        data[CONF_EXPORT_ENTITY] = EXPORT_ENTITY
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Meter {meter.meter_id}",
        unique_id=f"{ledger.anvil.chain_id}-{ledger.address.lower()}-{meter.meter_id}",
        data=data,
        options={CONF_READING_INTERVAL: 15, **options},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return meter, entry


async def export(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    import_kwh: float,
    export_kwh: float,
) -> Any:
    """Read both registers `EXPORT_SECONDS` after the last reading (the readings' clock runs
    ahead of the chain's by less than its clock skew: a test exports at most three times)."""
    freezer.tick(EXPORT_SECONDS)
    await set_register(hass, import_kwh)
    await set_export(hass, export_kwh)
    return await call(hass, entry, "submit_reading")


def bill(ledger: Ledger, meter: MeterSetup, kwh: int) -> int:
    """Import `kwh` more in a signed bidirectional reading ten minutes on (export unchanged),
    end the period and settle: the bill is issued. Returns the amount due."""
    last_wh = int(ledger.contract.functions.meter(meter.meter_id).call()[7])
    export_wh = int(producer_info(ledger, meter)[3])
    ledger.anvil.increase_time(600)
    timestamp = ledger.anvil.timestamp() + 1
    reading = {
        "meterId": meter.meter_id,
        "importWh": last_wh + kwh * 1_000,
        "exportWh": export_wh,
        "timestamp": timestamp,
    }
    types = {
        "BidirectionalReading": [
            {"name": "meterId", "type": "uint32"},
            {"name": "importWh", "type": "uint64"},
            {"name": "exportWh", "type": "uint64"},
            {"name": "timestamp", "type": "uint32"},
        ]
    }
    signed = Account.from_key(meter.meter_key).sign_typed_data(
        ledger.deployment.domain(), types, reading
    )
    ledger.transact(
        ledger.contract.functions.submitBidirectionalReading(
            tuple(reading.values()), bytes(signed.signature)
        )
    )
    ledger.anvil.increase_time(ledger.deployment.config.period_length)
    ledger.transact(ledger.contract.functions.settle(meter.meter_id))
    due = int(ledger.contract.functions.amountDue(meter.meter_id).call())
    assert due > 0
    return due


async def test_a_bidirectional_reading_is_signed_and_accepted(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    ledger = local_chain.ledger
    meter, entry = await prosumer(hass, ledger)

    response = await export(hass, entry, freezer, 1.002, 0.75)
    assert response["wh"] == 1002
    accepted = logs(ledger, meter, "BidirectionalReadingAccepted")
    assert [(a["importWh"], a["exportWh"], a["exportedWh"]) for a in accepted] == [(1002, 750, 750)]
    info = producer_info(ledger, meter)
    assert (info[3], info[4]) == (750, 750)  # the export register, and the tokens it earned
    assert float(state(hass, meter, "exported_energy")) == pytest.approx(0.75)
    assert float(state(hass, meter, "energy_tokens")) == pytest.approx(0.75)
    assert float(state(hass, meter, "tokens_minted_this_period")) == pytest.approx(0.75)


async def test_export_enabled_without_an_export_sensor_is_a_repair_with_a_fix(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    ledger = local_chain.ledger
    meter, entry = await prosumer(hass, ledger, export_entity=False)
    await set_register(hass, 1.002)
    assert (await call(hass, entry, "submit_reading"))["wh"] == 1002  # billing goes on
    issue_id = f"export_source_missing_{entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable

    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await resp.json()
    assert flow["data_schema"][0]["name"] == CONF_EXPORT_ENTITY
    resp = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={CONF_EXPORT_ENTITY: EXPORT_ENTITY}
    )
    assert (await resp.json())["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.data[CONF_EXPORT_ENTITY] == EXPORT_ENTITY
    assert entry.state is ConfigEntryState.LOADED
    await export(hass, entry, freezer, 1.003, 0.2)
    assert producer_info(ledger, meter)[3] == 200
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_an_export_sensor_on_an_import_only_meter_is_a_repair(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    ledger = local_chain.ledger
    meter, entry = await prosumer(hass, ledger, export_enabled=False)
    response = await export(hass, entry, freezer, 1.002, 0.5)
    assert response["wh"] == 1002  # import-only, as the ledger takes it
    issue = issue_registry.async_get_issue(DOMAIN, f"export_not_enabled_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {
        "source": EXPORT_ENTITY,
        "meter_id": str(meter.meter_id),
    }

    exported = f"sensor.grid_ledger_meter_{meter.meter_id}_exported_energy"
    assert hass.states.get(exported) is None  # no return to grid on an import-only meter
    assert state(hass, meter, "energy_tokens") == "0.0"  # tokens it could still hold

    enable_export(ledger, meter, export_wh=500)
    await entry.runtime_data.coordinator.async_refresh()
    await export(hass, entry, freezer, 1.003, 0.6)
    assert producer_info(ledger, meter)[3] == 600
    assert float(state(hass, meter, "exported_energy")) == pytest.approx(0.6)  # added since
    assert issue_registry.async_get_issue(DOMAIN, f"export_not_enabled_{entry.entry_id}") is None


async def test_an_export_register_going_backwards_is_a_repair_and_a_new_meter_resumes(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    ledger = local_chain.ledger
    meter, entry = await prosumer(hass, ledger)
    await export(hass, entry, freezer, 1.002, 2.0)

    with pytest.raises(HomeAssistantError) as err:
        await export(hass, entry, freezer, 1.003, 0.1)
    assert err.value.translation_key == "export_register_backwards"
    issue_id = f"export_register_backwards_{entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {
        "entity_id": EXPORT_ENTITY,
        "wh": "100",
        "last_wh": "2000",
    }
    assert int(ledger.contract.functions.meter(meter.meter_id).call()[7]) == 1002  # nothing sent

    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await resp.json()
    resp = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={"new_register": 0.1}
    )
    assert (await resp.json())["type"] == "create_entry"
    await export(hass, entry, freezer, 1.004, 0.3)  # the new meter exported 0.2 kWh since
    assert producer_info(ledger, meter)[3] == 2_200
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_claimed_tokens_reach_the_wallet_and_are_announced(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    ledger = local_chain.ledger
    meter, entry = await prosumer(hass, ledger)
    minted = async_capture_events(hass, EVENT_TOKENS_MINTED)
    await export(hass, entry, freezer, 1.002, 1.5)

    response = await call(hass, entry, "claim_tokens")
    assert response["kwh"] == 1.5
    assert response["tx_hash"].startswith("0x")
    assert token_balance(ledger, meter) == 1_500
    assert producer_info(ledger, meter)[4] == 0  # nothing pending any more
    await follow(hass, entry)
    assert minted[0].data["kwh"] == 1.5
    assert minted[0].data["device_id"] == entry.runtime_data.coordinator.device_id
    assert minted[0].data["device_id"] is not None
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert float(state(hass, meter, "energy_tokens")) == pytest.approx(1.5)  # held, not pending

    with pytest.raises(ServiceValidationError) as err:
        await call(hass, entry, "claim_tokens")
    assert err.value.translation_key == "nothing_to_claim"


async def test_tokens_redeemed_against_the_bill(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    ledger = local_chain.ledger
    meter, entry = await prosumer(hass, ledger)
    redeemed = async_capture_events(hass, EVENT_TOKENS_REDEEMED)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, entry, "redeem_tokens")
    assert err.value.translation_key == "nothing_to_redeem"  # no bill, no tokens

    await export(hass, entry, freezer, 1.002, 1.5)
    due = bill(ledger, meter, kwh=2)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, entry, "redeem_tokens", amount=4)
    assert err.value.translation_key == "more_than_held"
    assert err.value.translation_placeholders == {"kwh": "4", "held_kwh": "1.5"}

    response = await call(hass, entry, "redeem_tokens", amount=0.5)
    assert response["kwh"] == 0.5
    (event,) = logs(ledger, meter, "TokensRedeemed")
    assert event["wh"] == 500
    assert int(ledger.contract.functions.amountDue(meter.meter_id).call()) == due - event["amount"]
    assert event["amount"] > 0
    await until(lambda: redeemed)
    assert redeemed[0].data["kwh"] == 0.5

    # Without an amount: as many as the bill takes, here every token left.
    assert (await call(hass, entry, "redeem_tokens"))["kwh"] == 1.0
    assert producer_info(ledger, meter)[4] == 0
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, entry, "redeem_tokens")
    assert err.value.translation_key == "nothing_to_redeem"


async def test_sell_back_is_paid_from_the_operators_feed_in_funds(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    ledger = local_chain.ledger
    meter, entry = await prosumer(hass, ledger)
    await export(hass, entry, freezer, 1.002, 2.0)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, entry, "sell_back", amount=1)
    assert err.value.translation_key == "no_feed_in_price"

    set_feed_in(ledger)
    ledger.transact(ledger.contract.functions.depositFeedInFunds(FEED_IN), value=FEED_IN)
    response = await call(hass, entry, "sell_back", amount=1)
    assert response["kwh"] == 1.0
    assert Decimal(str(response["amount"])) == Decimal("0.001")
    assert response["withdrawn"] is True
    assert int(ledger.contract.functions.proceedsOf(meter.wallet_address).call()) == 0
    assert int(ledger.contract.functions.feedInFunds().call()) == 0
    (sold,) = logs(ledger, meter, "TokensSoldBack")
    assert (sold["wh"], sold["amount"]) == (1_000, FEED_IN)

    with pytest.raises(HomeAssistantError) as err:
        await call(hass, entry, "sell_back", amount=0.5)
    assert err.value.translation_key == "feed_in_funds_exhausted"
    assert err.value.translation_placeholders == {
        "amount": "0.0005",
        "funds": "0",
        "currency": "ETH",
    }
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, entry, "sell_back", amount=5)
    assert err.value.translation_key == "more_than_held"
    assert producer_info(ledger, meter)[4] == 1_000  # nothing sold by the refusals


async def test_the_redeem_tokens_choice_is_sent_once(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    meter, entry = await prosumer(hass, ledger, **{CONF_REDEEM_TOKENS: True})
    await until(lambda: producer_info(ledger, meter)[1])
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [log["redeemTokens"] for log in logs(ledger, meter, "RedeemTokensSet")] == [True]

    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_REDEEM_TOKENS: False}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await until(lambda: not producer_info(ledger, meter)[1])
    assert [log["redeemTokens"] for log in logs(ledger, meter, "RedeemTokensSet")] == [True, False]


async def test_a_restart_keeps_the_unsent_export_register_and_the_compensation(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    ledger = local_chain.ledger
    set_feed_in(ledger)
    meter, entry = await prosumer(hass, ledger)
    await export(hass, entry, freezer, 1.002, 1.0)
    assert Decimal(state(hass, meter, "export_compensation")) == Decimal("0.001")

    local_chain.down()
    with pytest.raises(HomeAssistantError):
        await export(hass, entry, freezer, 1.003, 1.5)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]["pending"]["export_wh"] == 1_500
    assert hass_storage[f"{DOMAIN}.{entry.entry_id}.export"]["data"]["counted_export_wh"] == 1_000

    local_chain.up()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    accepted = logs(ledger, meter, "BidirectionalReadingAccepted")
    assert [(a["importWh"], a["exportWh"]) for a in accepted] == [(1002, 1000), (1003, 1500)]
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    # 1.5 kWh at 0.001 ETH: the first kWh neither lost nor counted twice.
    assert Decimal(state(hass, meter, "export_compensation")) == Decimal("0.0015")


async def test_an_exchange_the_operator_recorded_mints_every_exported_wh_once(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    ledger = local_chain.ledger
    set_feed_in(ledger)
    meter, entry = await prosumer(hass, ledger)
    await export(hass, entry, freezer, 1.002, 2.0)

    # The new meter reads from zero: both registers went backwards, nothing is attested.
    with pytest.raises(HomeAssistantError) as err:
        await export(hass, entry, freezer, 0.001, 0.01)
    assert err.value.translation_key == "register_backwards"

    # The operator read the old meter's final registers when it took it out, ten seconds after
    # its last reading: 1 Wh imported and 50 Wh exported since.
    last_timestamp = int(ledger.contract.functions.meter(meter.meter_id).call()[8])
    ledger.transact(
        ledger.contract.functions.recordBidirectionalMeterExchange(
            meter.meter_id, 1_003, 2_050, 0, 0, last_timestamp + 10
        )
    )
    (exchanged,) = logs(ledger, meter, "ExportExchanged")
    assert exchanged["exportedWh"] == 50
    await entry.runtime_data.coordinator.async_refresh()

    response = await export(hass, entry, freezer, 0.01, 0.3)
    assert response["wh"] == 10  # the new registers as they read
    accepted = logs(ledger, meter, "BidirectionalReadingAccepted")
    assert [(a["importWh"], a["exportWh"], a["exportedWh"]) for a in accepted][-1] == (10, 300, 300)
    for key in ("register_backwards", "export_register_backwards"):
        assert issue_registry.async_get_issue(DOMAIN, f"{key}_{entry.entry_id}") is None
    assert producer_info(ledger, meter)[4] == 2_350  # 2 kWh signed, 50 Wh at the exchange, 300 Wh

    # The old meter's last 50 Wh, which no register on the ledger showed, are compensated too,
    # once the follower hands the exchange's event over (its next poll does; here, now).
    await follow(hass, entry)
    assert Decimal(state(hass, meter, "export_compensation")) == Decimal("0.00235")
    assert float(state(hass, meter, "tokens_minted_this_period")) == pytest.approx(2.35)
    assert float(state(hass, meter, "exported_energy")) == pytest.approx(0.3)  # the new register
    assert (await call(hass, entry, "claim_tokens"))["kwh"] == 2.35
    assert token_balance(ledger, meter) == 2_350
