"""A serial IEC 62056-21 meter as the energy source, on a pseudo-terminal emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.grid_ledger.const import (
    CONF_BAUDRATE,
    CONF_ENERGY_ENTITY,
    CONF_ENERGY_SOURCE,
    CONF_METER_ID,
    CONF_RELAY_ENTITY,
    CONF_SERIAL_PORT,
    DOMAIN,
)
from tests.meters.emulator import DEFAULT_BLOCK, TARIFFS_ONLY, MeterEmulator, build_message

from .conftest import (
    RELAY_ENTITY,
    Ledger,
    LocalChain,
    MeterSetup,
    make_entry,
    register_meter,
)
from .test_config_flow import choose_key, meter_input, start
from .test_readings import accepted, setup, submit

pytestmark = pytest.mark.usefixtures("socket_enabled")

SHORT_TIMEOUT = 1.5  # seconds: a silent meter fails fast


class Meter(MeterEmulator):
    """Answers one readout after another on the same port, with the message of the moment."""

    async def _run(self) -> None:
        while True:
            await super()._run()


def message(import_kwh: str) -> bytes:
    return build_message(DEFAULT_BLOCK.replace("004321.789", import_kwh))


@pytest.fixture
async def serial_meter() -> AsyncIterator[Meter]:
    async with Meter() as emulator:
        yield emulator


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("config_flow", "readings"):
        monkeypatch.setattr(
            f"custom_components.grid_ledger.{module}.SERIAL_READ_TIMEOUT", SHORT_TIMEOUT
        )


def serial_entry(ledger: Ledger, meter: MeterSetup, port: str) -> MockConfigEntry:
    entry = make_entry(ledger, meter)
    data = {k: v for k, v in entry.data.items() if k != CONF_ENERGY_ENTITY}
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data={**data, CONF_SERIAL_PORT: port, CONF_BAUDRATE: 9600},
        options=dict(entry.options),
    )


async def serial_step(hass: HomeAssistant, ledger: Ledger, meter: MeterSetup) -> dict[str, Any]:
    result = await choose_key(hass, await start(hass, ledger), meter.wallet_key)
    assert result["step_id"] == "meter"
    user_input = meter_input(meter, **{CONF_ENERGY_SOURCE: "serial"})
    del user_input[CONF_ENERGY_ENTITY]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "meter_serial"
    assert result["errors"] == {}
    return result


async def test_flow_reads_the_serial_meter_once(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup, serial_meter: Meter
) -> None:
    result = await serial_step(hass, ledger, meter)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERIAL_PORT: serial_meter.port, CONF_BAUDRATE: "4800"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Meter {meter.meter_id}"
    data = result["data"]
    assert data[CONF_SERIAL_PORT] == serial_meter.port
    assert data[CONF_BAUDRATE] == 4800
    assert data[CONF_METER_ID] == meter.meter_id
    assert data[CONF_RELAY_ENTITY] == RELAY_ENTITY
    assert CONF_ENERGY_ENTITY not in data
    assert CONF_ENERGY_SOURCE not in data
    assert serial_meter.data_speed == 4800  # the flow really read the meter at the chosen rate


@pytest.mark.parametrize(
    ("answer", "field", "error"),
    [
        ("no port", CONF_SERIAL_PORT, "cannot_open_port"),
        ("silent", CONF_SERIAL_PORT, "meter_timeout"),
        ("bad bcc", CONF_BAUDRATE, "bad_frame"),
        ("garbled", CONF_BAUDRATE, "bad_frame"),
        ("no import", "base", "no_import_register"),
        ("unknown unit", "base", "no_import_register"),
    ],
)
@pytest.mark.usefixtures("short_timeout")
async def test_flow_serial_errors(
    hass: HomeAssistant,
    ledger: Ledger,
    meter: MeterSetup,
    tmp_path: Path,
    answer: str,
    field: str,
    error: str,
) -> None:
    messages = {
        "bad bcc": build_message(DEFAULT_BLOCK, bcc_delta=0x11),
        "garbled": build_message("1.8.0(0043((21.789*kWh)\r\n"),
        "no import": build_message("2.8.0(000123.456*kWh)\r\n"),
        "unknown unit": build_message("1.8.0(004321.789*kvarh)\r\n"),
    }
    result = await serial_step(hass, ledger, meter)
    async with Meter(
        identification=None if answer == "silent" else b"/ISK5MT174-0001\r\n",
        message=messages.get(answer),
    ) as emulator:
        port = str(tmp_path / "ttyUSB9") if answer == "no port" else emulator.port
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_SERIAL_PORT: port, CONF_BAUDRATE: "9600"}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "meter_serial"
        assert result["errors"] == {field: error}

        # The household fixes it: the same flow goes on with a meter that answers.
        emulator.message = message("004321.789")
        emulator.identification = b"/ISK5MT174-0001\r\n"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_SERIAL_PORT: emulator.port, CONF_BAUDRATE: "9600"}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SERIAL_PORT] == emulator.port


async def test_entity_source_needs_the_energy_sensor(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup
) -> None:
    result = await choose_key(hass, await start(hass, ledger), meter.wallet_key)
    user_input = meter_input(meter, **{CONF_ENERGY_SOURCE: "entity"})
    del user_input[CONF_ENERGY_ENTITY]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "meter"
    assert result["errors"] == {CONF_ENERGY_ENTITY: "energy_entity_required"}


async def test_readings_from_the_serial_meter_land_on_chain(
    hass: HomeAssistant, ledger: Ledger, serial_meter: Meter
) -> None:
    # Registered just under the emulated register: the contract caps the implied power.
    meter = register_meter(ledger, initial_wh=4_321_785)
    entry = serial_entry(ledger, meter, serial_meter.port)
    await setup(hass, entry)

    response = await submit(hass, entry)
    assert response["submitted"] is True
    assert response["wh"] == 4_321_789
    serial_meter.message = message("004321.7929")  # whole Wh, rounded down
    response = await submit(hass, entry)
    assert response["wh"] == 4_321_792
    assert accepted(ledger, meter.meter_id) == [4_321_789, 4_321_792]
    energy = hass.states.get(f"sensor.grid_ledger_meter_{meter.meter_id}_attested_energy")
    assert energy is not None
    assert float(energy.state) == pytest.approx(4321.792)
    assert serial_meter.parity_errors == 0


async def test_a_tariff_only_meter_on_a_noisy_lf_line_lands_readings(
    hass: HomeAssistant, ledger: Ledger
) -> None:
    """No 1.8.0 total, lines ending in LF, noise before the identification: still read."""
    block = TARIFFS_ONLY.replace("\r\n", "\n") + "!\n"
    async with Meter(
        b"/EMH5eHZ010C\n", build_message(block, end=False), noise=b"\x00\xff\r\n"
    ) as emulator:
        meter = register_meter(ledger, initial_wh=4_321_785)
        entry = serial_entry(ledger, meter, emulator.port)
        await setup(hass, entry)
        response = await submit(hass, entry)
    assert response["submitted"] is True
    assert response["wh"] == 4_321_789  # 1.8.1 + 1.8.2
    assert accepted(ledger, meter.meter_id) == [4_321_789]


@pytest.mark.usefixtures("short_timeout")
async def test_garbled_readout_takes_no_reading_and_keeps_the_outbox(
    hass: HomeAssistant,
    local_chain: LocalChain,
    hass_storage: dict[str, Any],
    serial_meter: Meter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = local_chain.ledger
    meter = register_meter(ledger, initial_wh=4_399_998)
    entry = serial_entry(ledger, meter, serial_meter.port)
    await setup(hass, entry)
    store_key = f"{DOMAIN}.{entry.entry_id}"

    local_chain.down()
    serial_meter.message = message("004400.000")
    with pytest.raises(HomeAssistantError):
        await submit(hass, entry)
    kept = hass_storage[store_key]["data"]["pending"]
    assert kept["wh"] == 4_400_000

    serial_meter.message = build_message(DEFAULT_BLOCK, bcc_delta=0x20)
    with pytest.raises(HomeAssistantError):
        await submit(hass, entry)
    assert hass_storage[store_key]["data"]["pending"] == kept
    assert entry.runtime_data.pipeline.outbox.pending is not None
    assert entry.runtime_data.pipeline.outbox.pending.as_dict() == kept
    assert "No reading from the meter on" in caplog.text

    local_chain.up()
    response = await submit(hass, entry)
    # No new reading was signed; the kept one went out and covers the time since.
    assert response == {
        "submitted": True,
        "tx_hash": response["tx_hash"],
        "block_number": response["block_number"],
        "wh": kept["wh"],
        "timestamp": kept["timestamp"],
    }
    assert accepted(ledger, meter.meter_id) == [4_400_000]
    assert hass_storage[store_key]["data"]["pending"] is None

    serial_meter.identification = None  # silent now: still no reading, nothing sent
    with pytest.raises(HomeAssistantError) as err:
        await submit(hass, entry)
    assert err.value.translation_key == "register_unavailable"
    assert accepted(ledger, meter.meter_id) == [4_400_000]
    assert caplog.text.count("No reading from the meter on") == 1  # logged once, not each time
