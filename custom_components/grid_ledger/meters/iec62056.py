"""IEC 62056-21 mode C readout of a utility meter through an optical head.

The exchange: sign-on ``/?!`` at 300 baud 7E1, the meter's identification ``/XXXZ...``,
an acknowledgement proposing the data baud rate, then the data message
``STX data-block ! CR LF ETX BCC``. Only a frame that passes every check becomes a
`MeterReadout`; anything else raises a subclass of `Iec62056Error`.

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
IMPORT_REGISTER: Final = "1.8.0"
EXPORT_REGISTER: Final = "2.8.0"
# A real readout is a few kB; more is a runaway stream, not a meter.
MAX_MESSAGE_BYTES: Final = 64 * 1024
# Seconds a closing port may take to hand back its file descriptor.
CLOSE_TIMEOUT: Final = 2.0

_IDENTIFICATION = re.compile(rb"/([A-Za-z]{3})([0-9])((?:\\[0-9A-Za-z])*)([\x21-\x7e]{1,16})\r\n")
# address(value[*unit]) followed by any further value groups, which are checked but not kept
_DATA_SET = re.compile(
    r"([^()/!*\s]{1,16}(?:\*[^()/!*\s]{1,3})?)"
    r"\(([^()/!*\r\n]{0,32})(?:\*([^()/!*\r\n]{1,16}))?\)"
    r"(?:\([^()/!\r\n]{0,48}\))*"
)
_OBIS_CURRENT = re.compile(r"(?:\d{1,3}-\d{1,3}:)?(\d{1,3}\.\d{1,3}\.\d{1,3})(?:\*255)?")
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
    """The data block lacks the import register (OBIS 1.8.0)."""


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
    """A complete, checked readout."""

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
    """Parse ``/XXXZ[\\W]ident CR LF``; only mode C (a digit for Z) is accepted."""
    match = _IDENTIFICATION.fullmatch(line)
    if match is None:
        raise FrameError(f"not a mode C identification: {line[:40]!r}")
    manufacturer, baud_char, _enhanced, model = match.groups()
    baudrate = BAUDRATES.get(baud_char.decode())
    if baudrate is None:
        raise FrameError(f"unknown baud rate character {baud_char!r} in {line[:40]!r}")
    return MeterIdentification(manufacturer.decode(), baudrate, model.decode())


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
    if not text.endswith("!\r\n"):
        raise FrameError("data block does not end with '!' CR LF")
    return parse_data_block(text[: -len("!\r\n")])


def parse_data_block(text: str) -> tuple[DataSet, ...]:
    """Parse CR LF separated lines of one or more ``address(value[*unit])...`` data sets."""
    data_sets: list[DataSet] = []
    for line in text.split("\r\n"):
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
    if not _ENERGY_VALUE.fullmatch(data_set.value):
        raise FrameError(f"{data_set.address}: not an energy value: {data_set.value!r}")
    if data_set.unit is None:
        raise UnitError(f"{data_set.address}: energy register without a unit")
    factor = WH_PER_UNIT.get(data_set.unit)
    if factor is None:
        raise UnitError(f"{data_set.address}: unknown energy unit {data_set.unit!r}")
    try:
        return int(Decimal(data_set.value) * factor)
    except InvalidOperation as err:  # pragma: no cover - the pattern admits only decimals
        raise FrameError(f"{data_set.address}: bad value {data_set.value!r}") from err


def _register(data_sets: tuple[DataSet, ...], obis: str) -> DataSet | None:
    """The current value of a register; historical values (``*NN``) do not count."""
    found = [
        data_set
        for data_set in data_sets
        if (match := _OBIS_CURRENT.fullmatch(data_set.address)) and match.group(1) == obis
    ]
    if len(found) > 1:
        raise FrameError(f"register {obis} appears {len(found)} times")
    return found[0] if found else None


def readout_from_message(identification: MeterIdentification, message: bytes) -> MeterReadout:
    """Build a readout from a data message; every check applies."""
    data_sets = parse_data_message(message)
    imported = _register(data_sets, IMPORT_REGISTER)
    if imported is None:
        raise RegisterMissingError(f"no {IMPORT_REGISTER} register in the data block")
    exported = _register(data_sets, EXPORT_REGISTER)
    return MeterReadout(
        identification=identification,
        import_wh=energy_wh(imported),
        export_wh=None if exported is None else energy_wh(exported),
        data_sets=data_sets,
    )


def _baud_character(baudrate: int) -> str:
    for char, rate in BAUDRATES.items():
        if rate == baudrate:
            return char
    raise ValueError(f"{baudrate} is not a mode C baud rate ({sorted(BAUDRATES.values())})")


_CR_LF: Final = add_parity(b"\r\n")
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
            line = check_parity(await reader.readuntil(_CR_LF))
            if line == request:  # optical heads may echo what they send
                line = check_parity(await reader.readuntil(_CR_LF))
            identification = parse_identification(line)

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
