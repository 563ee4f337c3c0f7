# Strategy: the PIN pad's HID report protocol, sans-I/O (bytes in, messages
# out); docs/pinpad-protocol.md is its specification. The pad is a vendor-defined
# HID device (usage page FF00): 64-byte input and output reports on the
# interrupt endpoints, no report IDs. Every report is
#   type (1) | sequence (1) | payload length (1) | payload (<= 61) | zero fill
# Requests (host -> pad) carry a sequence number 1..255 that the answer
# echoes; events the pad sends on its own (key presses) carry 0.
# Payload fields are big-endian; amounts are 6-byte BCD (12 digits, minor
# units), currencies 2-byte BCD (ISO 4217 numeric, 3 digits), text UTF-8.
# PIN digits never appear in any report: key events during PIN entry say
# only how many digits are entered; the PIN leaves the pad enciphered
# (online: ISO 9564 format 0 under the TPK or under a TDES DUKPT key, format 4
# under an AES DUKPT key; offline: the format-2 block under the session link
# key, AES-GCM).
# Both ends need the report descriptor (the host picks the pad's interface by
# it) and the offline block's associated data, so they are here and not in
# any one end: the driver (hal/usbhid/pinpad.py) and every pad, the emulated
# one of the simulators and the reference firmware, use these.
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from base.errors import CardcoreError

__all__ = [
    "MAX_PAYLOAD",
    "PROTOCOL_VERSION",
    "REPORT_DESCRIPTOR",
    "REPORT_SIZE",
    "ConfirmRequest",
    "Info",
    "Key",
    "KeyEvent",
    "KeyScheme",
    "LoadKey",
    "MsgType",
    "OfflinePinRequest",
    "OnlinePinRequest",
    "PinFormat",
    "PinResult",
    "Report",
    "ReportError",
    "Status",
    "WrappedKeyId",
    "offline_aad",
]

REPORT_SIZE = 64
MAX_PAYLOAD = REPORT_SIZE - 3
PROTOCOL_VERSION = 1

# HID 1.11 6.2.2: vendor-defined page FF00, one 64-byte input and one 64-byte
# output report, no report IDs (docs/pinpad-protocol.md, 1).
REPORT_DESCRIPTOR = bytes.fromhex(
    "0600FF"  # Usage Page (Vendor Defined 0xFF00)
    "0901"  # Usage (0x01)
    "A101"  # Collection (Application)
    "1500"  # Logical Minimum (0)
    "26FF00"  # Logical Maximum (255)
    "7508"  # Report Size (8)
    "9540"  # Report Count (64)
    "0902"  # Usage (0x02)
    "8102"  # Input (Data, Variable, Absolute)
    "9540"  # Report Count (64)
    "0903"  # Usage (0x03)
    "9102"  # Output (Data, Variable, Absolute)
    "C0"  # End Collection
)


class ReportError(CardcoreError):
    """A malformed PIN pad report."""


class MsgType(IntEnum):
    # host -> pad
    GET_INFO = 0x01
    DISPLAY = 0x02
    ONLINE_PIN = 0x03
    OFFLINE_PIN = 0x04
    CONFIRM = 0x05
    CANCEL = 0x06
    LOAD_KEY = 0x07
    # pad -> host
    INFO = 0x81
    ACK = 0x82
    PIN_RESULT = 0x83
    CONFIRM_RESULT = 0x84
    KEY_EVENT = 0x90


class Status(IntEnum):
    OK = 0x00
    BYPASSED = 0x01  # ENTER with no digits where bypass is allowed
    CANCELLED = 0x02  # the cardholder pressed CANCEL
    TIMEOUT = 0x03  # nobody finished within the request's timeout
    NO_KEY = 0x04  # the pad holds no key for the request
    BAD_REQUEST = 0x05
    BUSY = 0x06  # another entry is in progress
    KEY_CHECK_FAILED = 0x07  # a loaded key's check value did not match
    FAILURE = 0x08
    ABORTED = 0x09  # the host sent CANCEL


class KeyScheme(IntEnum):
    """How the pad enciphers online PIN blocks."""

    TPK = 0x00  # ISO 9564 format 0 under a TDES PIN key loaded under the TMK
    DUKPT_TDES = 0x01  # format 0 under the X9.24-1 PIN key of the KSN
    DUKPT_AES = 0x02  # format 4 under the X9.24-3 AES-128 PIN key of the KSN


class PinFormat(IntEnum):
    ISO0 = 0x00
    ISO2 = 0x02
    ISO4 = 0x04


class Key(IntEnum):
    DIGIT = 0x30  # + value, only outside PIN entry (never sent during it)
    HIDDEN_DIGIT = 0x2A  # a digit during PIN entry ('*')
    ENTER = 0x0D
    CANCEL = 0x1B
    CLEAR = 0x08


class WrappedKeyId(IntEnum):
    TPK = 0x01  # TDES double length, wrapped under the TMK
    LINK = 0x02  # AES-128 session link key, wrapped under the TMK


def offline_aad(seq: int) -> bytes:
    """Associated data of an offline PIN block: the answer it travels in
    (docs/pinpad-protocol.md, 5)."""
    return bytes([MsgType.PIN_RESULT, seq]) + b"offline-pin"


@dataclass(frozen=True, slots=True)
class Report:
    type: int
    seq: int
    payload: bytes = b""

    def encode(self) -> bytes:
        if len(self.payload) > MAX_PAYLOAD:
            raise ReportError(f"payload of {len(self.payload)} bytes does not fit a report")
        head = bytes([self.type, self.seq, len(self.payload)])
        return (head + self.payload).ljust(REPORT_SIZE, b"\x00")

    @classmethod
    def decode(cls, data: bytes) -> Report:
        if len(data) != REPORT_SIZE:
            raise ReportError(f"report of {len(data)} bytes instead of {REPORT_SIZE}")
        length = data[2]
        if length > MAX_PAYLOAD:
            raise ReportError("report payload length out of range")
        return cls(data[0], data[1], bytes(data[3 : 3 + length]))


# --- field codecs ---------------------------------------------------------------


def _bcd(value: int, digits: int) -> bytes:
    if not 0 <= value < 10**digits:
        raise ReportError(f"{value} does not fit {digits} digits")
    return bytes.fromhex(f"{value:0{digits + digits % 2}d}")


def _unbcd(data: bytes) -> int:
    text = data.hex()
    if not text.isdigit():
        raise ReportError("malformed BCD field")
    return int(text)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ReportError("payload too short")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def lv(self) -> bytes:
        return self.take(self.byte())

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ReportError("payload has trailing bytes")


FLAG_BYPASS_ALLOWED = 0x01


@dataclass(frozen=True, slots=True)
class OnlinePinRequest:
    """ONLINE_PIN: pan (lv, ASCII digits) | amount | currency | timeout (u16 s)
    | min length | max length | flags."""

    pan: str
    amount: int
    currency: int
    timeout: int
    min_length: int = 4
    max_length: int = 12
    bypass_allowed: bool = True

    def encode(self) -> bytes:
        if not (self.pan.isascii() and self.pan.isdigit() and 12 <= len(self.pan) <= 19):
            raise ReportError("PAN must be 12 to 19 digits")
        return (
            bytes([len(self.pan)])
            + self.pan.encode()
            + _bcd(self.amount, 12)
            + _bcd(self.currency, 3)
            + min(self.timeout, 0xFFFF).to_bytes(2, "big")
            + bytes([self.min_length, self.max_length])
            + bytes([FLAG_BYPASS_ALLOWED if self.bypass_allowed else 0])
        )

    @classmethod
    def decode(cls, payload: bytes) -> OnlinePinRequest:
        r = _Reader(payload)
        pan = r.lv().decode("ascii", "replace")
        if not (pan.isdigit() and 12 <= len(pan) <= 19):
            raise ReportError("PAN must be 12 to 19 digits")
        amount, currency, timeout = _unbcd(r.take(6)), _unbcd(r.take(2)), r.u16()
        low, high, flags = r.byte(), r.byte(), r.byte()
        r.end()
        return cls(pan, amount, currency, timeout, low, high, bool(flags & FLAG_BYPASS_ALLOWED))


@dataclass(frozen=True, slots=True)
class OfflinePinRequest:
    """OFFLINE_PIN: amount | currency | tries remaining (FF unknown) |
    timeout (u16 s) | min length | max length | flags."""

    amount: int
    currency: int
    tries_remaining: int | None
    timeout: int
    min_length: int = 4
    max_length: int = 12
    bypass_allowed: bool = True

    def encode(self) -> bytes:
        tries = 0xFF if self.tries_remaining is None else min(self.tries_remaining, 0xFE)
        return (
            _bcd(self.amount, 12)
            + _bcd(self.currency, 3)
            + bytes([tries])
            + min(self.timeout, 0xFFFF).to_bytes(2, "big")
            + bytes([self.min_length, self.max_length])
            + bytes([FLAG_BYPASS_ALLOWED if self.bypass_allowed else 0])
        )

    @classmethod
    def decode(cls, payload: bytes) -> OfflinePinRequest:
        r = _Reader(payload)
        amount, currency, tries = _unbcd(r.take(6)), _unbcd(r.take(2)), r.byte()
        timeout, low, high, flags = r.u16(), r.byte(), r.byte(), r.byte()
        r.end()
        return cls(
            amount,
            currency,
            None if tries == 0xFF else tries,
            timeout,
            low,
            high,
            bool(flags & FLAG_BYPASS_ALLOWED),
        )


@dataclass(frozen=True, slots=True)
class PinResult:
    """PIN_RESULT: status | format | KSN (lv) | block (lv). For offline PIN the
    block is nonce (12) || AES-GCM(link key, format-2 block) || tag (16)."""

    status: Status
    format: PinFormat = PinFormat.ISO0
    ksn: bytes = b""
    block: bytes = b""

    def encode(self) -> bytes:
        return (
            bytes([self.status, self.format, len(self.ksn)])
            + self.ksn
            + bytes([len(self.block)])
            + self.block
        )

    @classmethod
    def decode(cls, payload: bytes) -> PinResult:
        r = _Reader(payload)
        try:
            status, pin_format = Status(r.byte()), PinFormat(r.byte())
        except ValueError:
            raise ReportError("unknown PIN result status or format") from None
        ksn, block = r.lv(), r.lv()
        r.end()
        return cls(status, pin_format, ksn, block)


@dataclass(frozen=True, slots=True)
class Info:
    """INFO: protocol version | key scheme | serial (lv) | firmware (lv)."""

    version: int
    scheme: KeyScheme
    serial: str
    firmware: str

    def encode(self) -> bytes:
        serial, firmware = self.serial.encode(), self.firmware.encode()
        return (
            bytes([self.version, self.scheme, len(serial)])
            + serial
            + bytes([len(firmware)])
            + firmware
        )

    @classmethod
    def decode(cls, payload: bytes) -> Info:
        r = _Reader(payload)
        version = r.byte()
        try:
            scheme = KeyScheme(r.byte())
        except ValueError:
            raise ReportError("unknown key scheme") from None
        serial = r.lv().decode("utf-8", "replace")
        firmware = r.lv().decode("utf-8", "replace")
        r.end()
        return cls(version, scheme, serial, firmware)


@dataclass(frozen=True, slots=True)
class ConfirmRequest:
    """CONFIRM: timeout (u16 s) | prompt (UTF-8, the rest)."""

    timeout: int
    prompt: str

    def encode(self) -> bytes:
        text = self.prompt.encode()[: MAX_PAYLOAD - 2]
        return min(self.timeout, 0xFFFF).to_bytes(2, "big") + text

    @classmethod
    def decode(cls, payload: bytes) -> ConfirmRequest:
        r = _Reader(payload)
        timeout = r.u16()
        return cls(timeout, payload[2:].decode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """KEY_EVENT: key | digits entered so far (during PIN entry)."""

    key: int
    digits: int = 0

    def encode(self) -> bytes:
        return bytes([self.key, self.digits])

    @classmethod
    def decode(cls, payload: bytes) -> KeyEvent:
        r = _Reader(payload)
        event = cls(r.byte(), r.byte())
        r.end()
        return event


@dataclass(frozen=True, slots=True)
class LoadKey:
    """LOAD_KEY: key id | wrapped key (lv; TDES-ECB under the TMK) | KCV (3)."""

    key_id: WrappedKeyId
    wrapped: bytes
    kcv: bytes

    def encode(self) -> bytes:
        return bytes([self.key_id, len(self.wrapped)]) + self.wrapped + self.kcv

    @classmethod
    def decode(cls, payload: bytes) -> LoadKey:
        r = _Reader(payload)
        try:
            key_id = WrappedKeyId(r.byte())
        except ValueError:
            raise ReportError("unknown key id") from None
        wrapped, kcv = r.lv(), r.take(3)
        r.end()
        return cls(key_id, wrapped, kcv)
