"""IEC 62056-21 mode C readout of a utility meter through an optical head.

The exchange: sign-on ``/?!`` at 300 baud 7E1, the meter's identification ``/XXXZ...``,
an acknowledgement proposing the data baud rate, then the data message
``STX data-block ! CR LF ETX BCC``. Only a frame that passes every check becomes a
`MeterReadout`; anything else raises a subclass of `Iec62056Error`.

Meters differ in the field: some publish only tariff registers (1.8.1, 1.8.2 …) and no 1.8.0
total, registers this reader has no use for carry any unit (``Imp/kWh``), line noise may come
before the identification, and some end lines with LF alone. All of that is read; a frame whose
BCC fails still gives no reading.

The port runs 8N1 and the even parity bit is added and checked here: on the wire that is
exactly 7E1 (ten bits a character either way), and it also works on adapters and
pseudo-terminals without 7-bit modes, with parity errors reported like any other fault.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
import re
from typing import Final

import serialx

STX: Final = 0x02
ETX: Final = 0x03
ACK: Final = 0x06

SIGN_ON_BAUDRATE: Final = 300
# Mode C baud rate characters (the Z of the identification and the acknowledgement).
BAUDRATES: Final[dict[str, int]] = {
    "0": 300,
    "1": 600,
    "2": 1200,
    "3": 2400,
    "4": 4800,
    "5": 9600,
    "6": 19200,
}
# Energy units a register may carry, as multipliers to Wh (meters spell kWh both ways).
WH_PER_UNIT: Final[dict[str, int]] = {
    "Wh": 1,
    "WH": 1,
    "kWh": 1_000,
    "KWh": 1_000,
    "KWH": 1_000,
    "MWh": 1_000_000,
    "MWH": 1_000_000,
}
# OBIS energy registers by kind: C.8.0 is the total, C.8.1 to C.8.63 its tariffs.
IMPORT: Final = "1"  # active energy from the grid (A+)
EXPORT: Final = "2"  # active energy to the grid (A-)
MAX_TARIFF: Final = 63
# A real readout is a few kB; more is a runaway stream, not a meter.
MAX_MESSAGE_BYTES: Final = 64 * 1024
# Seconds a closing port may take to hand back its file descriptor.
CLOSE_TIMEOUT: Final = 2.0

_IDENTIFICATION = re.compile(rb"/([A-Za-z]{3})([0-9])((?:\\[0-9A-Za-z])*)([\x21-\x7e]{1,16})\r?\n")
# What starts an identification; anything before it on the line is noise.
_IDENTIFICATION_START = re.compile(rb"/[A-Za-z]{3}")
# address(value[*unit]) followed by any further value groups, which are checked but not kept
_DATA_SET = re.compile(
    r"([^()/!*\s]{1,16}(?:\*[^()/!*\s]{1,3})?)"
    r"\(([^()!*\r\n]{0,128})(?:\*([^()!*\r\n]{1,16}))?\)"
    r"(?:\([^()!\r\n]{0,128}\))*"
)
_LINE_END = re.compile(r"\r?\n")
_OBIS_CURRENT = re.compile(r"(?:\d{1,3}-\d{1,3}:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\*255)?")
_ENERGY_VALUE = re.compile(r"\d{1,15}(?:\.\d{1,9})?")


class Iec62056Error(Exception):
    """Base of every error of an IEC 62056-21 readout: no reading was produced."""


class SerialPortError(Iec62056Error):
    """The serial port could not be opened or failed during the readout."""


class MeterTimeoutError(Iec62056Error):
    """The meter did not answer (completely) in time."""


class FrameError(Iec62056Error):
    """The identification or the data message is not well formed."""


class ChecksumError(FrameError):
    """The block check character does not match the data message."""


class ParityError(FrameError):
    """A character arrived with odd parity."""


class UnitError(Iec62056Error):
    """An energy register carries a unit this reader does not convert, or none."""


class RegisterMissingError(Iec62056Error):
    """The data block has no import register (OBIS 1.8.0, nor its tariffs 1.8.1 …)."""


@dataclass(frozen=True, slots=True)
class MeterIdentification:
    """The meter's answer to the sign-on."""

    manufacturer: str
    max_baudrate: int
    model: str


@dataclass(frozen=True, slots=True)
class DataSet:
    """One ``address(value*unit)`` data set; only its first value group is kept."""

    address: str
    value: str
    unit: str | None


@dataclass(frozen=True, slots=True)
class MeterReadout:
    """A complete, checked readout. Each energy is the C.8.0 total, or the sum of the tariffs
    when the meter publishes no total; `export_wh` is None for a meter without export."""

    identification: MeterIdentification
    import_wh: int
    export_wh: int | None
    data_sets: tuple[DataSet, ...]


def add_parity(data: bytes) -> bytes:
    """7-bit characters with their even parity bit as bit 7 (7E1 carried over 8N1)."""
    return bytes(byte | (byte.bit_count() & 1) << 7 for byte in data)


def check_parity(data: bytes) -> bytes:
    """Strip the even parity bit of every character, rejecting any with odd parity."""
    for index, byte in enumerate(data):
        if byte.bit_count() & 1:
            raise ParityError(f"parity error in character {index} ({byte:#04x})")
    return bytes(byte & 0x7F for byte in data)


def parse_identification(line: bytes) -> MeterIdentification:
    """Parse ``/XXXZ[\\W]ident [CR] LF``; only mode C (a digit for Z) is accepted."""
    match = _IDENTIFICATION.fullmatch(line)
    if match is None:
        raise FrameError(f"not a mode C identification: {line[:40]!r}")
    manufacturer, baud_char, _enhanced, model = match.groups()
    baudrate = BAUDRATES.get(baud_char.decode())
    if baudrate is None:
        raise FrameError(f"unknown baud rate character {baud_char!r} in {line[:40]!r}")
    return MeterIdentification(manufacturer.decode(), baudrate, model.decode())


def _seven_bit(data: bytes) -> bytes:
    """Received bytes without their parity bits, for messages."""
    return bytes(byte & 0x7F for byte in data)


def find_identification(line: bytes) -> MeterIdentification | None:
    """The identification in a line as received (parity bits included), after any noise; None
    for a line without one (noise, or the optical head's echo of the sign-on)."""
    start = line.find(_SLASH)
    while start != -1:
        try:
            text = check_parity(line[start:])
        except ParityError:
            pass
        else:
            if _IDENTIFICATION_START.match(text):
                return parse_identification(text)
        start = line.find(_SLASH, start + 1)
    return None


def block_check_character(payload: bytes) -> int:
    """XOR of every byte after STX up to and including ETX."""
    bcc = 0
    for byte in payload:
        bcc ^= byte
    return bcc


def parse_data_message(message: bytes) -> tuple[DataSet, ...]:
    """Check ``STX block ! CR LF ETX BCC`` and return its data sets in order."""
    if len(message) < 6 or message[0] != STX:
        raise FrameError("data message does not start with STX")
    if message[-2] != ETX:
        raise FrameError("data message does not end with ETX and a BCC")
    payload = message[1:-1]
    expected = block_check_character(payload)
    if expected != message[-1]:
        raise ChecksumError(f"BCC {message[-1]:#04x} does not match {expected:#04x}")
    block = payload[:-1]
    if any(byte >= 0x80 or (byte < 0x20 and byte not in (0x0D, 0x0A)) for byte in block):
        raise FrameError("data block holds bytes outside 7-bit printable text")
    text = block.decode("ascii")
    for end in ("!\r\n", "!\n"):
        if text.endswith(end):
            return parse_data_block(text.removesuffix(end))
    raise FrameError("data block does not end with '!' CR LF")


def parse_data_block(text: str) -> tuple[DataSet, ...]:
    """Parse [CR] LF separated lines of one or more ``address(value[*unit])...`` data sets."""
    data_sets: list[DataSet] = []
    for line in _LINE_END.split(text):
        if not line:
            continue
        position = 0
        while position < len(line):
            match = _DATA_SET.match(line, position)
            if match is None:
                raise FrameError(f"garbled data line: {line[:60]!r}")
            address, value, unit = match.groups()
            data_sets.append(DataSet(address, value, unit))
            position = match.end()
    return tuple(data_sets)


def energy_wh(data_set: DataSet) -> int:
    """A register value in whole Wh (rounded down, so a register never runs ahead)."""
    return int(_energy(data_set))


def _energy(data_set: DataSet) -> Decimal:
    """A register value in Wh, exactly."""
    if not _ENERGY_VALUE.fullmatch(data_set.value):
        raise FrameError(f"{data_set.address}: not an energy value: {data_set.value!r}")
    if data_set.unit is None:
        raise UnitError(f"{data_set.address}: energy register without a unit")
    factor = WH_PER_UNIT.get(data_set.unit)
    if factor is None:
        raise UnitError(f"{data_set.address}: unknown energy unit {data_set.unit!r}")
    try:
        return Decimal(data_set.value) * factor
    except InvalidOperation as err:  # pragma: no cover - the pattern admits only decimals
        raise FrameError(f"{data_set.address}: bad value {data_set.value!r}") from err


def _energy_registers(data_sets: tuple[DataSet, ...], kind: str) -> dict[int, DataSet]:
    """The current ``kind.8.tariff`` registers by tariff (0: the total); historical values
    (``*NN``) do not count, and a register given twice makes the readout ambiguous."""
    found: dict[int, list[DataSet]] = {}
    for data_set in data_sets:
        match = _OBIS_CURRENT.fullmatch(data_set.address)
        if match is None or match.group(1, 2) != (kind, "8"):
            continue
        tariff = int(match.group(3))
        if tariff <= MAX_TARIFF:
            found.setdefault(tariff, []).append(data_set)
    for tariff, sets in found.items():
        if len(sets) > 1:
            raise FrameError(f"register {kind}.8.{tariff} appears {len(sets)} times")
    return {tariff: sets[0] for tariff, sets in found.items()}


def _energy_wh(data_sets: tuple[DataSet, ...], kind: str) -> int | None:
    """The total of one kind of energy in whole Wh: C.8.0, else the sum of its tariffs."""
    registers = _energy_registers(data_sets, kind)
    if 0 in registers:
        return energy_wh(registers[0])
    if not registers:
        return None
    # Summed exactly and rounded down once: the total never runs ahead of the tariffs.
    return int(sum(_energy(data_set) for data_set in registers.values()))


def readout_from_message(identification: MeterIdentification, message: bytes) -> MeterReadout:
    """Build a readout from a data message; every check applies."""
    data_sets = parse_data_message(message)
    import_wh = _energy_wh(data_sets, IMPORT)
    if import_wh is None:
        raise RegisterMissingError(
            f"no {IMPORT}.8.0 register nor its tariffs ({IMPORT}.8.1 …) in the data block"
        )
    return MeterReadout(
        identification=identification,
        import_wh=import_wh,
        export_wh=_energy_wh(data_sets, EXPORT),
        data_sets=data_sets,
    )


def _baud_character(baudrate: int) -> str:
    for char, rate in BAUDRATES.items():
        if rate == baudrate:
            return char
    raise ValueError(f"{baudrate} is not a mode C baud rate ({sorted(BAUDRATES.values())})")


_LF: Final = add_parity(b"\n")
_SLASH: Final = add_parity(b"/")
_STX: Final = add_parity(bytes([STX]))
_ETX: Final = add_parity(bytes([ETX]))


async def _open(
    port: str,
) -> tuple[asyncio.StreamReader, serialx.SerialStreamWriter[serialx.BaseSerialTransport]]:
    """The port at the sign-on speed, 8N1 (parity is done in software), with a bounded buffer."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await serialx.create_serial_connection(
        loop,
        lambda: protocol,
        port,
        baudrate=SIGN_ON_BAUDRATE,
        parity=serialx.Parity.NONE,
        stopbits=serialx.StopBits.ONE,
        byte_size=8,
    )
    return reader, serialx.SerialStreamWriter(transport, protocol, reader, loop)


async def read_meter(
    port: str, baudrate: int = 9600, read_timeout: float = 15.0, *, address: str = ""
) -> MeterReadout:
    """Read a mode C meter on `port` (a serial device path or a serialx URL).

    `baudrate` is the highest data rate the optical head accepts; the readout runs at the
    lower of it and the meter's own maximum. `address` selects one meter on a shared bus.
    `read_timeout` (seconds) bounds the whole exchange.
    """
    proposed_limit = _baud_character(baudrate)
    phase = "opening the port"
    writer: serialx.SerialStreamWriter[serialx.BaseSerialTransport] | None = None
    unanswered: bytes | None = None
    try:
        async with asyncio.timeout(read_timeout):
            try:
                reader, writer = await _open(port)
            except (serialx.SerialException, OSError) as err:
                raise SerialPortError(f"cannot open {port}: {err}") from err
            request = f"/?{address}!\r\n".encode("ascii")
            writer.write(add_parity(request))
            await writer.drain()

            phase = "waiting for the identification"
            identification = None
            while identification is None:
                line = await reader.readuntil(_LF)
                identification = find_identification(line)
                if identification is None and line != add_parity(request):
                    unanswered = line  # not the optical head's echo: something else answers

            rate_char = min(proposed_limit, _baud_character(identification.max_baudrate))
            acknowledgement = bytes([ACK]) + f"0{rate_char}0\r\n".encode("ascii")
            writer.write(add_parity(acknowledgement))
            await writer.drain()
            # The acknowledgement leaves at 300 baud (10 bits a character) before the switch.
            await asyncio.sleep(len(acknowledgement) * 10 / SIGN_ON_BAUDRATE + 0.05)
            await writer.transport.reconfigure_port(baudrate=BAUDRATES[rate_char])

            phase = "waiting for the data message"
            preamble = check_parity(await reader.readuntil(_STX))
            if preamble[:-1] not in (b"", acknowledgement):
                raise FrameError(f"unexpected bytes before STX: {preamble[:40]!r}")
            body = await reader.readuntil(_ETX)
            message = bytes([STX]) + check_parity(body + await reader.readexactly(1))
    except TimeoutError as err:
        if unanswered is not None and phase == "waiting for the identification":
            raise FrameError(
                f"{port}: no mode C identification, only {_seven_bit(unanswered)[-40:]!r}"
            ) from err
        raise MeterTimeoutError(
            f"{port}: no complete answer while {phase} ({read_timeout} s)"
        ) from err
    except asyncio.IncompleteReadError as err:
        raise SerialPortError(f"{port}: port closed while {phase}") from err
    except asyncio.LimitOverrunError as err:
        raise FrameError(f"{port}: over {MAX_MESSAGE_BYTES} bytes while {phase}") from err
    except (serialx.SerialException, OSError) as err:
        raise SerialPortError(f"{port}: {err}") from err
    finally:
        if writer is not None:
            await _close(writer)
    return readout_from_message(identification, message)


async def _close(writer: serialx.SerialStreamWriter[serialx.BaseSerialTransport]) -> None:
    """Close the port; an adapter that does not let go in time is dropped."""
    writer.transport.close()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await writer.transport.wait_closed()
    except TimeoutError:
        writer.transport.abort()
