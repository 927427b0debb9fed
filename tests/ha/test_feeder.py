"""A feeder meter run from Home Assistant on anvil: its readings take the households' pipeline
to the ledger, and the losses the ledger finds below it become a sensor, an event and a repair."""

from __future__ import annotations

import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.grid_ledger.chain import (
    FeederPeriod,
    FeederReadingSigner,
    GridLedgerClient,
    LedgerInfo,
    Reading,
    Wallet,
)
from custom_components.grid_ledger.const import (
    CONF_READING_INTERVAL,
    DOMAIN,
    EVENT_LOSS_DETECTED,
)
from tests.anvil import Anvil

from .conftest import (
    RELAY_ENTITY,
    FeederSetup,
    Ledger,
    LocalChain,
    MeterSetup,
    make_entry,
    make_feeder_entry,
    register_feeder,
    register_meter,
    relay_kept_reading,
    set_feeder_register,
    set_register,
)
from .test_readings import accepted, on_chain, submit

pytestmark = pytest.mark.usefixtures("socket_enabled")

HOUR = 3_600  # the test ledgers' billing period


def feeder_on_chain(ledger: Ledger, feeder_id: int) -> tuple[int, int]:
    info = ledger.contract.functions.feeder(feeder_id).call()
    return int(info[3]), int(info[4])


def feeder_accepted(ledger: Ledger, feeder_id: int) -> list[int]:
    """Registers of every FeederReadingAccepted event of a feeder."""
    logs = ledger.contract.events.FeederReadingAccepted().get_logs(
        from_block=0, argument_filters={"feederId": feeder_id}
    )
    return [int(log["args"]["wh"]) for log in logs]


def losses_detected(ledger: Ledger, feeder_id: int) -> list[tuple[int, int]]:
    """(period, lossBps) of every LossDetected event of a feeder."""
    logs = ledger.contract.events.LossDetected().get_logs(
        from_block=0, argument_filters={"feederId": feeder_id}
    )
    return [(int(log["args"]["period"]), int(log["args"]["lossBps"])) for log in logs]


def feeder_entity(hass: HomeAssistant, feeder: FeederSetup, platform: str, name: str) -> Any:
    state = hass.states.get(f"{platform}.grid_ledger_feeder_{feeder.feeder_id}_{name}")
    assert state is not None, name
    return state


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def set_up_feeder(
    hass: HomeAssistant, ledger: Ledger, kwh: float
) -> tuple[FeederSetup, MockConfigEntry]:
    """A new feeder, its register at `kwh`, its entry set up."""
    feeder = register_feeder(ledger)
    await set_feeder_register(hass, kwh)
    entry = make_feeder_entry(ledger, feeder)
    await setup_entry(hass, entry)
    return feeder, entry


async def set_up_feeder_and_household(
    hass: HomeAssistant, ledger: Ledger, kwh: float
) -> tuple[FeederSetup, MeterSetup, MockConfigEntry, MockConfigEntry]:
    """A new feeder at `kwh` with a household meter at 1 kWh below it (protected: its unpaid
    bills cut nothing here), and both entries set up in one Home Assistant."""
    hass.states.async_set(RELAY_ENTITY, "on")
    await set_register(hass, 1.0)
    feeder, entry = await set_up_feeder(hass, ledger, kwh)
    meter = register_meter(ledger, feeder_id=feeder.feeder_id)
    ledger.deployment.set_protected(meter.meter_id)
    household = make_entry(ledger, meter)
    await setup_entry(hass, household)
    return feeder, meter, entry, household


async def call(hass: HomeAssistant, service: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


async def test_a_feeder_and_a_household_in_one_home_assistant(
    hass: HomeAssistant, ledger: Ledger, device_registry: dr.DeviceRegistry
) -> None:
    feeder, meter, feeder_entry, household = await set_up_feeder_and_household(hass, ledger, 250)
    assert feeder_entity(hass, feeder, "sensor", "last_reading_submitted").state == "unknown"

    # The feeder's first reading sets its register on-chain; no energy counts for it.
    response = await call(hass, "submit_reading", config_entry_id=feeder_entry.entry_id)
    assert response["wh"] == 250_000
    assert response["tx_hash"].startswith("0x")
    await set_register(hass, 1.002)
    assert (await submit(hass, household))["wh"] == 1002
    await set_feeder_register(hass, 250.2)  # within the rating of 1 MW in the second since
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": f"button.grid_ledger_feeder_{feeder.feeder_id}_submit_reading"},
        blocking=True,
    )

    assert feeder_accepted(ledger, feeder.feeder_id) == [250_000, 250_200]
    assert feeder_on_chain(ledger, feeder.feeder_id)[0] == 250_200
    assert accepted(ledger, meter.meter_id) == [1002]
    assert float(feeder_entity(hass, feeder, "sensor", "energy_this_period").state) == 0.2
    children = feeder_entity(hass, feeder, "sensor", "children_s_energy_this_period")
    assert float(children.state) == 0  # the household's energy counts once it closes the period
    assert feeder_entity(hass, feeder, "sensor", "last_reading_submitted").state != "unknown"
    assert float(feeder_entity(hass, feeder, "sensor", "loss_tolerance").state) == 5.0
    assert feeder_entity(hass, feeder, "sensor", "wallet_address").state == feeder.address
    assert feeder_entity(hass, feeder, "binary_sensor", "loss_above_tolerance").state == "off"
    assert feeder_entity(hass, feeder, "binary_sensor", "node_reachable").state == "on"
    devices = {
        device.name
        for entry in (household, feeder_entry)
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    }
    assert devices == {
        f"Grid Ledger feeder {feeder.feeder_id}",
        f"Grid Ledger meter {meter.meter_id}",
    }


async def test_household_actions_refuse_a_feeder(
    hass: HomeAssistant, ledger: Ledger, device_registry: dr.DeviceRegistry
) -> None:
    feeder, entry = await set_up_feeder(hass, ledger, 10)
    device = dr.async_entries_for_config_entry(device_registry, entry.entry_id)[0]
    for service, data in (
        ("pay_bill", {"config_entry_id": entry.entry_id}),
        ("top_up", {"device_id": device.id, "amount": 1}),
        ("claim_tokens", {"config_entry_id": entry.entry_id}),
        ("redeem_tokens", {"config_entry_id": entry.entry_id}),
        ("sell_back", {"config_entry_id": entry.entry_id, "amount": 1}),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, service, **data)
        assert err.value.translation_key == "not_a_household_meter"
        assert err.value.translation_placeholders == {
            "action": f"{DOMAIN}.{service}",
            "entry": f"Feeder {feeder.feeder_id}",
        }


async def at(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, anvil: Anvil, moment: int
) -> None:
    """The chain and Home Assistant at `moment`: a block mined then, and the readings whose
    timers fell due on the way taken (the interval's, and the one at the period's end).

    Chain time stands at `moment` until the test moves it: anvil would otherwise stamp the
    next blocks by the real time elapsed since, so a reading at a period's last second would
    land in the next period whenever the machine is slow."""
    anvil.rpc("evm_setNextBlockTimestamp", moment)
    anvil.rpc("evm_mine")
    anvil.rpc("anvil_setBlockTimestampInterval", 0)
    when = dt_util.utc_from_timestamp(moment)
    freezer.move_to(when)
    async_fire_time_changed(hass, when)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_an_illegal_tap_raises_the_loss_alert_once_per_period(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The feeder measures 2 kWh in period 1, its household reports 0.5 kWh: 75 % is lost, far
    above the 5 % tolerance. Period 2 loses 50 %, period 3 nothing."""
    ledger, anvil = local_chain.ledger, local_chain.node
    genesis = int(ledger.contract.functions.genesis().call())
    detected = async_capture_events(hass, EVENT_LOSS_DETECTED)
    await at(hass, freezer, anvil, genesis + 60)
    feeder, meter, entry, household = await set_up_feeder_and_household(hass, ledger, 100)
    loss_issue = f"loss_detected_{entry.entry_id}"

    # Period 1: the feeder's first reading, then 2 kWh through it, 0.5 kWh to the household.
    await at(hass, freezer, anvil, genesis + 120)
    assert (await submit(hass, entry))["wh"] == 100_000
    await set_register(hass, 1.5)
    await set_feeder_register(hass, 102.0)
    await at(hass, freezer, anvil, genesis + 600)
    await submit(hass, household)
    await submit(hass, entry)
    assert float(feeder_entity(hass, feeder, "sensor", "energy_this_period").state) == 2.0

    # Period 2: the household's reading closes period 1 for it; 0.2 kWh through the feeder.
    await set_register(hass, 1.6)
    await set_feeder_register(hass, 102.2)
    await at(hass, freezer, anvil, genesis + HOUR + 60)
    assert on_chain(ledger, meter.meter_id)[0] == 1600
    assert feeder_on_chain(ledger, feeder.feeder_id)[0] == 102_200
    assert detected == []
    assert feeder_entity(hass, feeder, "binary_sensor", "loss_above_tolerance").state == "off"

    # Period 3: the feeder's first reading checks period 1.
    await set_register(hass, 1.7)
    await set_feeder_register(hass, 102.3)
    await at(hass, freezer, anvil, genesis + 2 * HOUR + 60)
    assert losses_detected(ledger, feeder.feeder_id) == [(1, 7_500)]
    loss = feeder_entity(hass, feeder, "sensor", "actual_loss")
    assert float(loss.state) == 75.0
    assert loss.attributes["period"] == 1
    assert (loss.attributes["feeder_wh"], loss.attributes["children_wh"]) == (2_000, 500)
    assert feeder_entity(hass, feeder, "binary_sensor", "loss_above_tolerance").state == "on"
    assert [event.data for event in detected] == [
        {
            "device_id": entry.runtime_data.coordinator.device_id,
            "feeder_id": feeder.feeder_id,
            "period": 1,
            "loss_percent": 75.0,
            "tolerance_percent": 5.0,
            "feeder_kwh": 2.0,
            "children_kwh": 0.5,
        }
    ]
    issue = issue_registry.async_get_issue(DOMAIN, loss_issue)
    assert issue is not None
    assert issue.translation_placeholders == {
        "feeder_id": str(feeder.feeder_id),
        "period": "1",
        "loss_percent": "75",
        "tolerance_percent": "5",
        "feeder_kwh": "2",
        "children_kwh": "0.5",
    }

    # A restart announces nothing twice.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(detected) == 1

    # Period 4 checks period 2: 0.2 kWh measured, 0.1 kWh reported.
    await at(hass, freezer, anvil, genesis + 3 * HOUR + 60)
    assert losses_detected(ledger, feeder.feeder_id) == [(1, 7_500), (2, 5_000)]
    assert [(event.data["period"], event.data["loss_percent"]) for event in detected] == [
        (1, 75.0),
        (2, 50.0),
    ]

    # Period 5 checks period 3: 0.1 kWh measured and reported. The alert ends.
    await at(hass, freezer, anvil, genesis + 4 * HOUR + 60)
    assert losses_detected(ledger, feeder.feeder_id) == [(1, 7_500), (2, 5_000)]
    assert float(feeder_entity(hass, feeder, "sensor", "actual_loss").state) == 0.0
    assert feeder_entity(hass, feeder, "binary_sensor", "loss_above_tolerance").state == "off"
    assert issue_registry.async_get_issue(DOMAIN, loss_issue) is None
    assert len(detected) == 2


async def test_a_feeder_reading_relayed_elsewhere_is_not_sent_twice(
    hass: HomeAssistant, local_chain: LocalChain, hass_storage: dict[str, Any]
) -> None:
    ledger = local_chain.ledger
    feeder, entry = await set_up_feeder(hass, ledger, 40)

    local_chain.down()
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "reading_queued"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    local_chain.up()

    # Anyone may relay a signed feeder reading: the operator relays the kept one first.
    pending = relay_kept_reading(ledger, hass_storage, entry, "submitFeederReading")
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert feeder_accepted(ledger, feeder.feeder_id) == [40_000]
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
    assert stored["pending"] is None
    assert stored["last_submitted"] == {
        "wh": 40_000,
        "timestamp": pending["timestamp"],
        "tx_hash": None,  # it landed through another relay
        "block_number": None,
        "export_wh": None,
    }


async def test_a_feeder_reading_rejected_by_the_ledger_is_dropped(
    hass: HomeAssistant, ledger: Ledger
) -> None:
    """The operator gave the feeder another signer: the kept reading can never land."""
    feeder, entry = await set_up_feeder(hass, ledger, 7)
    ledger.transact(
        ledger.contract.functions.updateFeeder(
            feeder.feeder_id, ledger.deployment.operator.address, 500
        )
    )
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "contract_invalid_signature"
    assert entry.runtime_data.pipeline.pending is None
    assert feeder_accepted(ledger, feeder.feeder_id) == []


async def test_feeder_diagnostics_hold_no_key(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, ledger: Ledger
) -> None:
    feeder, entry = await set_up_feeder(hass, ledger, 3)
    await submit(hass, entry)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["entry"]["data"]["feeder_key"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["url"] == "**REDACTED**"
    assert diagnostics["wallet"] == feeder.address
    assert diagnostics["state"]["feeder"]["last_wh"] == 3_000
    assert diagnostics["outbox"]["last_submitted"]["wh"] == 3_000
    assert diagnostics["outbox"]["pending"] is None
    assert diagnostics["losses"] == {"announced_period": 0}
    assert diagnostics["settlement"] is None  # none named in the options
    assert diagnostics["state"]["settlement"] is None
    bare = feeder.feeder_key.removeprefix("0x").lower()
    assert bare not in json.dumps(diagnostics).lower()


@pytest.mark.parametrize(
    ("feeder_wh", "children_wh", "loss_bps", "over_5_percent"),
    [
        (0, 0, None, False),  # the feeder measured nothing: no loss to state
        (2_000, 500, 7_500, True),
        (3, 2, 3_333, True),  # rounded toward zero, as the ledger rounds
        (1_000, 950, 500, False),  # at the tolerance: not above it
        (1_000, 949, 510, True),
        (1_000, 1_100, -1_000, False),  # the children reported more than the feeder measured
        (3, 4, -3_333, False),
    ],
)
def test_loss_as_the_ledger_computes_it(
    feeder_wh: int, children_wh: int, loss_bps: int | None, over_5_percent: bool
) -> None:
    period = FeederPeriod(7, feeder_wh, children_wh, checked=True)
    assert period.loss_bps == loss_bps
    assert period.exceeds(500) is over_5_percent


async def test_the_client_signs_a_feeder_reading_and_reads_the_feeder(ledger: Ledger) -> None:
    """Without Home Assistant: the signature the contract checks, and the feeder read at one
    block by a client that connects on its own."""
    feeder = register_feeder(ledger)
    signer = FeederReadingSigner(feeder.feeder_key, ledger.anvil.chain_id, ledger.address)
    assert repr(signer) == f"FeederReadingSigner(address={feeder.address})"
    reading = Reading(feeder.feeder_id, 5_000, ledger.anvil.timestamp() + 1)
    digest = ledger.contract.functions.feederReadingDigest(
        (reading.meter_id, reading.wh, reading.timestamp)
    ).call()
    assert signer.digest(reading) == bytes(digest)

    client = GridLedgerClient(ledger.anvil.rpc_url, ledger.address)
    reader = GridLedgerClient(ledger.anvil.rpc_url, ledger.address)  # never connected
    try:
        wallet = Wallet(client, feeder.feeder_key)
        receipt = await wallet.send(client.submit_feeder_reading_call(signer.sign(reading)))
        assert receipt.succeeded
        state = await reader.feeder_state(feeder.feeder_id, feeder.address)
    finally:
        await client.close()
        await reader.close()
    assert (state.feeder.last_wh, state.feeder.last_timestamp) == (5_000, reading.timestamp)
    assert state.feeder.signer == feeder.address
    assert state.open.period == ledger.contract.functions.currentPeriod().call()
    assert state.wallet_coin == ledger.w3.eth.get_balance(feeder.address)  # type: ignore[arg-type]
    assert state.meter is state.feeder  # read once: now held to its rating
    assert state.producer is None


async def test_feeder_entities_go_unavailable_while_the_node_is_down(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    feeder, entry = await set_up_feeder(hass, local_chain.ledger, 12)
    local_chain.down()
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert feeder_entity(hass, feeder, "binary_sensor", "node_reachable").state == "off"
    assert feeder_entity(hass, feeder, "binary_sensor", "loss_above_tolerance").state == (
        "unavailable"
    )
    assert feeder_entity(hass, feeder, "sensor", "actual_loss").state == "unavailable"
    local_chain.up()
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert feeder_entity(hass, feeder, "sensor", "actual_loss").state == "unknown"  # no energy


async def test_a_feeder_reads_at_the_last_second_of_each_period(
    hass: HomeAssistant, local_chain: LocalChain, freezer: FrozenDateTimeFactory
) -> None:
    """A period holds the energy the feeder measured in it: the reading that closes it is taken
    at its last second, not at the next interval."""
    ledger, anvil = local_chain.ledger, local_chain.node
    genesis = int(ledger.contract.functions.genesis().call())
    await at(hass, freezer, anvil, genesis + 60)
    feeder = register_feeder(ledger)
    await set_feeder_register(hass, 12.0)
    entry = make_feeder_entry(ledger, feeder)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_READING_INTERVAL: 120})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert (await submit(hass, entry))["wh"] == 12_000

    await set_feeder_register(hass, 12.5)
    await at(hass, freezer, anvil, genesis + HOUR - 1)
    assert feeder_on_chain(ledger, feeder.feeder_id) == (12_500, genesis + HOUR - 1)
    assert float(feeder_entity(hass, feeder, "sensor", "energy_this_period").state) == 0.5
    period_start = dt_util.utc_from_timestamp(genesis).isoformat()
    energy = feeder_entity(hass, feeder, "sensor", "energy_this_period")
    assert energy.attributes["last_reset"] == period_start

    await set_feeder_register(hass, 12.6)
    await at(hass, freezer, anvil, genesis + 2 * HOUR - 1)
    assert feeder_on_chain(ledger, feeder.feeder_id) == (12_600, genesis + 2 * HOUR - 1)
    energy = feeder_entity(hass, feeder, "sensor", "energy_this_period")
    assert float(energy.state) == 0.1  # the second period's own


@pytest.mark.parametrize(
    ("offset", "period"),
    [(-1, 0), (0, 1), (HOUR - 1, 1), (HOUR, 2), (5 * HOUR + 7, 6)],
)
def test_periods_are_counted_as_the_ledger_counts_them(offset: int, period: int) -> None:
    info = LedgerInfo(
        31337, "0x" + "00" * 20, "3.0.0", None, "ETH", 18, HOUR, 2**64 - 1, 10**9, 300
    )
    assert info.period_of(10**9 + offset) == period
