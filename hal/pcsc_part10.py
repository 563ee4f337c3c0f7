# Strategy: PIN entry on a class-3 reader (a reader with its own keypad)
# through the PC/SC Workgroup specification part 10 v2.02.09 "IFDs with
# Secure PIN Entry Capabilities", sans-I/O: bytes in, bytes out; hal.pcsc
# sends them with SCardControl.
# - Features (part 10 2.2/2.3): CM_IOCTL_GET_FEATURE_REQUEST, i.e.
#   SCARD_CTL_CODE(3400), answers TLV records tag (1) | length (1, always 4)
#   | control code (4, big-endian) - the code to use for each feature.
# - FEATURE_IFD_PIN_PROPERTIES answers PIN_PROPERTIES_STRUCTURE (2.6.8:
#   wLcdLayout, bEntryValidationCondition, bTimeOut2);
#   FEATURE_GET_TLV_PROPERTIES answers tag | length | value records with the
#   values little-endian (2.6.14: bMinPINSize, bMaxPINSize, ...).
# - FEATURE_VERIFY_PIN_DIRECT takes PIN_VERIFY_STRUCTURE (2.6.2, the CCID
#   6.1.11.4 PIN verification data structure plus bTimeOut2 and
#   ulDataLength; multi-byte fields in the host's little-endian order, as
#   pcsc-lite's reader.h lays them out) and answers the card's status word,
#   or 6400 (timeout), 6401 (cancelled on the keypad), 6403 (PIN too short or
#   too long), 6B80 (the structure was refused).
# - For EMV offline plaintext PIN (EMV 4.3 Book 3 6.5.12, Book 2 7 / ISO 9564-1
#   format 2) the APDU template is VERIFY P2 '80' with the 8-byte block
#   '2N' 'FF'x7: the reader writes the PIN length N into the low nibble of the
#   first data byte (bmPINLengthFormat: bits, position 4) and the digits as
#   BCD from the second data byte on (bmFormatString: bytes, position 1,
#   left-justified, BCD), so the block is 2N PP PP .. FF with F padding, and
#   the PIN never reaches the host. Enciphered offline PIN and online PIN
#   cannot be done this way: part 10 gives the host no enciphered block.
from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum

from base.errors import CardcoreError
from hal.interfaces import KeypadPinEntry, ReaderError

log = logging.getLogger(__name__)

__all__ = [
    "CM_IOCTL_GET_FEATURE_REQUEST",
    "EMV_MAX_PIN",
    "EMV_MIN_PIN",
    "Feature",
    "Part10Error",
    "PinOutcome",
    "PinProperties",
    "ReaderKeypadCodes",
    "TlvProperty",
    "emv_plaintext_verify",
    "parse_features",
    "parse_pin_properties",
    "parse_tlv_properties",
    "pin_verify_structure",
    "read_keypad",
    "read_keypad_codes",
    "scard_ctl_code",
    "verify_outcome",
]

EMV_MIN_PIN, EMV_MAX_PIN = 4, 12  # ISO 9564-1 format 2 / EMV Book 3 6.5.12


class Part10Error(CardcoreError):
    """A reader's part 10 answer that does not parse."""


def scard_ctl_code(code: int, *, windows: bool | None = None) -> int:
    """SCARD_CTL_CODE: pcsc-lite's 0x42000000 + code, WinSCard's
    CTL_CODE(FILE_DEVICE_SMARTCARD, code, METHOD_BUFFERED, FILE_ANY_ACCESS)."""
    if windows if windows is not None else sys.platform == "win32":
        return (0x31 << 16) | (code << 2)
    return 0x42000000 + code


CM_IOCTL_GET_FEATURE_REQUEST = scard_ctl_code(3400)


class Feature(IntEnum):
    """Part 10 2.3 feature tags."""

    VERIFY_PIN_START = 0x01
    VERIFY_PIN_FINISH = 0x02
    MODIFY_PIN_START = 0x03
    MODIFY_PIN_FINISH = 0x04
    GET_KEY_PRESSED = 0x05
    VERIFY_PIN_DIRECT = 0x06
    MODIFY_PIN_DIRECT = 0x07
    MCT_READER_DIRECT = 0x08
    MCT_UNIVERSAL = 0x09
    IFD_PIN_PROPERTIES = 0x0A
    ABORT = 0x0B
    SET_SPE_MESSAGE = 0x0C
    VERIFY_PIN_DIRECT_APP_ID = 0x0D
    MODIFY_PIN_DIRECT_APP_ID = 0x0E
    WRITE_DISPLAY = 0x0F
    GET_KEY = 0x10
    IFD_DISPLAY_PROPERTIES = 0x11
    GET_TLV_PROPERTIES = 0x12
    CCID_ESC_COMMAND = 0x13
    EXECUTE_PACE = 0x20


class TlvProperty(IntEnum):
    """Part 10 2.6.14 properties of FEATURE_GET_TLV_PROPERTIES."""

    W_LCD_LAYOUT = 0x01
    B_ENTRY_VALIDATION_CONDITION = 0x02
    B_TIMEOUT2 = 0x03
    W_LCD_MAX_CHARACTERS = 0x04
    W_LCD_MAX_LINES = 0x05
    B_MIN_PIN_SIZE = 0x06
    B_MAX_PIN_SIZE = 0x07
    S_FIRMWARE_ID = 0x08
    B_PPDU_SUPPORT = 0x09
    DW_MAX_APDU_DATA_SIZE = 0x0A
    W_ID_VENDOR = 0x0B
    W_ID_PRODUCT = 0x0C


def parse_features(data: bytes) -> dict[Feature | int, int]:
    """The control code of every feature a reader reports (unknown tags kept
    as numbers)."""
    out: dict[Feature | int, int] = {}
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data) or data[pos + 1] != 4 or pos + 6 > len(data):
            raise Part10Error(f"malformed feature list: {data.hex().upper()}")
        tag = data[pos]
        try:
            key: Feature | int = Feature(tag)
        except ValueError:
            key = tag
        out[key] = int.from_bytes(data[pos + 2 : pos + 6], "big")
        pos += 6
    return out


@dataclass(frozen=True, slots=True)
class PinProperties:
    """What the reader says about its PIN entry (part 10 2.6.8 and 2.6.14)."""

    lcd_lines: int = 0
    lcd_characters: int = 0
    # Bit mask: 1 maximum size reached, 2 validation key pressed, 4 timeout.
    validation: int = 0x02
    min_pin: int | None = None
    max_pin: int | None = None
    firmware: str = ""

    @property
    def has_display(self) -> bool:
        return self.lcd_lines > 0 and self.lcd_characters > 0


def parse_pin_properties(data: bytes) -> PinProperties:
    """PIN_PROPERTIES_STRUCTURE: wLcdLayout (LE: characters, lines),
    bEntryValidationCondition, bTimeOut2."""
    if len(data) < 4:
        raise Part10Error(f"PIN properties of {len(data)} bytes")
    return PinProperties(lcd_lines=data[1], lcd_characters=data[0], validation=data[2] or 0x02)


def parse_tlv_properties(data: bytes, base: PinProperties | None = None) -> PinProperties:
    """FEATURE_GET_TLV_PROPERTIES over what FEATURE_IFD_PIN_PROPERTIES said."""
    values: dict[int, bytes] = {}
    pos = 0
    while pos + 2 <= len(data):
        tag, length = data[pos], data[pos + 1]
        if pos + 2 + length > len(data):
            raise Part10Error(f"malformed TLV properties: {data.hex().upper()}")
        values[tag] = data[pos + 2 : pos + 2 + length]
        pos += 2 + length

    def number(tag: TlvProperty) -> int | None:
        value = values.get(tag)
        return int.from_bytes(value, "little") if value else None

    props = base or PinProperties()
    layout = number(TlvProperty.W_LCD_LAYOUT)
    validation = number(TlvProperty.B_ENTRY_VALIDATION_CONDITION)
    firmware = values.get(TlvProperty.S_FIRMWARE_ID, b"")
    return PinProperties(
        lcd_lines=(layout >> 8) if layout is not None else props.lcd_lines,
        lcd_characters=(layout & 0xFF) if layout is not None else props.lcd_characters,
        validation=validation or props.validation,
        min_pin=number(TlvProperty.B_MIN_PIN_SIZE) or props.min_pin,
        max_pin=number(TlvProperty.B_MAX_PIN_SIZE) or props.max_pin,
        firmware=firmware.decode("ascii", "replace").rstrip("\x00") or props.firmware,
    )


def pin_verify_structure(
    apdu: bytes,
    *,
    timeout: int,
    format_string: int,
    block_string: int,
    length_format: int,
    min_pin: int,
    max_pin: int,
    validation: int = 0x02,
    messages: int = 0x01,
    lang_id: int = 0x0409,
    message_index: int = 0x00,
) -> bytes:
    """PIN_VERIFY_STRUCTURE (part 10 2.6.2), fields little-endian as in
    pcsc-lite's reader.h: bTimerOut, bTimerOut2, bmFormatString,
    bmPINBlockString, bmPINLengthFormat, wPINMaxExtraDigit (min << 8 | max),
    bEntryValidationCondition, bNumberMessage, wLangId, bMsgIndex,
    bTeoPrologue (3, zero: the driver fills it for a T=1 TPDU reader),
    ulDataLength, abData."""
    if not 0 < timeout <= 0xFF:
        raise ValueError("the PIN entry timeout must be 1 to 255 seconds")
    if not 0 < min_pin <= max_pin <= 0xFF:
        raise ValueError("PIN lengths out of range")
    return (
        bytes([timeout, timeout, format_string, block_string, length_format])
        + ((min_pin << 8) | max_pin).to_bytes(2, "little")
        + bytes([validation, messages])
        + lang_id.to_bytes(2, "little")
        + bytes([message_index])
        + bytes(3)
        + len(apdu).to_bytes(4, "little")
        + apdu
    )


# ISO 9564-1 format 2 as the reader builds it (see the strategy note):
# bytes as units, the PIN from data byte 1, left-justified, BCD; a 4-bit
# PIN length field in an 8-byte block; the length field at bit 4.
EMV_FORMAT_STRING = 0x80 | (1 << 3) | 0x01
EMV_BLOCK_STRING = (4 << 4) | 7
EMV_LENGTH_FORMAT = 0x04
EMV_VERIFY_TEMPLATE = bytes.fromhex("00200080") + b"\x08" + b"\x20" + b"\xff" * 7

# Microsoft language identifiers (part 10 2.6.2 wLangId) of the languages
# the terminal speaks; others fall back to English.
LANG_IDS = {"ru": 0x0419, "en": 0x0409}


def emv_plaintext_verify(
    *, timeout: float, properties: PinProperties | None = None, language: str = "en"
) -> bytes:
    """The PIN_VERIFY_STRUCTURE of an EMV offline plaintext PIN VERIFY: the
    PIN length EMV allows, narrowed to what the reader can take."""
    props = properties or PinProperties()
    low = max(EMV_MIN_PIN, props.min_pin or EMV_MIN_PIN)
    high = min(EMV_MAX_PIN, props.max_pin or EMV_MAX_PIN)
    if low > high:
        raise Part10Error(f"the reader takes PINs of {low} to {high} digits")
    # "Validation key pressed" when the reader has it, else whatever it has.
    validation = 0x02 if props.validation & 0x02 else props.validation
    return pin_verify_structure(
        EMV_VERIFY_TEMPLATE,
        timeout=max(1, min(0xFF, round(timeout))),
        format_string=EMV_FORMAT_STRING,
        block_string=EMV_BLOCK_STRING,
        length_format=EMV_LENGTH_FORMAT,
        min_pin=low,
        max_pin=high,
        validation=validation,
        lang_id=LANG_IDS.get(language[:2].lower(), LANG_IDS["en"]),
    )


class PinOutcome(IntEnum):
    """What came of a PIN entry on the reader (part 10 2.6.2 status words)."""

    CARD_ANSWERED = 0  # the status word is the card's answer to VERIFY
    TIMEOUT = 0x6400
    CANCELLED = 0x6401
    BAD_LENGTH = 0x6403
    REFUSED = 0x6B80


def verify_outcome(answer: bytes) -> tuple[PinOutcome, int]:
    """The outcome and status word of FEATURE_VERIFY_PIN_DIRECT's answer."""
    if len(answer) != 2:
        raise Part10Error(f"PIN verification answered {len(answer)} bytes instead of a status")
    sw = int.from_bytes(answer, "big")
    try:
        outcome = PinOutcome(sw)
    except ValueError:
        return PinOutcome.CARD_ANSWERED, sw
    return outcome, sw


# --- asking a reader (through any SCardControl) ------------------------------------

Control = Callable[[int, bytes], Awaitable[bytes]]


@dataclass(frozen=True)
class ReaderKeypadCodes:
    """A keypad reader's PIN entry and the control code of its VERIFY."""

    entry: KeypadPinEntry
    verify_code: int
    properties: PinProperties


async def read_keypad_codes(control: Control, reader: str) -> ReaderKeypadCodes | None:
    try:
        features = parse_features(await control(CM_IOCTL_GET_FEATURE_REQUEST, b""))
    except (ReaderError, Part10Error) as exc:
        # Readers whose driver has no part 10 at all refuse the request.
        log.debug("%s reports no part 10 features: %s", reader, exc)
        return None
    verify = features.get(Feature.VERIFY_PIN_DIRECT)
    if verify is None:
        return None
    props = PinProperties()
    with contextlib.suppress(ReaderError, Part10Error):
        if Feature.IFD_PIN_PROPERTIES in features:
            raw = await control(features[Feature.IFD_PIN_PROPERTIES], b"")
            props = parse_pin_properties(raw)
        if Feature.GET_TLV_PROPERTIES in features:
            raw = await control(features[Feature.GET_TLV_PROPERTIES], b"")
            props = parse_tlv_properties(raw, props)
    entry = KeypadPinEntry(
        reader=reader,
        min_pin=props.min_pin,
        max_pin=props.max_pin,
        lcd_lines=props.lcd_lines,
        lcd_characters=props.lcd_characters,
        firmware=props.firmware,
    )
    return ReaderKeypadCodes(entry, verify, props)


async def read_keypad(control: Control, reader: str) -> KeypadPinEntry | None:
    """The reader's own PIN entry, asked with ``control`` (SCardControl)."""
    found = await read_keypad_codes(control, reader)
    return found.entry if found is not None else None
