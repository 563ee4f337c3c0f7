"""An emulated class-3 PIN pad reader for pcscd: a Gemalto GemPC Pinpad on a
serial line, driven by the CCID project's own serial driver (libccidtwin,
Debian package libccid), so PC/SC part 10 PIN verification runs through
pcscd and the real CCID driver and only the reader's firmware is ours.

The serial protocol is the GemPC Twin/Pinpad one (CCID ``src/ccid_serial.c``):
every CCID message (CCID rev 1.1 section 6) travels as ``03 06 | message |
LRC`` (SYNC, ACK, xor of every previous byte); the reader echoes each
command frame before its answer (the driver expects the echo, ``echo =
true`` for this reader). ``DEVICENAME <pty>:GemPCPinPad`` makes the driver
announce ``bPINSupport = 03`` (verify and modify), so its IFDHControl answers
CM_IOCTL_GET_FEATURE_REQUEST with FEATURE_VERIFY_PIN_DIRECT and turns a
PC/SC part 10 PIN_VERIFY_STRUCTURE into a CCID PC_to_RDR_Secure message.

The firmware here does what a class-3 reader does with that message (CCID
6.1.11.4, PIN verification data structure): it takes the digits from its
keypad, puts them into the APDU template as ``bmFormatString``,
``bmPINBlockString`` and ``bmPINLengthFormat`` say, checks
``wPINMaxExtraDigit``, sends the APDU to the card and answers the card's
status word; CANCEL is answered with bError ``EF`` (PIN cancelled) and an
empty keypad with ``F0`` (PIN timeout), which the driver turns into the
part 10 status words ``6401``/``6400``. The card is a virtual ICC of the
emulator (``simulators.devices.vpcd``) behind the reader's T=0 TPDU transport (the
driver announces TPDU level exchange for this reader).

The firmware never logs or keeps a PIN: ``entries`` records only what the
reader was asked to do (the template and the PIN's length).
"""

from __future__ import annotations

import contextlib
import os
import tty
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import trio

from simulators.devices.card import VirtualCard

SYNC, ACK = 0x03, 0x06
HEADER = 10  # CCID message header (CCID 6.1)

# PC_to_RDR (CCID 6.1) and RDR_to_PC (6.2) message types.
POWER_ON, POWER_OFF, SLOT_STATUS, XFR_BLOCK = 0x62, 0x63, 0x65, 0x6F
GET_PARAMETERS, RESET_PARAMETERS, SET_PARAMETERS = 0x6C, 0x6D, 0x61
ESCAPE, SECURE, ABORT, SET_RATE = 0x6B, 0x69, 0x72, 0x73
DATA_BLOCK, STATUS, PARAMETERS, ESCAPE_ANSWER, RATE = 0x80, 0x81, 0x82, 0x83, 0x84

# bmICCStatus (bits 0-1 of bStatus) and bmCommandStatus (bits 6-7).
ACTIVE, INACTIVE, ABSENT = 0, 1, 2
FAILED = 0x40
# bError (CCID 6.2.6).
ICC_MUTE, PIN_TIMEOUT, PIN_CANCELLED, NOT_SUPPORTED = 0xFE, 0xF0, 0xEF, 0x00

T0_PARAMETERS = bytes([0x11, 0x00, 0x00, 0x0A, 0x00])  # Fi/Di 1, WI 10 (CCID 6.1.7)
FIRMWARE = b"GemPC Pinpad emulated 1.0"


def lrc(data: bytes) -> int:
    out = 0
    for byte in data:
        out ^= byte
    return out


def frame(message: bytes) -> bytes:
    body = bytes([SYNC, ACK]) + message
    return body + bytes([lrc(body)])


def echo(command: bytes) -> bytes:
    """The reader's echo of a command frame. The driver reads the echo into
    the buffer it holds for the answer and throws it away, so a long command
    (the driver's own 165-byte l10n string upload at start-up) would overrun
    it: the echo carries the command's header with an empty body."""
    return frame(command[:1] + bytes(4) + command[5:HEADER])


class Keypad:
    """What the cardholder does at the reader's keypad, one PIN entry after
    the other: ``enter(digits)``, ``cancel()``; with nothing left the entry
    times out."""

    CANCEL = "C"

    def __init__(self) -> None:
        self._entries: list[str] = []

    def enter(self, *digits: str) -> None:
        self._entries.extend(digits)

    def cancel(self) -> None:
        self._entries.append(self.CANCEL)

    def take(self) -> str | None:
        return self._entries.pop(0) if self._entries else None


@dataclass
class Entry:
    """One PIN verification the reader carried out (no digits)."""

    template: bytes
    pin_length: int
    answer: bytes


def insert_pin(apdu: bytearray, pin: str, format_string: int, block_string: int,
                length_format: int) -> None:  # fmt: skip
    """Put ``pin`` into the APDU template (CCID 6.1.11.4): bmFormatString
    b7 = unit (bytes/bits), b6-b3 = the PIN's position after the 5-byte
    header, b2 = justification (right), b1-b0 = type (0 binary, 1 BCD,
    2 ASCII); bmPINBlockString b7-b4 = size in bits of the PIN length field,
    b3-b0 = the PIN block's size in bytes; bmPINLengthFormat b4 = unit,
    b3-b0 = the length field's position."""
    unit = 8 if format_string & 0x80 else 1  # bits per unit: bytes or bits
    position = ((format_string >> 3) & 0x0F) * unit  # in bits, from the data
    kind = format_string & 0x03
    if format_string & 0x04:
        raise ValueError("right justification is not built into this reader")
    data_offset = 5 * 8
    if kind == 1:  # BCD: one digit per nibble
        for index, digit in enumerate(pin):
            bit = data_offset + position + 4 * index
            byte, high = divmod(bit, 8)
            if high == 0:
                apdu[byte] = (apdu[byte] & 0x0F) | (int(digit) << 4)
            else:
                apdu[byte] = (apdu[byte] & 0xF0) | int(digit)
    elif kind == 2:  # ASCII
        start = (data_offset + position) // 8
        apdu[start : start + len(pin)] = pin.encode()
    else:
        raise ValueError("binary PIN type is not built into this reader")
    size_bits = block_string >> 4
    if size_bits:
        length_unit = 8 if length_format & 0x10 else 1
        bit = data_offset + (length_format & 0x0F) * length_unit
        if size_bits != 4 or bit % 4:
            raise ValueError("only a 4-bit PIN length field is built into this reader")
        byte, high = divmod(bit, 8)
        if high == 0:
            apdu[byte] = (apdu[byte] & 0x0F) | (len(pin) << 4)
        else:
            apdu[byte] = (apdu[byte] & 0xF0) | len(pin)


@dataclass
class PinpadFirmware:
    """The reader's firmware: CCID messages in, CCID messages out (sans-I/O)."""

    card: VirtualCard | None = None
    keypad: Keypad = field(default_factory=Keypad)
    powered: bool = False
    entries: list[Entry] = field(default_factory=list)

    def _status(self) -> int:
        if self.card is None:
            return ABSENT
        return ACTIVE if self.powered else INACTIVE

    @staticmethod
    def _answer(kind: int, command: bytes, status: int, error: int, specific: int,
                data: bytes = b"") -> bytes:  # fmt: skip
        head = bytes([kind]) + len(data).to_bytes(4, "little") + command[5:7]
        return head + bytes([status, error, specific]) + data

    def handle(self, command: bytes) -> bytes:
        kind = command[0]
        data = command[HEADER:]
        answer = self._answer
        if kind == POWER_ON:
            if self.card is None:
                return answer(DATA_BLOCK, command, FAILED | ABSENT, ICC_MUTE, 0)
            self.card.reset()
            self.powered = True
            return answer(DATA_BLOCK, command, ACTIVE, 0, 0, self.card.atr)
        if kind == POWER_OFF:
            self.powered = False
            return answer(STATUS, command, self._status(), 0, 0)
        if kind in (SLOT_STATUS, ABORT):
            return answer(STATUS, command, self._status(), 0, 0)
        if kind in (GET_PARAMETERS, RESET_PARAMETERS):
            return answer(PARAMETERS, command, self._status(), 0, 0, T0_PARAMETERS)
        if kind == SET_PARAMETERS:
            return answer(PARAMETERS, command, self._status(), 0, command[7], data)
        if kind == SET_RATE:
            return answer(RATE, command, self._status(), 0, 0, data[:8])
        if kind == ESCAPE:
            reply = FIRMWARE if data[:1] == b"\x02" else b""
            return answer(ESCAPE_ANSWER, command, self._status(), 0, 0, reply)
        if self.card is None or not self.powered:
            return answer(DATA_BLOCK, command, FAILED | self._status(), ICC_MUTE, 0)
        if kind == XFR_BLOCK:
            return answer(DATA_BLOCK, command, ACTIVE, 0, 0, self.card.transmit(data))
        if kind == SECURE and data[:1] == b"\x00":  # bPINOperation 00: verification
            return self._verify(command, data[1:])
        return answer(STATUS, command, FAILED | self._status(), NOT_SUPPORTED, 0)

    def _verify(self, command: bytes, structure: bytes) -> bytes:
        # bTimeOut, bmFormatString, bmPINBlockString, bmPINLengthFormat,
        # wPINMaxExtraDigit (little-endian: max, then min), bEntryValidation,
        # bNumberMessage, wLangId, bMsgIndex, bTeoPrologue (3), abPINApdu.
        assert self.card is not None
        format_string, block_string, length_format = structure[1], structure[2], structure[3]
        maximum, minimum = structure[4], structure[5]
        template = structure[14:]
        keys = self.keypad.take()
        if keys is None:
            return self._answer(DATA_BLOCK, command, FAILED | ACTIVE, PIN_TIMEOUT, 0)
        if keys == Keypad.CANCEL:
            return self._answer(DATA_BLOCK, command, FAILED | ACTIVE, PIN_CANCELLED, 0)
        if not (keys.isdigit() and minimum <= len(keys) <= maximum):
            return self._answer(DATA_BLOCK, command, FAILED | ACTIVE, PIN_TIMEOUT, 0)
        apdu = bytearray(template)
        insert_pin(apdu, keys, format_string, block_string, length_format)
        response = self.card.transmit(bytes(apdu))
        self.entries.append(Entry(bytes(template), len(keys), response))
        return self._answer(DATA_BLOCK, command, ACTIVE, 0, 0, response)


class SerialLink:
    """Frames on the line: ``feed`` bytes from the host, get complete CCID
    commands back (the echo and answer are the caller's)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        commands = []
        while True:
            while self._buffer and self._buffer[0] != SYNC:
                del self._buffer[0]  # noise before a frame
            if len(self._buffer) < 2 + HEADER + 1:
                return commands
            length = int.from_bytes(self._buffer[3:7], "little")
            total = 2 + HEADER + length + 1
            if len(self._buffer) < total:
                return commands
            raw = bytes(self._buffer[:total])
            del self._buffer[:total]
            if raw[1] == ACK and lrc(raw) == 0:
                commands.append(raw[2:-1])


@dataclass
class EmulatedPinpadReader:
    """The reader on a pseudo-terminal: pcscd opens ``device`` (the pty's
    slave side) through libccidtwin; ``serve`` answers on the master side."""

    firmware: PinpadFirmware = field(default_factory=PinpadFirmware)
    master: int = -1
    device: str = ""

    def open(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        self.device = os.ttyname(slave)
        # Keep the slave open, so the line stays up while pcscd reopens it.
        self._slave = slave

    def close(self) -> None:
        for fd in (self.master, getattr(self, "_slave", -1)):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = -1

    def reader_conf(self, name: str) -> str:
        return (
            f'FRIENDLYNAME "{name}"\n'
            f"DEVICENAME {self.device}:GemPCPinPad\n"
            f"LIBPATH {ccid_serial_driver()}\n"
        )

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        link = SerialLink()
        stream = trio.lowlevel.FdStream(os.dup(self.master))
        task_status.started()
        async with stream:
            while True:
                data = await stream.receive_some(4096)
                if not data:
                    return
                for command in link.feed(data):
                    answer = self.firmware.handle(command)
                    await stream.send_all(echo(command) + frame(answer))


def ccid_serial_driver() -> str | None:
    """The CCID project's serial driver (Debian: libccid)."""
    for path in (
        "/usr/lib/pcsc/drivers/serial/libccidtwin.so",
        "/usr/local/lib/pcsc/drivers/serial/libccidtwin.so",
        "/usr/lib64/pcsc/drivers/serial/libccidtwin.so",
    ):
        if Path(path).exists():
            return path
    return None


@contextlib.asynccontextmanager
async def running(reader: EmulatedPinpadReader) -> AsyncIterator[EmulatedPinpadReader]:
    async with trio.open_nursery() as nursery:
        await nursery.start(reader.serve)
        try:
            yield reader
        finally:
            nursery.cancel_scope.cancel()
