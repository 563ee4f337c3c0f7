# Strategy: ISO 9564-1 PIN block formats used by terminals.
# - Format 0 (ISO-0): PIN field 0 L P..P F..F xor PAN field 0000 + the 12
#   rightmost PAN digits excluding the check digit; enciphered under the TPK.
# - Format 2 (ISO-2): 2 L P..P F..F, the block an offline-PIN VERIFY carries
#   (EMV Book 3 6.5.12 / Book 2 7.1).
from __future__ import annotations

from base.crypto.des import xor

__all__ = [
    "PinBlockError",
    "decode_iso0",
    "decode_iso2",
    "encode_iso0",
    "encode_iso2",
    "pan_field_iso0",
]


class PinBlockError(ValueError):
    pass


def _check_pin(pin: str) -> None:
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise PinBlockError("PIN must be 4 to 12 digits")


def _pin_field(control: int, pin: str) -> bytes:
    _check_pin(pin)
    digits = f"{control:X}{len(pin):X}{pin}".ljust(16, "F")
    return bytes.fromhex(digits)


def pan_field_iso0(pan: str) -> bytes:
    if not (pan.isascii() and pan.isdigit() and len(pan) >= 13):
        raise PinBlockError("PAN must be at least 13 digits")
    return bytes.fromhex("0000" + pan[-13:-1])


def encode_iso0(pin: str, pan: str) -> bytes:
    """The clear format-0 block; encipher it under the TPK before it leaves."""
    return xor(_pin_field(0, pin), pan_field_iso0(pan))


def _decode_pin_field(field: bytes, control: int) -> str:
    digits = field.hex().upper()
    if digits[0] != f"{control:X}":
        raise PinBlockError(f"not a format-{control} PIN block")
    length = int(digits[1], 16)
    if not 4 <= length <= 12:
        raise PinBlockError("invalid PIN length in block")
    pin, filler = digits[2 : 2 + length], digits[2 + length :]
    if not pin.isdigit() or filler != "F" * len(filler):
        raise PinBlockError("malformed PIN block")
    return pin


def decode_iso0(block: bytes, pan: str) -> str:
    if len(block) != 8:
        raise PinBlockError("PIN block must be 8 bytes")
    return _decode_pin_field(xor(block, pan_field_iso0(pan)), 0)


def encode_iso2(pin: str) -> bytes:
    return _pin_field(2, pin)


def decode_iso2(block: bytes) -> str:
    if len(block) != 8:
        raise PinBlockError("PIN block must be 8 bytes")
    return _decode_pin_field(block, 2)
