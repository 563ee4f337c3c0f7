# Strategy: Data Object List processing, EMV 4.3 Book 3 5.4 "Rules for
# Using a Data Object List (DOL)". For every tag-length pair of the DOL, in
# order, the terminal appends exactly `length` bytes:
# - data object unknown to the terminal, not available, or constructed
#   (Book 3 5.4 b/c): `length` bytes of hex zero;
# - value shorter than `length`: n is right-justified with leading zeros,
#   cn is padded with trailing 'F', every other format with trailing zeros;
# - value longer than `length`: n keeps its rightmost bytes, every other
#   format its leftmost bytes (truncation);
# - otherwise the value itself.
# The format comes from the one data dictionary (kernel.dictionary).
# The data is sent in one short C-APDU (Book 1 9.4.1: Lc of at most 255), so
# a DOL asking for more is refused before anything is allocated: the lengths
# come from the card, and a long-form length could ask for gigabytes.
# Default DDOL/TDOL (Book 2 6.5.1, Book 3 5.4 note) are chosen by the caller
# through `choose_dol`, which also reports whether the default was used.
from __future__ import annotations

from collections.abc import Callable, Mapping

from base import tlv
from kernel.dictionary import Format, fmt

__all__ = ["MAX_DOL_DATA", "Lookup", "build_dol_data", "choose_dol", "dol_tags", "fit_value"]

MAX_DOL_DATA = 255

Lookup = Callable[[int], "bytes | None"]


def fit_value(tag: int, value: bytes, length: int) -> bytes:
    """Fit one value into `length` bytes following the format rules of Book 3 5.4."""
    have = len(value)
    if have == length:
        return value
    form = fmt(tag)
    if have > length:
        return value[have - length :] if form is Format.N else value[:length]
    pad = length - have
    if form is Format.N:
        return bytes(pad) + value
    if form is Format.CN:
        return value + b"\xff" * pad
    return value + bytes(pad)


def build_dol_data(dol: bytes, lookup: Lookup | Mapping[int, bytes]) -> bytes:
    """Concatenated, formatted values for a DOL (PDOL, CDOL1/2, DDOL, TDOL)."""
    get = lookup.get if isinstance(lookup, Mapping) else lookup
    entries = tlv.decode_dol(dol)
    total = sum(length for _, length in entries)
    if total > MAX_DOL_DATA:
        raise tlv.TlvError(f"DOL asks for {total} bytes of data, more than a command carries", 0)
    out = bytearray()
    for tag, length in entries:
        if tlv.is_constructed(tag):
            out += bytes(length)
            continue
        value = get(tag)
        out += bytes(length) if value is None else fit_value(tag, value, length)
    return bytes(out)


def dol_tags(dol: bytes) -> list[int]:
    return [tag for tag, _ in tlv.decode_dol(dol)]


def choose_dol(card_dol: bytes | None, default_dol: bytes) -> tuple[bytes, bool]:
    """The card's DOL if it has one, else the terminal default; True when the default is used."""
    if card_dol:
        return card_dol, False
    return default_dol, True
