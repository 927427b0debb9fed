"""A distributor's feeder entry and the settlement on anvil: two household entries below it run a
period, the period is settled, the distributor's entry shows the markup, the actual loss and the
amount owed, and withdraws it into the feeder key's wallet; and the ways the action says no."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.grid_ledger.const import (
    CONF_ENERGY_ENTITY,
    CONF_READING_INTERVAL,
    CONF_SETTLEMENT,
    DOMAIN,
)
from custom_components.grid_ledger.diagnostics import async_get_config_entry_diagnostics
from custom_components.grid_ledger.units import display_amount
from tests.chain_fixtures import DEFAULT_PRICE, SETTLEMENT_CUTOFF

from .conftest import (
    ENERGY_ENTITY,
    RELAY_ENTITY,
    FeederSetup,
    Ledger,
    LocalChain,
    MeterSetup,
    call,
    deploy,
    make_entry,
    make_feeder_entry,
    register_feeder,
    register_meter,
    set_feeder_register,
)
from .test_feeder import HOUR, at, feeder_entity, setup_entry

pytestmark = pytest.mark.usefixtures("socket_enabled")

OTHER_ENERGY_ENTITY = "sensor.second_house_energy"
PLANT_PRICE = 100_000  # wei per kWh
IDEAL, SERVICE, PENALTY = 500, 1_000, 20_000  # bps: 5 % ideal loss, 10 % service, 2x penalty


async def set_energy(hass: HomeAssistant, entity_id: str, kwh: float) -> None:
    hass.states.async_set(
        entity_id,
        str(kwh),
        {"unit_of_measurement": "kWh", "device_class": "energy", "state_class": "total_increasing"},
    )
    await hass.async_block_till_done()


def settlement_entry(ledger: Ledger, feeder: FeederSetup, address: str) -> MockConfigEntry:
    entry = make_feeder_entry(ledger, feeder)
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data=dict(entry.data),
        options={CONF_READING_INTERVAL: 15, CONF_SETTLEMENT: address},
    )


def plant_reading(ledger: Ledger, plant: FeederSetup, wh: int, timestamp: int) -> None:
    """A reading of the plant's meter, signed and sent by the operator's script."""
    signer = Account.from_key(plant.feeder_key)
    signature = ledger.deployment.sign_feeder_reading(signer, plant.feeder_id, wh, timestamp)
    reading = (plant.feeder_id, wh, timestamp)
    ledger.transact(ledger.contract.functions.submitFeederReading(reading, signature))


async def set_up_households(
    hass: HomeAssistant, ledger: Ledger, distributor: FeederSetup
) -> list[tuple[MeterSetup, MockConfigEntry, str]]:
    """Two household meters below the distributor, each read from its own sensor at 1 kWh."""
    hass.states.async_set(RELAY_ENTITY, "on")
    households = []
    for payer_index, entity_id in ((1, ENERGY_ENTITY), (2, OTHER_ENERGY_ENTITY)):
        await set_energy(hass, entity_id, 1.0)
        meter = register_meter(ledger, payer_index=payer_index, feeder_id=distributor.feeder_id)
        ledger.deployment.set_protected(meter.meter_id)
        entry = make_entry(ledger, meter)
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=entry.title,
            unique_id=entry.unique_id,
            data={**entry.data, CONF_ENERGY_ENTITY: entity_id},
            options=dict(entry.options),
        )
        await setup_entry(hass, entry)
        households.append((meter, entry, entity_id))
    return households


def owed_to(ledger: Ledger, account: str) -> int:
    settlement = ledger.deployment.settlement
    assert settlement is not None
    return int(settlement.functions.owedTo(account).call())


async def test_a_distributor_is_settled_and_withdraws_its_markup(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """The plant puts out 10 kWh in period 2, the distributor's meter measures 9.5 kWh and its
    households are billed 6 + 3 kWh: a loss of 10 % against an ideal of 5 %, so the markup is
    5 % + 10 % - (10 % - 5 %) x 2 = 5 %, of the households' 9 kWh at the tariff."""
    ledger, anvil = local_chain.ledger, local_chain.node
    deployment = ledger.deployment
    assert deployment.settlement is not None
    settlement = deployment.settlement.functions
    genesis = int(ledger.contract.functions.genesis().call())
    await at(hass, freezer, anvil, genesis + 60)

    # Period 1: the plant (read by the operator's script) and the distributor below it (read
    # by its entry) take their first readings; the operator sets the terms for period 2 on.
    plant = register_feeder(ledger)
    await at(hass, freezer, anvil, genesis + 90)
    plant_reading(ledger, plant, 0, genesis + 90)
    distributor = register_feeder(ledger, parent_id=plant.feeder_id)
    await set_feeder_register(hass, 100)
    entry = settlement_entry(ledger, distributor, str(deployment.settlement.address))
    await setup_entry(hass, entry)
    assert (await call(hass, entry, "submit_reading"))["wh"] == 100_000
    plant_owner = Account.create().address
    ledger.transact(ledger.contract.functions.enablePlant(plant.feeder_id, plant_owner))
    households = await set_up_households(hass, ledger, distributor)
    ledger.transact(settlement.setPlantPrice(plant.feeder_id, PLANT_PRICE))
    ledger.transact(
        settlement.setDistributorTerms(
            distributor.feeder_id, IDEAL, SERVICE, PENALTY, 1, distributor.address
        )
    )
    ledger.transact(settlement.addDeposit(10**15), value=10**15)
    markup = feeder_entity(hass, distributor, "sensor", "markup_of_the_last_settlement")
    assert markup.state == "unknown"
    owed = feeder_entity(hass, distributor, "sensor", "settlement_owed")
    assert float(owed.state) == 0.0
    assert owed.attributes["unit_of_measurement"] == "ETH"

    # Period 2: 10 kWh out of the plant, 9.5 kWh through the distributor, 6 + 3 kWh billed.
    await at(hass, freezer, anvil, genesis + HOUR + 60)
    for _meter, household, _entity in households:
        await call(hass, household, "submit_reading")
    await call(hass, entry, "submit_reading")
    for (_meter, _household, entity_id), kwh in zip(households, (7.0, 4.0), strict=True):
        await set_energy(hass, entity_id, kwh)
    await set_feeder_register(hass, 109.5)
    await at(hass, freezer, anvil, genesis + HOUR + 2_400)
    plant_reading(ledger, plant, 10_000, genesis + HOUR + 2_400)
    for _meter, household, _entity in households:
        await call(hass, household, "submit_reading")
    await call(hass, entry, "submit_reading")

    # Period 3: the households' readings close period 2; its cut-off has not passed yet.
    await at(hass, freezer, anvil, genesis + 2 * HOUR + 60)
    for _meter, household, _entity in households:
        await call(hass, household, "submit_reading")
    with pytest.raises(ServiceValidationError) as too_early:
        await call(hass, entry, "settle_period", period=2)
    assert too_early.value.translation_key == "contract_settlement_too_early"
    assert too_early.value.translation_placeholders["period"] == "2"

    await at(hass, freezer, anvil, genesis + 2 * HOUR + SETTLEMENT_CUTOFF + 60)
    settled = await call(hass, entry, "settle_period", period=2)
    households_value = 9_000 * DEFAULT_PRICE // 1_000
    distributor_owed = households_value * 500 // 10_000
    assert settled["period"] == 2
    assert settled["loss_percent"] == 10.0
    assert settled["markup_bps"] == 500
    assert settled["plant_owed"] == display_amount(10_000 * PLANT_PRICE // 1_000, 18)
    assert settled["distributor_owed"] == display_amount(distributor_owed, 18)
    assert settled["currency"] == "ETH"
    assert tuple(settlement.statement(2, distributor.feeder_id).call()) == (
        10_000,
        9_500,
        9_000,
        1_000,
        500,
        True,
        households_value,
        1_000_000,
        distributor_owed,
    )

    # The entry shows the settled period and what its key is owed, refreshed on the events.
    await entry.runtime_data.settlement.follower.async_step()
    await hass.async_block_till_done(wait_background_tasks=True)
    markup = feeder_entity(hass, distributor, "sensor", "markup_of_the_last_settlement")
    assert int(markup.state) == 500
    assert markup.attributes["period"] == 2
    assert markup.attributes["households_wh"] == 9_000
    loss = feeder_entity(hass, distributor, "sensor", "actual_loss_of_the_last_settlement")
    assert float(loss.state) == 10.0
    assert int(feeder_entity(hass, distributor, "sensor", "last_settled_period").state) == 2
    owed = feeder_entity(hass, distributor, "sensor", "settlement_owed")
    assert float(owed.state) == display_amount(distributor_owed, 18)

    # Settled once only.
    with pytest.raises(ServiceValidationError) as twice:
        await call(hass, entry, "settle_period", period=2)
    assert twice.value.translation_key == "contract_period_already_settled"

    # A withdrawal made elsewhere with the feeder's key: its `Withdrawn` event refreshes.
    key = Account.from_key(distributor.feeder_key)
    deployment.transact(settlement.withdraw(1), key)
    await entry.runtime_data.settlement.follower.async_step()
    await hass.async_block_till_done(wait_background_tasks=True)
    owed = feeder_entity(hass, distributor, "sensor", "settlement_owed")
    assert float(owed.state) == display_amount(distributor_owed - 1, 18)

    # The withdrawal: the whole amount owed, into the feeder key's wallet, once.
    before = ledger.w3.eth.get_balance(distributor.address)
    withdrawn = await call(hass, entry, "withdraw_settlement")
    assert withdrawn["amount"] == display_amount(distributor_owed - 1, 18)
    receipt = ledger.w3.eth.get_transaction_receipt(withdrawn["tx_hash"])
    fee = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    assert ledger.w3.eth.get_balance(distributor.address) == before + distributor_owed - 1 - fee
    assert owed_to(ledger, distributor.address) == 0
    assert owed_to(ledger, plant_owner) == 1_000_000  # the plant's, untouched
    assert float(feeder_entity(hass, distributor, "sensor", "settlement_owed").state) == 0.0
    with pytest.raises(ServiceValidationError) as nothing:
        await call(hass, entry, "withdraw_settlement")
    assert nothing.value.translation_key == "nothing_owed"

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)  # time is frozen late
    assert diagnostics["settlement"] == {
        "address": deployment.settlement.address,
        "intent": None,
    }
    assert diagnostics["state"]["settlement"]["last"]["markup_bps"] == 500

    # A restart reads the same figures from the chain.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    markup = feeder_entity(hass, distributor, "sensor", "markup_of_the_last_settlement")
    assert (int(markup.state), markup.attributes["period"]) == (500, 2)
    assert float(feeder_entity(hass, distributor, "sensor", "settlement_owed").state) == 0.0

    # A household's entry has no settlement side.
    with pytest.raises(ServiceValidationError) as household:
        await call(hass, households[0][1], "withdraw_settlement")
    assert household.value.translation_key == "not_a_feeder_meter"

    # Removing the entry removes its settlement stores: the intent and the events' last block.
    stores = [
        f"{DOMAIN}.{entry.entry_id}.settlement",
        f"{DOMAIN}.{entry.entry_id}.settlement_events",
    ]
    assert all(key in hass_storage for key in stores)
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not any(key in hass_storage for key in stores)


async def test_a_feeder_without_a_settlement_refuses_its_actions(
    hass: HomeAssistant, ledger: Ledger
) -> None:
    feeder = register_feeder(ledger)
    await set_feeder_register(hass, 1)
    entry = make_feeder_entry(ledger, feeder)
    await setup_entry(hass, entry)
    assert hass.states.get(f"sensor.grid_ledger_feeder_{feeder.feeder_id}_settlement_owed") is None
    with pytest.raises(ServiceValidationError) as refused:
        await call(hass, entry, "withdraw_settlement")
    assert refused.value.translation_key == "no_settlement"


@pytest.mark.parametrize("kind", ["not an address", "auction", "other ledger's"])
async def test_a_settlement_that_is_not_this_ledgers_is_a_configuration_error(
    hass: HomeAssistant, local_chain: LocalChain, kind: str
) -> None:
    ledger = local_chain.ledger
    auction = ledger.deployment.auction
    assert auction is not None
    if kind == "not an address":
        address = "0x1234"
    elif kind == "auction":
        address = str(auction.address)  # it names this ledger, but settles nothing
    else:
        other = deploy(local_chain.node).deployment.settlement
        assert other is not None
        address = str(other.address)
    feeder = register_feeder(ledger)
    await set_feeder_register(hass, 1)
    entry = settlement_entry(ledger, feeder, address)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.error_reason_translation_key == "settlement_unusable"
