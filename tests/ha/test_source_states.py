"""Every state of the energy source has an outcome: a correct reading, or a translated error and
a repair that says what to do and closes by itself; a jump beyond the meter's rating and a
meter exchange are questions for the household, answered in the repair's fix flow."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import DOMAIN as REPAIRS_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    CLIENT_ID,
    MockConfigEntry,
    MockUser,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.grid_ledger.const import DOMAIN
from tests.chain_fixtures import DEFAULT_MAX_POWER_W as DEFAULT_RATING_W

from .conftest import (
    ENERGY_ENTITY,
    RELAY_ENTITY,
    Ledger,
    LocalChain,
    MeterSetup,
    make_entry,
    register_meter,
    set_register,
)
from .test_readings import accepted, on_chain, setup, submit

pytestmark = pytest.mark.usefixtures("socket_enabled")


async def advance(
    hass: HomeAssistant, ledger: Ledger, freezer: FrozenDateTimeFactory, seconds: int
) -> None:
    """Move Home Assistant's clock and the chain's together, and run what falls due."""
    freezer.tick(timedelta(seconds=seconds))
    ledger.anvil.increase_time(seconds)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def fresh(hass: HomeAssistant, ledger: Ledger) -> tuple[MeterSetup, MockConfigEntry]:
    meter = register_meter(ledger)
    await set_register(hass, 1.0)
    entry = make_entry(ledger, meter)
    await setup(hass, entry)
    return meter, entry


async def setup_reading(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup, energy_entity: str
) -> MockConfigEntry:
    """An entry whose energy register is `energy_entity`, set up."""
    entry = make_entry(ledger, meter)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "energy_entity": energy_entity}
    )
    hass.states.async_set(RELAY_ENTITY, "on")
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def issue(registry: ir.IssueRegistry, key: str, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return registry.async_get_issue(DOMAIN, f"{key}_{entry.entry_id}")


@pytest.mark.parametrize(
    ("value", "unit", "key", "placeholders"),
    [
        ("1e20", "kWh", "register_out_of_range", {"state": "1e20"}),
        ("1e400", "kWh", "register_out_of_range", {"state": "1e400"}),
        ("1e999999999", "Wh", "register_out_of_range", {"state": "1e999999999"}),
        ("inf", "kWh", "register_out_of_range", {"state": "inf"}),
        ("nan", "kWh", "register_out_of_range", {"state": "nan"}),
        ("-5", "kWh", "register_out_of_range", {"state": "-5"}),
        ("5", "W", "register_unit", {"unit": "W"}),
        ("5", None, "register_unit", {"unit": "None"}),
    ],
)
async def test_numbers_and_units_that_do_not_fit_raise_a_repair_at_once(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
    value: str,
    unit: str | None,
    key: str,
    placeholders: dict[str, str],
) -> None:
    ledger = local_chain.ledger
    meter, entry = await fresh(hass, ledger)
    attributes = {"device_class": "energy"} | (
        {} if unit is None else {"unit_of_measurement": unit}
    )
    hass.states.async_set(ENERGY_ENTITY, value, attributes)
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    expected = {"source": ENERGY_ENTITY, **placeholders}
    assert err.value.translation_key == key
    assert err.value.translation_placeholders == expected
    raised = issue(issue_registry, key, entry)
    assert raised is not None
    assert raised.translation_placeholders == expected

    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        await advance(hass, ledger, freezer, 15 * 60)  # the interval task meets it too
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Task exception was never retrieved" not in caplog.text
    assert accepted(ledger, meter.meter_id) == []

    await set_register(hass, 1.002)
    await advance(hass, ledger, freezer, 15 * 60)
    assert accepted(ledger, meter.meter_id) == [1002]
    assert issue(issue_registry, key, entry) is None


@pytest.mark.parametrize("state", ["unknown", "unavailable", "garbage", ""])
async def test_an_unavailable_register_is_a_repair_once_it_lasts(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    state: str,
) -> None:
    ledger = local_chain.ledger
    meter, entry = await fresh(hass, ledger)
    await set_register(hass, state)
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "register_unavailable"
    assert err.value.translation_placeholders == {"source": ENERGY_ENTITY, "state": state}
    button = f"button.grid_ledger_meter_{meter.meter_id}_submit_reading"
    with pytest.raises(HomeAssistantError) as pressed:
        await hass.services.async_call("button", "press", {"entity_id": button}, blocking=True)
    assert pressed.value.translation_key == "register_unavailable"
    for _ in range(3):  # 45 minutes: a restart or a reconnect is not a repair yet
        await advance(hass, ledger, freezer, 15 * 60)
    assert issue(issue_registry, "register_unavailable", entry) is None
    await advance(hass, ledger, freezer, 15 * 60)
    raised = issue(issue_registry, "register_unavailable", entry)
    assert raised is not None
    assert raised.translation_placeholders == {"source": ENERGY_ENTITY, "state": state}

    await set_register(hass, 1.004)
    await advance(hass, ledger, freezer, 15 * 60)
    assert accepted(ledger, meter.meter_id) == [1004]  # one reading covers the whole gap
    assert issue(issue_registry, "register_unavailable", entry) is None


async def test_a_renamed_source_is_followed(
    hass: HomeAssistant,
    ledger: Ledger,
    meter: MeterSetup,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
) -> None:
    registered = entity_registry.async_get_or_create("sensor", "meterco", "register-7")
    hass.states.async_set(
        registered.entity_id, "1.0", {"unit_of_measurement": "kWh", "device_class": "energy"}
    )
    entry = await setup_reading(hass, ledger, meter, registered.entity_id)

    entity_registry.async_update_entity(registered.entity_id, new_entity_id="sensor.kitchen_meter")
    hass.states.async_remove(registered.entity_id)
    hass.states.async_set(
        "sensor.kitchen_meter", "1.004", {"unit_of_measurement": "kWh", "device_class": "energy"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.data["energy_entity"] == "sensor.kitchen_meter"
    assert (await submit(hass, entry))["wh"] == 1004
    missing = f"entity_missing_{entry.entry_id}_energy_entity"
    assert issue_registry.async_get_issue(DOMAIN, missing) is None


async def test_the_entity_missing_repair_closes_when_the_entity_comes_back(
    hass: HomeAssistant,
    ledger: Ledger,
    meter: MeterSetup,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
) -> None:
    registered = entity_registry.async_get_or_create("sensor", "meterco", "register-8")
    entry = await setup_reading(hass, ledger, meter, registered.entity_id)
    missing = f"entity_missing_{entry.entry_id}_energy_entity"

    entity_registry.async_remove(registered.entity_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, missing) is not None
    back = entity_registry.async_get_or_create("sensor", "meterco", "register-8")
    await hass.async_block_till_done()
    assert back.entity_id == registered.entity_id
    assert issue_registry.async_get_issue(DOMAIN, missing) is None

    entity_registry.async_remove(registered.entity_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, missing) is not None
    hass.states.async_set(registered.entity_id, "1.0", {"unit_of_measurement": "kWh"})
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, missing) is None


async def fix_flow(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: MockUser,
    issue_id: str,
    answer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Open an issue's fix flow the way the frontend does, and answer its first step. A fresh
    token each time: the tests move the clock past a token's life."""
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    refresh = await hass.auth.async_create_refresh_token(hass_admin_user, CLIENT_ID)
    client = await hass_client(hass.auth.async_create_access_token(refresh))
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert resp.status == 200, await resp.text()
    flow: dict[str, Any] = await resp.json()
    if answer is None:
        return flow
    resp = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json=answer)
    assert resp.status == 200, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


@pytest.mark.parametrize("decision", ["discard", "release"])
async def test_an_implausible_jump_is_held_back_until_the_household_decides(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: MockUser,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    decision: str,
) -> None:
    ledger = local_chain.ledger
    meter, entry = await fresh(hass, ledger)
    last_wh, last_ts = on_chain(ledger, meter.meter_id)

    await set_register(hass, 10_000)  # 10 MWh in a quarter hour: no 20 kW meter does that
    await advance(hass, ledger, freezer, 15 * 60)
    wh, ts = on_chain(ledger, meter.meter_id)
    allowed = last_wh + DEFAULT_RATING_W * (ts - last_ts) // 3600
    assert wh == allowed > last_wh  # the rating's share, not a refusal
    raised = issue(issue_registry, "register_implausible", entry)
    assert raised is not None
    assert raised.is_fixable
    held = 10_000_000 - allowed
    assert raised.translation_placeholders == {
        "source": ENERGY_ENTITY,
        "wh": "10000000",
        "attested_wh": str(allowed),
        "held_wh": str(held),
        "rating_w": str(DEFAULT_RATING_W),
    }

    # Undecided for weeks: energy used after the jump is billed, the jump never is.
    await set_register(hass, 10_002)
    await advance(hass, ledger, freezer, 30 * 24 * 3600)
    assert on_chain(ledger, meter.meter_id)[0] == allowed + 2_000
    assert issue(issue_registry, "register_implausible", entry) is not None
    assert await hass.config_entries.async_reload(entry.entry_id)  # the held jump is kept

    issue_id = f"register_implausible_{entry.entry_id}"
    flow = await fix_flow(hass, hass_client, hass_admin_user, issue_id)
    assert flow["type"] == "menu"
    assert flow["menu_options"] == ["release", "discard"]
    answer = {"next_step_id": decision}
    assert (await fix_flow(hass, hass_client, hass_admin_user, issue_id, answer))[
        "type"
    ] == "create_entry"
    assert issue(issue_registry, "register_implausible", entry) is None

    await set_register(hass, 10_003)
    # An interval after the last reading: the reload's, a second after the period edge's and the
    # interval's readings that fell due together when the clock jumped a month.
    await advance(hass, ledger, freezer, 15 * 60 + 1)
    wh = on_chain(ledger, meter.meter_id)[0]
    if decision == "discard":
        assert wh == allowed + 3_000  # the glitch is never billed
    else:
        assert wh == allowed + 2_000 + DEFAULT_RATING_W * 15 * 60 // 3600  # at the rating's pace
    assert issue(issue_registry, "register_implausible", entry) is None


async def reset_to_zero(
    hass: HomeAssistant, ledger: Ledger, freezer: FrozenDateTimeFactory
) -> tuple[MeterSetup, MockConfigEntry]:
    """A meter attested up to 10 kWh, then its register reads 0 (a new meter): refused."""
    meter, entry = await fresh(hass, ledger)  # registered at 1 kWh
    await set_register(hass, 10.0)
    await advance(hass, ledger, freezer, 3600)
    assert on_chain(ledger, meter.meter_id)[0] == 10_000

    await set_register(hass, 0.0)  # the new meter starts at zero
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "register_backwards"
    return meter, entry


async def test_a_meter_exchange_resumes_from_the_new_meter_without_losing_energy(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: MockUser,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    ledger = local_chain.ledger
    meter, entry = await reset_to_zero(hass, ledger, freezer)
    raised = issue(issue_registry, "register_backwards", entry)
    assert raised is not None
    assert raised.is_fixable

    issue_id = f"register_backwards_{entry.entry_id}"
    flow = await fix_flow(hass, hass_client, hass_admin_user, issue_id)
    assert flow["type"] == "form"
    assert flow["step_id"] == "init"
    await advance(hass, ledger, freezer, 3600)
    await set_register(hass, 7.0)  # used on the new meter before the household confirmed
    await advance(hass, ledger, freezer, 15 * 60)
    assert on_chain(ledger, meter.meter_id)[0] == 10_000  # still waiting for the answer

    answer = {"new_register": 0}
    result = await fix_flow(hass, hass_client, hass_admin_user, issue_id, answer)
    assert result["type"] == "create_entry"
    assert issue(issue_registry, "register_backwards", entry) is None
    assert (await submit(hass, entry))["wh"] == 17_000
    after_reset = on_chain(ledger, meter.meter_id)[0] - 10_000
    assert after_reset == 7_000  # every Wh used after the reset is attested, once

    await set_register(hass, 7.5)
    await advance(hass, ledger, freezer, 15 * 60)
    assert accepted(ledger, meter.meter_id)[-1] == 17_500

    assert await hass.config_entries.async_reload(entry.entry_id)  # the offset is kept
    await set_register(hass, 7.8)
    await advance(hass, ledger, freezer, 15 * 60)
    assert accepted(ledger, meter.meter_id)[-1] == 17_800


def billed_wh(ledger: Ledger, meter_id: int) -> int:
    """Energy of every bill the ledger issued for a meter."""
    logs = ledger.contract.events.BillIssued().get_logs(
        from_block=0, argument_filters={"meterId": meter_id}
    )
    return sum(int(log["args"]["energyWh"]) for log in logs)


async def test_an_exchange_the_operator_recorded_bills_each_meter_once(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    ledger = local_chain.ledger
    meter, entry = await reset_to_zero(hass, ledger, freezer)
    assert issue(issue_registry, "register_backwards", entry) is not None

    # The operator read the old meter's final register, 10.25 kWh, a minute after its last reading.
    exchanged_at = on_chain(ledger, meter.meter_id)[1] + 60
    ledger.transact(
        ledger.contract.functions.recordMeterExchange(meter.meter_id, 10_250, 0, exchanged_at)
    )
    await entry.runtime_data.coordinator.async_refresh()
    await set_register(hass, 0.4)
    await advance(hass, ledger, freezer, 15 * 60)
    assert accepted(ledger, meter.meter_id)[-1] == 400  # the new register as it reads
    assert issue(issue_registry, "register_backwards", entry) is None
    assert issue(issue_registry, "register_implausible", entry) is None
    await set_register(hass, 0.9)
    await advance(hass, ledger, freezer, 15 * 60)
    assert on_chain(ledger, meter.meter_id)[0] == 900

    await advance(hass, ledger, freezer, 3600)
    ledger.transact(ledger.contract.functions.settle(meter.meter_id))
    assert billed_wh(ledger, meter.meter_id) == (10_250 - 1_000) + 900


async def test_the_interval_task_reports_an_unexpected_failure_and_goes_on(
    hass: HomeAssistant,
    local_chain: LocalChain,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = local_chain.ledger
    meter, entry = await fresh(hass, ledger)
    signer = entry.runtime_data.pipeline.signer
    await set_register(hass, 1.002)
    with patch.object(signer, "sign", side_effect=ValueError("a fault nobody foresaw")):
        await advance(hass, ledger, freezer, 15 * 60)
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failed] == [
        "A background reading failed; the next interval tries again"
    ]
    assert "Task exception was never retrieved" not in caplog.text
    await advance(hass, ledger, freezer, 15 * 60)
    assert accepted(ledger, meter.meter_id) == [1002]
