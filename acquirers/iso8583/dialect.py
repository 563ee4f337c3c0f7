# Strategy: an ISO 8583 dialect is data (DESIGN.md convention 3). A dialect
# is a table of `FieldDef`s (number, kind, length, fixed/LL/LLL, description,
# sensitivity) plus the encodings of its MTI, bitmaps, numerics and length
# prefixes, plus the conventions that differ between hosts (processing codes,
# network management codes, where the MAC, the original data elements, the
# batch number, the key-exchange data and the reconciliation totals go).
# `pyiso8583_spec()` turns the table into the pyiso8583 spec dictionary, so
# encoding and decoding are pyiso8583's; nothing here knows about one host.
#
# Field kinds follow ISO 8583:1987 clause 4.2 attribute notation:
#   n   numeric digits (BCD in binary dialects, left-padded with 0 when odd;
#       variable ones counted in digits and right-padded with F)
#   z   track-2 data: digits and the separator '=' (BCD nibble D)
#   b   binary, counted in bytes
#   ans printable ASCII, counted in characters
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

__all__ = [
    "Conventions",
    "Dialect",
    "FieldDef",
    "FieldKind",
    "MacRule",
    "Sensitivity",
    "TotalsFields",
    "ans",
    "b",
    "n",
    "z",
]


class FieldKind(Enum):
    N = "n"
    Z = "z"
    B = "b"
    ANS = "ans"


class Sensitivity(Enum):
    NONE = "none"
    PAN = "pan"  # shown masked (first 6, last 4)
    SECRET = "secret"  # noqa: S105 -- never shown: track data, PIN blocks, keys, MACs


@dataclass(frozen=True)
class FieldDef:
    number: int
    kind: FieldKind
    length: int
    var: Literal[0, 1, 2, 3] = 0  # 0 fixed, else the number of length digits (L, LL, LLL)
    desc: str = ""
    sensitivity: Sensitivity = Sensitivity.NONE


def n(
    number: int,
    length: int,
    desc: str,
    var: Literal[0, 1, 2, 3] = 0,
    sensitivity: Sensitivity = Sensitivity.NONE,
) -> FieldDef:
    return FieldDef(number, FieldKind.N, length, var, desc, sensitivity)


def z(number: int, length: int, desc: str, var: Literal[0, 1, 2, 3] = 2) -> FieldDef:
    return FieldDef(number, FieldKind.Z, length, var, desc, Sensitivity.SECRET)


def b(
    number: int,
    length: int,
    desc: str,
    var: Literal[0, 1, 2, 3] = 0,
    sensitivity: Sensitivity = Sensitivity.NONE,
) -> FieldDef:
    return FieldDef(number, FieldKind.B, length, var, desc, sensitivity)


def ans(number: int, length: int, desc: str, var: Literal[0, 1, 2, 3] = 0) -> FieldDef:
    return FieldDef(number, FieldKind.ANS, length, var, desc)


@dataclass(frozen=True)
class MacRule:
    """Where the MAC goes and what it covers.

    ``scope`` "message": the MAC is computed over every byte of the message
    after the header (MTI, bitmaps with the MAC bit set, every field before the
    MAC field), the MAC field being the last field (64, or 128 when a
    secondary bitmap is present, ISO 8583:1987 4.3.2). ``mtis``: the message
    types that carry a MAC; ``length``: bytes of MAC kept (the rest of the
    8-byte field is zero when shorter).
    """

    mtis: frozenset[str]
    algorithm: Literal["retail"] = "retail"  # ISO 9797-1 MAC algorithm 3, single-DES halves
    padding: Literal[1, 2] = 1
    length: int = 8
    scope: Literal["message"] = "message"


@dataclass(frozen=True)
class TotalsFields:
    """Where the reconciliation totals go (0500/0510)."""

    credit_count: int = 74
    credit_reversal_count: int = 75
    debit_count: int = 76
    debit_reversal_count: int = 77
    credit_amount: int = 86
    credit_reversal_amount: int = 87
    debit_amount: int = 88
    debit_reversal_amount: int = 89
    net_amount: int = 97


@dataclass(frozen=True)
class Conventions:
    """The per-host choices that are not field formats."""

    processing_codes: Mapping[str, str]  # purchase, cashback, refund, reconciliation, closing
    network_codes: Mapping[str, str]  # echo, sign_on, sign_off, key_change, cutover
    key_types: Mapping[str, str]  # pin, mac: the value that selects the key in `key_type_field`
    key_type_field: int
    key_data_field: int
    original_data_field: int
    replacement_amounts_field: int
    additional_amounts_field: int
    batch_field: int
    cashback_amount_type: str
    reversal_reasons: Mapping[str, str]  # timeout, cancel, card_declined, malfunction
    offline_response_codes: Mapping[str, str]  # approved_offline, unable_online
    totals: TotalsFields = field(default_factory=TotalsFields)
    rrn_field: int = 37
    pos_condition_normal: str = "00"


@dataclass(frozen=True)
class Dialect:
    name: str
    description: str
    fields: Mapping[int, FieldDef]
    mac: MacRule
    conventions: Conventions
    mti_encoding: Literal["bcd", "ascii"] = "bcd"
    bitmap_encoding: Literal["binary", "hex"] = "binary"
    numeric_encoding: Literal["bcd", "ascii"] = "bcd"
    length_encoding: Literal["bcd", "ascii", "binary"] = "bcd"
    header_length: int = 0
    response_codes: str = "iso8583-1987"

    def __post_init__(self) -> None:
        for number, spec in self.fields.items():
            if number != spec.number or not 2 <= number <= 128 or number == 65:
                raise ValueError(f"dialect {self.name}: bad field definition {number}")
        if 64 in self.fields and self.fields[64].kind is not FieldKind.B:
            raise ValueError(f"dialect {self.name}: field 64 must be binary")

    def field_def(self, number: int) -> FieldDef:
        return self.fields[number]

    def mac_field(self, numbers: set[int] | frozenset[int]) -> int:
        """The MAC field for a message holding ``numbers`` (ISO 8583:1987 4.3.2)."""
        return 128 if any(65 <= f <= 128 for f in numbers if f not in (64, 128)) else 64

    def pyiso8583_spec(self) -> dict[str, dict[str, Any]]:
        spec: dict[str, dict[str, Any]] = {
            "h": {
                "data_enc": "b",
                "len_enc": "b",
                "len_type": 0,
                "max_len": self.header_length,
                "desc": "Header",
            },
            "t": {
                "data_enc": "b" if self.mti_encoding == "bcd" else "ascii",
                "len_enc": "b",
                "len_type": 0,
                "max_len": 2 if self.mti_encoding == "bcd" else 4,
                "desc": "Message Type Identifier",
            },
        }
        for key, desc in (("p", "Primary Bitmap"), ("1", "Secondary Bitmap")):
            binary = self.bitmap_encoding == "binary"
            spec[key] = {
                "data_enc": "b" if binary else "ascii",
                "len_enc": "b",
                "len_type": 0,
                "max_len": 8 if binary else 16,
                "desc": desc,
            }
        for number, fdef in self.fields.items():
            spec[str(number)] = self._field_spec(fdef)
        return spec

    def _len_spec(self, var: int) -> tuple[str, int]:
        if var == 0:
            return "b", 0
        if self.length_encoding == "ascii":
            return "ascii", var
        # BCD and binary lengths: LVAR/LLVAR take one byte, LLLVAR two.
        return ("bcd" if self.length_encoding == "bcd" else "b"), (1 if var <= 2 else 2)

    def _field_spec(self, fdef: FieldDef) -> dict[str, Any]:
        len_enc, len_type = self._len_spec(fdef.var)
        out: dict[str, Any] = {
            "len_enc": len_enc,
            "len_type": len_type,
            "max_len": fdef.length,
            "desc": fdef.desc,
        }
        if fdef.kind in (FieldKind.N, FieldKind.Z) and self.numeric_encoding == "bcd":
            out["data_enc"] = "b"
            out["len_count"] = "nibbles"
            if fdef.var == 0 and fdef.kind is FieldKind.N:
                out["left_pad"] = "0"
            else:
                out["right_pad"] = "F"
        elif fdef.kind is FieldKind.B:
            out["data_enc"] = "b"
        else:
            out["data_enc"] = "ascii"
        return out
