# Strategy: how one configuration value is written in the management
# server's documents, in both directions (cardcore.provisioning.mapping holds
# the table that picks a codec for every key). Two families:
# - text codecs for attributes and element text: booleans, numbers, words;
# - EMV codecs for the value of a `<tag name="...">HEX</tag>` element, with
#   the data element's own format (EMV Book 3 Annex A, Book 4 Annex A, Book
#   C-2 Annex A): b (binary, big-endian), n (BCD, leading zeros), an/ans
#   (text), a tag list (tags only, Book 3 10.3).
# A codec's `decode` raises ValueError with the reason; the caller names the
# document and the place. Values go out exactly as they came in: decode(encode(v)) == v.
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from base import tlv

__all__ = [
    "ASI",
    "BOOL",
    "FLOAT",
    "HEX",
    "INT",
    "TAG_LIST",
    "TEXT",
    "TLS",
    "UTF8",
    "Codec",
    "bcd_digits",
    "bcd_number",
    "binary_number",
]

# What XML 1.0 cannot carry, and carriage returns, which its parsers turn
# into line feeds: such a value cannot travel in a document.
_UNCARRIED = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})*$")
_INT = re.compile(r"^-?[0-9]{1,20}$")


@dataclass(frozen=True)
class Codec:
    """``encode`` a configuration value as document text; ``decode`` it back.
    An EMV codec's text is the hex of the data element's value."""

    name: str
    encode: Callable[[Any], str]
    decode: Callable[[str], Any]
    emv: bool = False


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    if _UNCARRIED.search(value):
        raise ValueError("control characters cannot travel in a document")
    return value


TEXT = Codec("text", _text, _text)

_TRUE = ("true", "1", "yes", "on", "enabled")
_FALSE = ("false", "0", "no", "off", "disabled")


def _bool_in(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"'{text}' is not a boolean")


def _bool_out(value: Any) -> str:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not a boolean")
    return "true" if value else "false"


# The manual writes switches both ways: `mifare enable="true"`,
# `data-exchange = enabled`.
BOOL = Codec("boolean", _bool_out, _bool_in)


def _int_in(text: str) -> int:
    if not _INT.match(text.strip()):
        raise ValueError(f"'{text}' is not a whole number")
    return int(text)


def _int_out(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return str(value)


INT = Codec("integer", _int_out, _int_in)


def _float_in(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"'{text}' is not a number")
    return value


def _float_out(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number")
    return repr(float(value))  # the shortest text that reads back the same


FLOAT = Codec("number", _float_out, _float_in)


def _tls_in(text: str) -> bool | str:
    return "auto" if text.strip().lower() == "auto" else _bool_in(text)


def _tls_out(value: Any) -> str:
    return "auto" if value == "auto" else _bool_out(value)


TLS = Codec("true, false or auto", _tls_out, _tls_in)


# --- EMV data elements ---------------------------------------------------------------


def _bytes(text: str) -> bytes:
    text = text.strip()
    if not _HEX.match(text):
        raise ValueError("the value is not hex")
    return bytes.fromhex(text)


def _emv(name: str, out: Callable[[Any], bytes], back: Callable[[bytes], Any]) -> Codec:
    return Codec(
        name, lambda value: out(value).hex().upper(), lambda text: back(_bytes(text)), emv=True
    )


def _hex_out(value: Any) -> bytes:
    if not isinstance(value, str) or not _HEX.match(value):
        raise ValueError(f"{value!r} is not hex")
    return bytes.fromhex(value)


# b: binary data the configuration keeps as hex (9F33, 9F09, a TAC, a DOL).
HEX = _emv("binary", _hex_out, lambda data: data.hex().upper())


def _utf8_out(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value.encode("utf-8")


def _utf8_in(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the value is not text") from None


# an/ans: text. Read as UTF-8: the management servers send Cyrillic (9F4E).
UTF8 = _emv("text", _utf8_out, _utf8_in)


def binary_number(size: int) -> Codec:
    """b: an unsigned big-endian number of ``size`` bytes (9F1B, 9F35)."""

    def out(value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{value!r} is not a number")
        try:
            return value.to_bytes(size, "big")
        except OverflowError:
            raise ValueError(f"{value} does not fit in {size} bytes") from None

    def back(data: bytes) -> int:
        if len(data) != size:
            raise ValueError(f"the value must be {size} bytes")
        return int.from_bytes(data, "big")

    return _emv(f"b{size}", out, back)


def _bcd(digits: str, size: int) -> bytes:
    if not digits.isdigit() or len(digits) > 2 * size:
        raise ValueError(f"{digits!r} does not fit n{2 * size}")
    return bytes.fromhex(digits.rjust(2 * size, "0"))


def _digits(data: bytes, size: int) -> str:
    text = data.hex()
    if len(data) != size or not text.isdigit():
        raise ValueError(f"the value is not n{2 * size} (BCD, {size} bytes)")
    return text


def bcd_number(size: int) -> Codec:
    """n: a number in BCD, ``size`` bytes (amounts n12 are 6)."""

    def out(value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{value!r} is not a number")
        return _bcd(str(value), size)

    return _emv(f"n{2 * size}", out, lambda data: int(_digits(data, size)))


def bcd_digits(count: int, size: int) -> Codec:
    """n: a code of ``count`` digits in ``size`` BCD bytes (9F15 MCC, 5F2A)."""

    def out(value: Any) -> bytes:
        if not isinstance(value, str) or len(value) != count:
            raise ValueError(f"{value!r} is not {count} digits")
        return _bcd(value, size)

    return _emv(f"n{2 * size}", out, lambda data: _digits(data, size)[-count:])


def _tags_out(value: Any) -> bytes:
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list of tags")
    try:
        return b"".join(tlv.encode_tag(int(tag, 16)) for tag in value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a list of tags") from None


def _tags_in(data: bytes) -> list[str]:
    try:
        return [tlv.tag_hex(tag) for tag in tlv.decode_tag_list(data)]
    except tlv.TlvError:
        raise ValueError("the value is not a list of tags") from None


# A tag list: tags with neither lengths nor values (DF8112, DF811E).
TAG_LIST = _emv("tag list", _tags_out, _tags_in)


def _asi_in(data: bytes) -> bool:
    if data not in (b"\x00", b"\x01"):
        raise ValueError("the value must be 00 (partial match) or 01 (exact match)")
    return data == b"\x00"


# DF01, the Application Selection Indicator as terminal configurations write
# it (EMV Book 1 12.3.1 leaves its coding to the terminal): 00 the card's AID
# may extend the terminal's, 01 they must match exactly.
ASI = _emv("ASI", lambda partial: b"\x00" if _bool_out(partial) == "true" else b"\x01", _asi_in)
