# Strategy: value codecs for the EMV data formats of Book 3 4.3 and the date
# rules of Book 4 6.7.3 ("YY" 00-49 is 20YY, 50-99 is 19YY).
# - n: BCD right-justified with leading zeros (amounts, dates, codes);
# - cn: BCD left-justified, padded with trailing 'F' (PAN);
# - an/ans: ASCII, left-justified.
# Decoders raise ValueError on malformed input; callers turn it into a
# CardDataError where card data is concerned.
from __future__ import annotations

import datetime as dt

__all__ = [
    "decode_cn",
    "decode_date",
    "decode_n",
    "decode_preferred_name",
    "decode_text",
    "encode_cn",
    "encode_date",
    "encode_n",
    "encode_text",
    "encode_time",
    "expiry_passed",
    "year_from_yy",
]


def encode_n(value: int, length: int) -> bytes:
    """Format n: decimal digits, BCD, right-justified, leading zeros."""
    if value < 0:
        raise ValueError("negative numeric value")
    digits = str(value)
    if len(digits) > 2 * length:
        raise ValueError(f"{value} does not fit in n{2 * length}")
    return bytes.fromhex(digits.rjust(2 * length, "0"))


def decode_n(value: bytes) -> int:
    digits = value.hex()
    if not digits:
        return 0
    if not digits.isdigit():
        raise ValueError(f"not a BCD number: {digits.upper()}")
    return int(digits)


def encode_cn(digits: str, length: int) -> bytes:
    """Format cn: digits left-justified, padded with trailing F."""
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 2 * length:
        raise ValueError("cn value must be at most 2*length decimal digits")
    return bytes.fromhex(digits.ljust(2 * length, "F"))


def decode_cn(value: bytes) -> str:
    digits = value.hex().upper().rstrip("F")
    if not digits.isdigit():
        raise ValueError("malformed compressed numeric value")
    return digits


def encode_text(text: str, length: int | None = None) -> bytes:
    raw = text.encode("ascii")
    if length is None:
        return raw
    if len(raw) > length:
        raise ValueError(f"text longer than {length}")
    return raw.ljust(length, b" ")


def decode_text(value: bytes) -> str:
    """Decode an a/an/ans element; bytes outside ASCII are replaced, never raised."""
    return value.decode("latin-1")


def decode_preferred_name(value: bytes, code_table: int | None) -> str | None:
    """'9F12' in the ISO/IEC 8859 part named by the Issuer Code Table Index '9F11'.

    Book 1 12.2.4 / Book 4 11.1: parts 1..10 are decoded here (part 5 is
    Cyrillic); None when the index is absent or names a part Python lacks,
    in which case the label '50' is shown instead.
    """
    if code_table is None or not 1 <= code_table <= 10:
        return None
    try:
        return value.decode(f"iso8859_{code_table}")
    except UnicodeDecodeError:
        return None


def year_from_yy(yy: int) -> int:
    """Book 4 6.7.3: YY 00-49 means 20YY, 50-99 means 19YY."""
    return 2000 + yy if yy < 50 else 1900 + yy


def decode_date(value: bytes) -> dt.date:
    """YYMMDD (n6) to a date."""
    if len(value) != 3:
        raise ValueError("date must be 3 bytes")
    digits = value.hex()
    if not digits.isdigit():
        raise ValueError("date is not BCD")
    yy, mm, dd = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    return dt.date(year_from_yy(yy), mm, dd)


def encode_date(day: dt.date) -> bytes:
    return bytes.fromhex(f"{day.year % 100:02d}{day.month:02d}{day.day:02d}")


def encode_time(moment: dt.time | dt.datetime) -> bytes:
    return bytes.fromhex(f"{moment.hour:02d}{moment.minute:02d}{moment.second:02d}")


def expiry_passed(mmyy: bytes, today: dt.date) -> bool:
    """Certificate expiry MMYY (Book 2 5.3 step 9): valid through the last day of that month."""
    digits = mmyy.hex()
    if len(mmyy) != 2 or not digits.isdigit():
        return True
    month, year = int(digits[0:2]), year_from_yy(int(digits[2:4]))
    if not 1 <= month <= 12:
        return True
    return (today.year, today.month) > (year, month)
