"""Property tests of the IEC 62056-21 parser: a reading comes only from an intact frame."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.grid_ledger.meters.iec62056 import (
    WH_PER_UNIT,
    Iec62056Error,
    MeterIdentification,
    ParityError,
    add_parity,
    check_parity,
    parse_identification,
    readout_from_message,
)
from tests.meters.emulator import build_message

IDENT = MeterIdentification("ISK", 9600, "MT174")
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
data_line = st.one_of(
    printable,
    st.builds(
        "{}({}{})".format,
        st.sampled_from(["1.8.0", "2.8.0", "1-0:1.8.0", "1.8.0*01", "0.0.0", "F.F", "C.1.0"]),
        st.from_regex(r"[0-9.\-A-Za-z ]{0,14}", fullmatch=True),
        st.sampled_from(["", "*kWh", "*Wh", "*MWh", "*varh", "*", "*kW"]),
    ),
)
register = st.tuples(
    st.integers(min_value=0, max_value=10**9), st.integers(0, 3), st.sampled_from(list(WH_PER_UNIT))
)


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_protocol_errors(message: bytes) -> None:
    try:
        readout = readout_from_message(IDENT, message)
    except Iec62056Error:
        return
    assert readout.import_wh >= 0


@FUZZ
@given(st.lists(data_line, max_size=8))
def test_well_framed_blocks_raise_only_protocol_errors(lines: list[str]) -> None:
    message = build_message("".join(f"{line}\r\n" for line in lines))
    try:
        readout = readout_from_message(IDENT, message)
    except Iec62056Error:
        return
    assert readout.import_wh >= 0
    assert readout.export_wh is None or readout.export_wh >= 0


@FUZZ
@given(register, st.none() | register)
def test_registers_round_trip_to_whole_wh(
    imported: tuple[int, int, str], exported: tuple[int, int, str] | None
) -> None:
    def render(reg: tuple[int, int, str]) -> tuple[str, int]:
        units, decimals, unit = reg
        value = Decimal(units).scaleb(-decimals)
        return f"{value:0{12 + decimals}.{decimals}f}*{unit}", int(value * WH_PER_UNIT[unit])

    import_text, import_wh = render(imported)
    block = f"0.0.0(123)\r\n1.8.0({import_text})\r\n"
    export_wh = None
    if exported is not None:
        export_text, export_wh = render(exported)
        block += f"2.8.0({export_text})\r\n"
    readout = readout_from_message(IDENT, build_message(block))
    assert (readout.import_wh, readout.export_wh) == (import_wh, export_wh)


@FUZZ
@given(st.data())
def test_any_single_byte_corruption_is_rejected(data: st.DataObject) -> None:
    message = build_message("1.8.0(004321.789*kWh)\r\n2.8.0(000123.456*kWh)\r\n")
    index = data.draw(st.integers(0, len(message) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != message[index]))
    corrupted = message[:index] + bytes([replacement]) + message[index + 1 :]
    try:
        readout = readout_from_message(IDENT, corrupted)
    except Iec62056Error:
        return
    raise AssertionError(f"corrupted frame gave a reading: {readout}")


@FUZZ
@given(st.binary(max_size=40))
def test_identification_parser_never_crashes(line: bytes) -> None:
    try:
        identification = parse_identification(line)
    except Iec62056Error:
        return
    assert len(identification.manufacturer) == 3
    assert identification.max_baudrate in {300, 600, 1200, 2400, 4800, 9600, 19200}


@FUZZ
@given(st.binary(max_size=100))
def test_parity_accepts_exactly_even_characters(wire: bytes) -> None:
    try:
        text = check_parity(wire)
    except ParityError:
        assert any(byte.bit_count() % 2 for byte in wire)
        return
    assert add_parity(text) == wire
