"""IEC 62056-21 mode C readout against an emulated meter on a real pseudo-terminal."""

from __future__ import annotations

import pytest

from custom_components.grid_ledger.meters.iec62056 import (
    ChecksumError,
    DataSet,
    FrameError,
    Iec62056Error,
    MeterIdentification,
    MeterTimeoutError,
    ParityError,
    RegisterMissingError,
    SerialPortError,
    UnitError,
    add_parity,
    check_parity,
    energy_wh,
    parse_identification,
    read_meter,
    readout_from_message,
)
from tests.meters.emulator import DEFAULT_BLOCK, MeterEmulator, build_message

IDENT = MeterIdentification("ISK", 9600, "MT174-0001")


async def test_reads_import_and_export_registers() -> None:
    async with MeterEmulator() as meter:
        readout = await read_meter(meter.port, 9600, read_timeout=5)
    assert readout.identification == IDENT
    assert readout.import_wh == 4_321_789
    assert readout.export_wh == 123_456
    assert DataSet("1.8.1", "003000.000", "kWh") in readout.data_sets
    assert meter.sign_on == b"/?!\r\n"
    assert meter.sign_on_speed == 300
    assert meter.acknowledgement == b"\x06050\r\n"
    assert meter.data_speed == 9600
    assert meter.parity_errors == 0


@pytest.mark.parametrize(
    ("meter_char", "reader_baud", "agreed"),
    [("6", 4800, 4800), ("3", 9600, 2400), ("6", 19200, 19200), ("0", 9600, 300)],
)
async def test_switches_to_the_slower_of_meter_and_reader(
    meter_char: str, reader_baud: int, agreed: int
) -> None:
    identification = f"/ABC{meter_char}Meter\r\n".encode()
    async with MeterEmulator(identification) as meter:
        readout = await read_meter(meter.port, reader_baud, read_timeout=8)
    assert readout.import_wh == 4_321_789
    assert meter.data_speed == agreed
    assert readout.identification.max_baudrate > 0


async def test_echoing_optical_head_and_enhanced_identification() -> None:
    async with MeterEmulator(b"/LGZ5\\2ZMD3104407.B32\r\n", echo=True) as meter:
        readout = await read_meter(meter.port, read_timeout=5)
    assert readout.identification == MeterIdentification("LGZ", 9600, "ZMD3104407.B32")
    assert readout.import_wh == 4_321_789


async def test_device_address_goes_into_the_sign_on() -> None:
    async with MeterEmulator() as meter:
        await read_meter(meter.port, read_timeout=5, address="12345678")
    assert meter.sign_on == b"/?12345678!\r\n"


async def test_rejects_a_baud_rate_mode_c_cannot_agree() -> None:
    with pytest.raises(ValueError, match="not a mode C baud rate"):
        await read_meter("/dev/null", 115200)


@pytest.mark.parametrize(
    ("identification", "message", "error", "match"),
    [
        (None, None, MeterTimeoutError, "identification"),
        (b"/ISK5MT174\r\n", None, MeterTimeoutError, "data message"),
        (b"/ISK5MT174\r\n", build_message(DEFAULT_BLOCK)[:-8], MeterTimeoutError, "data message"),
        (b"/ISK5MT174\r\n", build_message(DEFAULT_BLOCK, bcc_delta=0x11), ChecksumError, "BCC"),
        (b"ISK5MT174 garbage\r\n", None, FrameError, "identification"),
        (b"/ISKEMT174\r\n", None, FrameError, "identification"),
        (b"/ISK5MT174\r\n", build_message("1.8.0(12*kWh\r\n"), FrameError, "garbled"),
        (b"/ISK5MT174\r\n", build_message("1.8.0(12*varh)\r\n"), UnitError, "varh"),
        (b"/ISK5MT174\r\n", build_message("1.8.0(12)\r\n"), UnitError, "without a unit"),
        (b"/ISK5MT174\r\n", build_message("2.8.0(12*kWh)\r\n"), RegisterMissingError, "1.8.0"),
        (
            b"/ISK5MT174\r\n",
            build_message("1.8.0(12*kWh)\r\n1-0:1.8.0(13*kWh)\r\n"),
            FrameError,
            "2 times",
        ),
        (b"/ISK5MT174\r\n", build_message("1.8.0(1\x07*kWh)\r\n"), FrameError, "printable"),
        (b"/ISK5MT174\r\n", build_message("1.8.0(12*kWh)\r\n", end=False), FrameError, "'!'"),
        (b"/ISK5MT174\r\n", b"noise" + build_message("1.8.0(1*kWh)\r\n"), FrameError, "before"),
        (b"/ISK5MT174\r\n", build_message("1.8.0(-12*kWh)\r\n"), FrameError, "energy value"),
    ],
    ids=[
        "silent-meter",
        "silent-after-identification",
        "truncated-message",
        "bad-bcc",
        "garbled-identification",
        "mode-b-identification",
        "garbled-data-line",
        "unknown-unit",
        "missing-unit",
        "no-import-register",
        "duplicate-import-register",
        "control-character",
        "no-end-of-block",
        "junk-before-stx",
        "negative-register",
    ],
)
async def test_faults_raise_clear_errors_and_never_a_reading(
    identification: bytes | None,
    message: bytes | None,
    error: type[Iec62056Error],
    match: str,
) -> None:
    async with MeterEmulator(identification, message) as meter:
        with pytest.raises(error, match=match):
            await read_meter(meter.port, read_timeout=1.0)


async def test_parity_error_in_the_data_message() -> None:
    async with MeterEmulator() as meter:
        wire = bytearray(add_parity(build_message(DEFAULT_BLOCK)))
        wire[20] ^= 0x80
        meter.raw_message = bytes(wire)
        with pytest.raises(ParityError, match="character 19"):
            await read_meter(meter.port, read_timeout=2)


def test_parity_round_trip() -> None:
    text = bytes(range(0x80))
    wire = add_parity(text)
    assert all(byte.bit_count() % 2 == 0 for byte in wire)
    assert check_parity(wire) == text
    assert add_parity(b"\r\n\x02\x03") == b"\x8d\x0a\x82\x03"


async def test_missing_port_is_a_serial_port_error() -> None:
    with pytest.raises(SerialPortError, match="cannot open"):
        await read_meter("/dev/grid-ledger-no-such-port", read_timeout=2)


@pytest.mark.parametrize(
    ("value", "unit", "wh"),
    [
        ("000123", "Wh", 123),
        ("0001234.567", "kWh", 1_234_567),
        ("12.3456789", "MWh", 12_345_678),
        ("0.0009", "kWh", 0),
        ("7.5", "WH", 7),
    ],
)
def test_units_become_whole_wh_rounded_down(value: str, unit: str, wh: int) -> None:
    assert energy_wh(DataSet("1.8.0", value, unit)) == wh


def test_eight_bit_data_is_not_mode_c() -> None:
    with pytest.raises(FrameError, match="7-bit"):
        readout_from_message(IDENT, build_message("1.8.0(1\xb2*kWh)\r\n"))


def test_historical_values_and_obis_prefixes() -> None:
    block = "1.8.0*01(000999.000*kWh)\r\n1-0:1.8.0*255(001000.000*kWh)\r\n2.8.0*02(5*kWh)\r\n"
    readout = readout_from_message(IDENT, build_message(block))
    assert readout.import_wh == 1_000_000
    assert readout.export_wh is None


def test_identification_parsing() -> None:
    assert parse_identification(b"/EMH6eHZ-EMH123\r\n") == MeterIdentification(
        "EMH", 19200, "eHZ-EMH123"
    )
    with pytest.raises(FrameError):
        parse_identification(b"/EMH6\r\n")
