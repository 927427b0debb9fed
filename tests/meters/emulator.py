"""An IEC 62056-21 mode C meter on a pseudo-terminal, for the reader to open by its path.

It answers the sign-on with `noise` (raw bytes, parity bits as given) and `identification`,
reads the acknowledgement, waits until the reader has switched the line to the agreed baud
rate and then sends `message`. Either answer may be None: the meter stays silent. Characters
travel as 7E1 does on the wire (even parity in bit 7 of 8N1); the emulator checks the parity
and speeds of what it gets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios

from custom_components.grid_ledger.meters.iec62056 import (
    BAUDRATES,
    ETX,
    STX,
    add_parity,
    block_check_character,
)

_SPEEDS = {getattr(termios, f"B{rate}"): rate for rate in (300, 600, 1200, 2400, 4800, 9600, 19200)}

DEFAULT_IDENTIFICATION = b"/ISK5MT174-0001\r\n"
DEFAULT_BLOCK = (
    "0.0.0(12345678)\r\n"
    "0.9.1(102030)\r\n"
    "1.8.0(004321.789*kWh)\r\n"
    "1.8.1(003000.000*kWh)\r\n"
    "1.8.2(001321.789*kWh)\r\n"
    "2.8.0(000123.456*kWh)\r\n"
    "F.F(00)\r\n"
)
# Blocks shaped like readouts of meters in the field (written for these tests): tariffs
# without a 1.8.0 total, and registers the reader does not use, in units it does not know.
TARIFFS_ONLY = (
    "0.0.0(87654321)\r\n"
    "0.2.0(V1.07)\r\n"
    "1.8.1(003000.000*kWh)\r\n"
    "1.8.2(001321.789*kWh)\r\n"
    "2.8.1(000100.000*kWh)\r\n"
    "2.8.2(000023.4567*kWh)\r\n"
    "F.F(00000000)\r\n"
)
UNUSED_REGISTERS = (
    "0.0.0(12345678)\r\n"
    "0.3.0(1000*Imp/kWh)\r\n"
    "0.4.2(0001*Imp/kvarh)\r\n"
    "0.9.1(12:30:45)\r\n"
    "0.9.2(25/11/25)\r\n"
    "1.6.0(02.381*kW)(2511241815)\r\n"
    "1.8.0(004321.789*kWh)\r\n"
    "C.1.0(Meter with a long firmware description, 60 characters...)\r\n"
)


def build_message(block: str, *, end: bool = True, bcc_delta: int = 0) -> bytes:
    """STX block ! CR LF ETX BCC, with an optional wrong BCC."""
    payload = (block + ("!\r\n" if end else "")).encode("latin-1") + bytes([ETX])
    return bytes([STX]) + payload + bytes([block_check_character(payload) ^ bcc_delta])


DEFAULT_MESSAGE = build_message(DEFAULT_BLOCK)


REACTION_TIME = 0.2  # seconds: IEC 62056-21 mode C, the least a meter waits before answering


class MeterEmulator:
    def __init__(
        self,
        identification: bytes | None = DEFAULT_IDENTIFICATION,
        message: bytes | None = DEFAULT_MESSAGE,
        *,
        echo: bool = False,
        noise: bytes = b"",
    ) -> None:
        self.identification = identification
        self.message = message
        self.echo = echo
        self.noise = noise
        # Sent instead of add_parity(message), for parity faults.
        self.raw_message: bytes | None = None
        self._master, self._slave = os.openpty()
        self.port = os.ttyname(self._slave)
        self._buffer = bytearray()
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # What the reader did, for the tests to check.
        self.sign_on: bytes | None = None
        self.sign_on_speed: int | None = None
        self.acknowledgement: bytes | None = None
        self.data_speed: int | None = None
        self.parity_errors = 0

    async def __aenter__(self) -> MeterEmulator:
        asyncio.get_running_loop().add_reader(self._master, self._on_readable)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        asyncio.get_running_loop().remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)

    def _on_readable(self) -> None:
        with contextlib.suppress(OSError):
            raw = os.read(self._master, 4096)
            self.parity_errors += sum(byte.bit_count() & 1 for byte in raw)
            self._buffer += bytes(byte & 0x7F for byte in raw)
            self._arrived.set()

    async def _read_line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            self._arrived.clear()
            await self._arrived.wait()
        end = self._buffer.index(b"\r\n") + 2
        line = bytes(self._buffer[:end])
        del self._buffer[:end]
        return line

    def _speed(self) -> int:
        return _SPEEDS[termios.tcgetattr(self._slave)[4]]

    def _send(self, data: bytes) -> None:
        os.write(self._master, add_parity(data))

    async def _run(self) -> None:
        self.sign_on = await self._read_line()
        self.sign_on_speed = self._speed()
        if self.echo:
            self._send(self.sign_on)
        if self.identification is None:
            return
        os.write(self._master, self.noise)
        self._send(self.identification)
        self.acknowledgement = await self._read_line()
        if self.echo:
            self._send(self.acknowledgement)
        agreed = BAUDRATES[chr(self.acknowledgement[2])]
        # A line setting has no event to wait on: poll it, as a meter's UART would.
        while self._speed() != agreed:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        self.data_speed = agreed
        # And answers no sooner than the standard's reaction time (200 ms) after it: a reader's
        # port change ends by discarding what it had received, as serialx's does.
        await asyncio.sleep(REACTION_TIME)
        if self.raw_message is not None:
            os.write(self._master, self.raw_message)
        elif self.message is not None:
            self._send(self.message)
