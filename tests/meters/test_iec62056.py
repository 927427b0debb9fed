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
from tests.meters.emulator import (
    DEFAULT_BLOCK,
    DEFAULT_IDENTIFICATION,
    TARIFFS_ONLY,
    UNUSED_REGISTERS,
    MeterEmulator,
    build_message,
)

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


async def test_tariff_registers_add_up_when_the_meter_has_no_total() -> None:
    async with MeterEmulator(message=build_message(TARIFFS_ONLY)) as meter:
        readout = await read_meter(meter.port, read_timeout=5)
    assert readout.import_wh == 4_321_789
    assert readout.export_wh == 123_456  # 100 kWh + 23.4567 kWh, rounded down once


def test_tariffs_are_summed_exactly_then_rounded_down() -> None:
    block = "1.8.1(0.0006*kWh)\r\n1.8.2(0.0006*kWh)\r\n1.8.3(1*Wh)\r\n2.8.0(7*Wh)\r\n"
    readout = readout_from_message(IDENT, build_message(block))
    assert readout.import_wh == 2  # 0.6 + 0.6 + 1 Wh; rounding each would give 1
    assert readout.export_wh == 7


def test_the_total_wins_over_its_tariffs() -> None:
    block = "1.8.0(000010.000*kWh)\r\n1.8.1(000004.000*kWh)\r\n1.8.2(000005.000*kWh)\r\n"
    assert readout_from_message(IDENT, build_message(block)).import_wh == 10_000


@pytest.mark.parametrize(
    ("block", "error", "match"),
    [
        ("1.8.1(1*kWh)\r\n1-0:1.8.1(2*kWh)\r\n", FrameError, "1.8.1 appears 2 times"),
        ("1.8.1(1*kWh)\r\n1.8.2(2*Imp)\r\n", UnitError, "1.8.2.*'Imp'"),
        ("1.8.1*12(1*kWh)\r\n2.8.1(2*kWh)\r\n", RegisterMissingError, r"1\.8\.1 …"),
    ],
    ids=["duplicate-tariff", "tariff-without-energy-unit", "only-historical-tariffs"],
)
def test_tariff_registers_are_checked_like_totals(
    block: str, error: type[Iec62056Error], match: str
) -> None:
    with pytest.raises(error, match=match):
        readout_from_message(IDENT, build_message(block))


async def test_registers_the_reader_does_not_use_may_carry_any_unit() -> None:
    async with MeterEmulator(message=build_message(UNUSED_REGISTERS)) as meter:
        readout = await read_meter(meter.port, read_timeout=5)
    assert readout.import_wh == 4_321_789
    assert readout.export_wh is None
    assert DataSet("0.3.0", "1000", "Imp/kWh") in readout.data_sets
    assert DataSet("0.9.2", "25/11/25", None) in readout.data_sets


@pytest.mark.parametrize(
    "noise",
    [
        b"\x00\xff\x13\x7f",  # bytes with either parity, then the identification on that line
        add_parity(b"ERR") + b"\x80\x01\r\n",  # a line of noise before the identification line
        add_parity(b"//?!\r\n") + b"\xaf\x41\r\n",  # slashes that start no identification
    ],
    ids=["same-line", "line-before", "stray-slashes"],
)
async def test_noise_before_the_identification_is_skipped(noise: bytes) -> None:
    async with MeterEmulator(noise=noise) as meter:
        readout = await read_meter(meter.port, read_timeout=5)
    assert readout.identification == MeterIdentification("ISK", 9600, "MT174-0001")
    assert readout.import_wh == 4_321_789
    assert meter.data_speed == 9600


async def test_lines_ending_in_lf_alone() -> None:
    block = TARIFFS_ONLY.replace("\r\n", "\n") + "!\n"
    async with MeterEmulator(b"/EMH5\\2eHZ010C\n", build_message(block, end=False)) as meter:
        readout = await read_meter(meter.port, read_timeout=5)
    assert readout.identification == MeterIdentification("EMH", 9600, "eHZ010C")
    assert readout.import_wh == 4_321_789
    assert readout.export_wh == 123_456


@pytest.mark.parametrize(
    ("identification", "noise", "block"),
    [
        (b"/EMH5eHZ010C\n", b"", TARIFFS_ONLY.replace("\r\n", "\n") + "!\n"),
        (DEFAULT_IDENTIFICATION, b"\x00\xff\r\n", UNUSED_REGISTERS + "!\r\n"),
    ],
    ids=["lf-tariffs", "noise-unused-units"],
)
async def test_a_field_shaped_frame_with_a_wrong_bcc_gives_no_reading(
    identification: bytes, noise: bytes, block: str
) -> None:
    message = build_message(block, end=False, bcc_delta=0x01)
    async with MeterEmulator(identification, message, noise=noise) as meter:
        with pytest.raises(ChecksumError, match="BCC"):
            await read_meter(meter.port, read_timeout=5)


async def test_only_noise_is_a_frame_error_not_a_silent_meter() -> None:
    async with MeterEmulator(noise=b"\x00\xff garbage\r\n", identification=b"") as meter:
        with pytest.raises(FrameError, match="no mode C identification"):
            await read_meter(meter.port, read_timeout=1)
