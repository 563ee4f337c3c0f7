# Strategy: an ISO 8583 dialect is data (docs/conventions.md, 3). A dialect
# is a table of `FieldDef`s plus the encodings of its MTI and bitmaps, plus
# the conventions that differ between hosts (processing codes, network
# management codes, where the MAC, the original data elements, the batch
# number, the key-exchange data and the reconciliation totals go, and which
# fields each message type carries from where: `Conventions.messages`).
# Per field it says everything a host specification can choose:
#   kind      ISO 8583:1987 clause 4.2 attribute notation:
#             n (digits), z (track-2 data: digits and '='), b (binary),
#             ans (printable text), x+n (a 'C'/'D' sign and digits, the
#             amounts of fields 28-31, 46 and 97)
#   length    maximum (or fixed) length: digits for n/z/x+n (without the
#             sign), bytes for b, characters for ans
#   var       0 fixed; 1, 2, 3: the number of length digits (L, LL, LLL)
#   encoding  "bcd" (two digits a byte), "ascii" (one character a digit),
#             "binary" (raw bytes), "hex" (bytes as upper-case hex text)
#   prefix    how the length of a variable field is written: "bcd" (LL one
#             byte, LLL two), "ascii" (LL two characters, LLL three) or
#             "binary" (an unsigned integer); it counts digits for n/z
#             fields, bytes for b fields, characters for ans and hex fields
#   padding   for an odd number of BCD digits: the side and the nibble
#             ("left"/"right", "0"/"F")
# Unset per-field choices take the dialect's defaults for the kind, so a
# dialect file reads like the host specification's field table. The
# `Dialect.format()` of a field is the fully resolved choice; `pyiso8583_spec()`
# turns the table into the pyiso8583 spec dictionary, so encoding and
# decoding are pyiso8583's; nothing here knows about one host.
# acquirers/iso8583/README.md walks through writing a dialect file from an
# acquirer's host specification.
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

__all__ = [
    "Conventions",
    "Dialect",
    "Element",
    "Encoding",
    "FieldDef",
    "FieldFormat",
    "FieldKind",
    "MacRule",
    "Padding",
    "PrefixEncoding",
    "Sensitivity",
    "TotalsFields",
    "ans",
    "b",
    "n",
    "xn",
    "z",
]

Encoding = Literal["bcd", "ascii", "binary", "hex"]
PrefixEncoding = Literal["bcd", "ascii", "binary"]


class FieldKind(Enum):
    N = "n"
    Z = "z"
    B = "b"
    ANS = "ans"
    XN = "x+n"  # 'C' (credit) or 'D' (debit) followed by digits


class Sensitivity(Enum):
    NONE = "none"
    PAN = "pan"  # shown masked (first 6, last 4)
    SECRET = "secret"  # noqa: S105 -- never shown: track data, PIN blocks, keys, MACs


@dataclass(frozen=True)
class Padding:
    """Where the spare nibble of an odd number of BCD digits goes, and what it is."""

    side: Literal["left", "right"]
    char: Literal["0", "F"]


LEFT_0 = Padding("left", "0")
RIGHT_0 = Padding("right", "0")
RIGHT_F = Padding("right", "F")


@dataclass(frozen=True)
class FieldDef:
    number: int
    kind: FieldKind
    length: int
    var: Literal[0, 1, 2, 3] = 0  # 0 fixed, else the number of length digits (L, LL, LLL)
    desc: str = ""
    sensitivity: Sensitivity = Sensitivity.NONE
    # None: the dialect's default for the kind (Dialect.format resolves them).
    encoding: Encoding | None = None
    prefix: PrefixEncoding | None = None
    padding: Padding | None = None


@dataclass(frozen=True)
class FieldFormat:
    """A field's wire format with every choice resolved."""

    number: int
    kind: FieldKind
    length: int
    var: int
    encoding: Encoding
    prefix: PrefixEncoding | None  # None for fixed fields
    padding: Padding | None  # None unless BCD digits


def n(
    number: int,
    length: int,
    desc: str,
    var: Literal[0, 1, 2, 3] = 0,
    sensitivity: Sensitivity = Sensitivity.NONE,
    *,
    encoding: Encoding | None = None,
    padding: Padding | None = None,
) -> FieldDef:
    return FieldDef(
        number, FieldKind.N, length, var, desc, sensitivity, encoding=encoding, padding=padding
    )


def z(
    number: int,
    length: int,
    desc: str,
    var: Literal[0, 1, 2, 3] = 2,
    *,
    padding: Padding | None = None,
) -> FieldDef:
    return FieldDef(number, FieldKind.Z, length, var, desc, Sensitivity.SECRET, padding=padding)


def b(
    number: int,
    length: int,
    desc: str,
    var: Literal[0, 1, 2, 3] = 0,
    sensitivity: Sensitivity = Sensitivity.NONE,
) -> FieldDef:
    return FieldDef(number, FieldKind.B, length, var, desc, sensitivity)


def ans(
    number: int,
    length: int,
    desc: str,
    var: Literal[0, 1, 2, 3] = 0,
    sensitivity: Sensitivity = Sensitivity.NONE,
) -> FieldDef:
    return FieldDef(number, FieldKind.ANS, length, var, desc, sensitivity)


def xn(number: int, length: int, desc: str) -> FieldDef:
    """An amount with its sign: 'C'/'D' then ``length`` digits (x+n)."""
    return FieldDef(number, FieldKind.XN, length, 0, desc)


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


class Element(Enum):
    """What a field of a transaction message holds, named once: the message
    tables (`Conventions.messages`) map field numbers to these, and the
    builders in messages.py know where each comes from."""

    PAN = "pan"
    PROCESSING_CODE = "processing-code"
    AMOUNT = "amount"
    TRANSMISSION = "transmission"  # field 7 of this message: when it is sent (UTC)
    STAN = "stan"  # this message's STAN
    LOCAL_TIME = "local-time"  # of the transaction
    LOCAL_DATE = "local-date"
    EXPIRY = "expiry"
    ENTRY_MODE = "entry-mode"
    PAN_SEQUENCE = "pan-sequence"
    NII = "nii"
    CONDITION = "condition"
    ACQUIRER = "acquirer"
    TRACK2 = "track2"
    ORIGINAL_RRN = "original-rrn"  # a refund: the RRN of the purchase it refunds
    RRN = "rrn"  # the host's answer's to the original
    AUTH_CODE = "auth-code"  # the host's answer's, or the offline approval's
    RESPONSE_CODE = "response-code"  # the answer's, the offline code, or the reversal reason
    TID = "tid"
    MID = "mid"
    CURRENCY = "currency"
    PIN_BLOCK = "pin-block"
    ADDITIONAL_AMOUNTS = "additional-amounts"
    ICC = "icc"
    BATCH = "batch"
    REFERENCE = "reference"
    KEY_DATA = "key-data"  # DUKPT KSN (and AES block) of the PIN
    ORIGINAL_DATA = "original-data"
    REPLACEMENT = "replacement"


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
    # Per transaction message type (0200, 0220, 0400, 0320): field -> what it
    # holds. A field is sent when its element has a value for the transaction.
    messages: Mapping[str, Mapping[int, Element]] = field(default_factory=dict)
    totals: TotalsFields = field(default_factory=TotalsFields)
    rrn_field: int = 37
    # ISO 8583:1987 field 50, currency code, settlement: the currency of the
    # totals of a 0500/0520 (a terminal that takes several currencies settles
    # each on its own); None for a host that does not take the field.
    settlement_currency_field: int | None = 50
    pos_condition_normal: str = "00"
    # Response codes by which the host says the terminal's working keys are
    # out of step with its own: the terminal runs the key exchange
    # (network_codes["key_change"]) before its next message that needs them.
    key_change_codes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Dialect:
    name: str
    description: str
    fields: Mapping[int, FieldDef]
    mac: MacRule
    conventions: Conventions
    mti_encoding: Literal["bcd", "ascii"] = "bcd"
    bitmap_encoding: Literal["binary", "hex"] = "binary"
    # Defaults for the fields that do not say (FieldDef.encoding/prefix/padding).
    numeric_encoding: Literal["bcd", "ascii"] = "bcd"  # n, z and the digits of x+n
    binary_encoding: Literal["binary", "hex"] = "binary"  # b
    length_encoding: PrefixEncoding = "bcd"
    fixed_padding: Padding = LEFT_0  # fixed n and x+n fields with an odd digit count
    var_padding: Padding = RIGHT_0  # variable n and z fields with an odd digit count
    header_length: int = 0
    response_codes: str = "iso8583-1987"

    def __post_init__(self) -> None:
        for number, spec in self.fields.items():
            if number != spec.number or not 2 <= number <= 128 or number == 65:
                raise ValueError(f"dialect {self.name}: bad field definition {number}")
            if spec.kind is FieldKind.XN and spec.var:
                raise ValueError(f"dialect {self.name}: field {number}: x+n is fixed")
        for number in (64, 128):
            if number in self.fields and self.fields[number].kind is not FieldKind.B:
                raise ValueError(f"dialect {self.name}: field {number} must be binary")

    def field_def(self, number: int) -> FieldDef:
        return self.fields[number]

    def format(self, number: int) -> FieldFormat:
        """The wire format of field ``number``, every default applied."""
        fdef = self.fields[number]
        encoding: Encoding
        if fdef.encoding is not None:
            encoding = fdef.encoding
        elif fdef.kind is FieldKind.B:
            encoding = self.binary_encoding
        elif fdef.kind is FieldKind.ANS:
            encoding = "ascii"
        else:
            encoding = self.numeric_encoding
        padding = None
        if encoding == "bcd":
            padding = fdef.padding or (self.var_padding if fdef.var else self.fixed_padding)
        prefix = (fdef.prefix or self.length_encoding) if fdef.var else None
        return FieldFormat(number, fdef.kind, fdef.length, fdef.var, encoding, prefix, padding)

    def wire_width(self, number: int) -> int:
        """Bytes a fixed field takes on the wire (the MAC fields)."""
        fmt = self.format(number)
        if fmt.var:
            raise ValueError(f"field {number} is not fixed")
        return _data_bytes(fmt)

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
            spec[str(number)] = _field_spec(self.format(number), fdef.desc)
        return spec


def _data_bytes(fmt: FieldFormat) -> int:
    """The wire size of a fixed field's data."""
    if fmt.kind is FieldKind.XN:
        return 1 + (fmt.length + 1) // 2 if fmt.encoding == "bcd" else 1 + fmt.length
    if fmt.encoding == "bcd":
        return (fmt.length + 1) // 2
    if fmt.encoding == "hex":
        return 2 * fmt.length
    return fmt.length


def _field_spec(fmt: FieldFormat, desc: str) -> dict[str, Any]:
    """One pyiso8583 field spec. x+n fields in BCD go as binary (the codec
    writes the sign byte and the digits), hex fields as their text."""
    out: dict[str, Any] = {"desc": desc}
    if fmt.var == 0:
        out.update(len_enc="b", len_type=0)
    elif fmt.prefix == "ascii":
        out.update(len_enc="ascii", len_type=fmt.var)
    else:
        # BCD and binary lengths: LVAR/LLVAR take one byte, LLLVAR two.
        out.update(len_enc="bcd" if fmt.prefix == "bcd" else "b", len_type=1 if fmt.var <= 2 else 2)
    if fmt.kind is FieldKind.XN:
        out.update(data_enc="b" if fmt.encoding == "bcd" else "ascii", max_len=_data_bytes(fmt))
    elif fmt.encoding == "bcd":
        out.update(data_enc="b", len_count="nibbles", max_len=fmt.length)
        assert fmt.padding is not None
        out["left_pad" if fmt.padding.side == "left" else "right_pad"] = fmt.padding.char
    elif fmt.encoding == "binary":
        out.update(data_enc="b", max_len=fmt.length)
    elif fmt.encoding == "hex":
        out.update(data_enc="ascii", max_len=2 * fmt.length)
    else:
        out.update(data_enc="ascii", max_len=fmt.length)
    return out
