# Strategy: the one EMV data dictionary of the project (docs/conventions.md, 3).
# Rows follow EMV 4.3 Book 3 Annex A1 "Data Elements Dictionary" (tag, name,
# format, source, length) plus the contactless and scheme tags the later
# kernels share (Book C-2/C-3) and the proprietary tags this terminal uses.
# Everything that depends on a tag's properties is derived from this table:
# - DOL building (Book 3 5.4) takes the format (n / cn / other) from here;
# - the APDU trace and every repr redact values of `sensitive` tags;
# - record parsing takes the source (ICC data never overwrites terminal data)
#   and the length bounds from here.
# Lengths are in bytes of the value field; `max_len` None means "var." bounded
# only by the template.
from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from base.tlv import tag_hex

__all__ = [
    "ELEMENTS",
    "DataElement",
    "Format",
    "Source",
    "describe",
    "element",
    "fmt",
    "is_sensitive",
    "iter_elements",
    "length_ok",
    "name",
    "sensitive_tags",
]


class Format(enum.Enum):
    """Data element formats of Book 3 4.3 (n, cn, a, an, ans, b)."""

    N = "n"  # numeric BCD, right-justified, leading zeros
    CN = "cn"  # compressed numeric BCD, left-justified, trailing F
    A = "a"
    AN = "an"
    ANS = "ans"
    B = "b"


class Source(enum.Enum):
    ICC = "ICC"
    TERMINAL = "terminal"
    ISSUER = "issuer"


@dataclass(frozen=True, slots=True)
class DataElement:
    tag: int
    name: str
    format: Format
    source: Source
    min_len: int
    max_len: int | None
    template: tuple[int, ...] = ()
    sensitive: bool = False

    def __str__(self) -> str:
        return f"{tag_hex(self.tag)} {self.name}"


N, CN, A, AN, ANS, B = Format.N, Format.CN, Format.A, Format.AN, Format.ANS, Format.B
ICC, TRM, ISS = Source.ICC, Source.TERMINAL, Source.ISSUER
_RR = (0x70, 0x77)  # READ RECORD / GPO response templates
_FCI = (0xA5,)
_GAC = (0x77, 0x80)

# tag, name, format, source, min, max, template, sensitive
_ROWS: tuple[tuple[int, str, Format, Source, int, int | None, tuple[int, ...], bool], ...] = (
    # --- Book 3 Annex A1 -----------------------------------------------------
    (0x42, "Issuer Identification Number", N, ICC, 3, 3, (0xBF0C, 0x73), False),
    (0x4F, "Application Identifier (ADF Name)", B, ICC, 5, 16, (0x61,), False),
    (0x50, "Application Label", ANS, ICC, 1, 16, (0x61, 0xA5), False),
    (0x56, "Track 1 Data", ANS, ICC, 0, 76, _RR, True),
    (0x57, "Track 2 Equivalent Data", B, ICC, 0, 19, _RR, True),
    (0x5A, "Application Primary Account Number (PAN)", CN, ICC, 0, 10, _RR, True),
    (0x5F20, "Cardholder Name", ANS, ICC, 2, 26, _RR, True),
    (0x5F24, "Application Expiration Date", N, ICC, 3, 3, _RR, False),
    (0x5F25, "Application Effective Date", N, ICC, 3, 3, _RR, False),
    (0x5F28, "Issuer Country Code", N, ICC, 2, 2, _RR, False),
    (0x5F2A, "Transaction Currency Code", N, TRM, 2, 2, (), False),
    (0x5F2D, "Language Preference", AN, ICC, 2, 8, _FCI, False),
    (0x5F30, "Service Code", N, ICC, 2, 2, _RR, False),
    (0x5F34, "Application PAN Sequence Number", N, ICC, 1, 1, _RR, False),
    (0x5F36, "Transaction Currency Exponent", N, TRM, 1, 1, (), False),
    (0x5F50, "Issuer URL", ANS, ICC, 0, None, (0xBF0C, 0x73), False),
    (0x5F53, "International Bank Account Number (IBAN)", B, ICC, 0, 34, (0xBF0C, 0x73), False),
    (0x5F54, "Bank Identifier Code (BIC)", AN, ICC, 8, 11, (0xBF0C, 0x73), False),
    (0x5F55, "Issuer Country Code (alpha2)", A, ICC, 2, 2, (0xBF0C, 0x73), False),
    (0x5F56, "Issuer Country Code (alpha3)", A, ICC, 3, 3, (0xBF0C, 0x73), False),
    (0x5F57, "Account Type", N, TRM, 1, 1, (), False),
    (0x61, "Application Template", B, ICC, 0, 252, (0x70,), False),
    (0x6F, "File Control Information (FCI) Template", B, ICC, 0, 252, (), False),
    (0x70, "READ RECORD Response Message Template", B, ICC, 0, 253, (), False),
    (0x71, "Issuer Script Template 1", B, ISS, 0, None, (), False),
    (0x72, "Issuer Script Template 2", B, ISS, 0, None, (), False),
    (0x73, "Directory Discretionary Template", B, ICC, 0, 252, (0x61,), False),
    (0x77, "Response Message Template Format 2", B, ICC, 0, 253, (), False),
    (0x80, "Response Message Template Format 1", B, ICC, 0, 253, (), False),
    (0x81, "Amount, Authorised (Binary)", B, TRM, 4, 4, (), False),
    (0x82, "Application Interchange Profile", B, ICC, 2, 2, (0x77, 0x80), False),
    (0x83, "Command Template", B, TRM, 0, None, (), False),
    (0x84, "Dedicated File (DF) Name", B, ICC, 5, 16, (0x6F,), False),
    (0x86, "Issuer Script Command", B, ISS, 0, 261, (0x71, 0x72), False),
    (0x87, "Application Priority Indicator", B, ICC, 1, 1, (0x61, 0xA5), False),
    (0x88, "Short File Identifier (SFI)", B, ICC, 1, 1, _FCI, False),
    (0x89, "Authorisation Code", AN, ISS, 6, 6, (), False),
    (0x8A, "Authorisation Response Code", AN, ISS, 2, 2, (), False),
    (0x8C, "Card Risk Management Data Object List 1 (CDOL1)", B, ICC, 0, 252, _RR, False),
    (0x8D, "Card Risk Management Data Object List 2 (CDOL2)", B, ICC, 0, 252, _RR, False),
    (0x8E, "Cardholder Verification Method (CVM) List", B, ICC, 10, 252, _RR, False),
    (0x8F, "Certification Authority Public Key Index", B, ICC, 1, 1, _RR, False),
    (0x90, "Issuer Public Key Certificate", B, ICC, 0, 248, _RR, False),
    (0x91, "Issuer Authentication Data", B, ISS, 8, 16, (), False),
    (0x92, "Issuer Public Key Remainder", B, ICC, 0, None, _RR, False),
    (0x93, "Signed Static Application Data", B, ICC, 0, 248, _RR, False),
    (0x94, "Application File Locator (AFL)", B, ICC, 0, 252, (0x77, 0x80), False),
    (0x95, "Terminal Verification Results", B, TRM, 5, 5, (), False),
    (0x97, "Transaction Certificate Data Object List (TDOL)", B, ICC, 0, 252, _RR, False),
    (0x98, "Transaction Certificate (TC) Hash Value", B, TRM, 20, 20, (), False),
    (0x99, "Transaction Personal Identification Number (PIN) Data", B, TRM, 0, None, (), True),
    (0x9A, "Transaction Date", N, TRM, 3, 3, (), False),
    (0x9B, "Transaction Status Information", B, TRM, 2, 2, (), False),
    (0x9C, "Transaction Type", N, TRM, 1, 1, (), False),
    (0x9D, "Directory Definition File (DDF) Name", B, ICC, 5, 16, (0x61,), False),
    (0x9F01, "Acquirer Identifier", N, TRM, 6, 6, (), False),
    (0x9F02, "Amount, Authorised (Numeric)", N, TRM, 6, 6, (), False),
    (0x9F03, "Amount, Other (Numeric)", N, TRM, 6, 6, (), False),
    (0x9F04, "Amount, Other (Binary)", B, TRM, 4, 4, (), False),
    (0x9F05, "Application Discretionary Data", B, ICC, 1, 32, _RR, False),
    (0x9F06, "Application Identifier (AID) - terminal", B, TRM, 5, 16, (), False),
    (0x9F07, "Application Usage Control", B, ICC, 2, 2, _RR, False),
    (0x9F08, "Application Version Number", B, ICC, 2, 2, _RR, False),
    (0x9F09, "Application Version Number (terminal)", B, TRM, 2, 2, (), False),
    (0x9F0B, "Cardholder Name Extended", ANS, ICC, 27, 45, _RR, True),
    (0x9F0D, "Issuer Action Code - Default", B, ICC, 5, 5, _RR, False),
    (0x9F0E, "Issuer Action Code - Denial", B, ICC, 5, 5, _RR, False),
    (0x9F0F, "Issuer Action Code - Online", B, ICC, 5, 5, _RR, False),
    (0x9F10, "Issuer Application Data", B, ICC, 0, 32, _GAC, False),
    (0x9F11, "Issuer Code Table Index", N, ICC, 1, 1, _FCI, False),
    (0x9F12, "Application Preferred Name", ANS, ICC, 1, 16, (0x61, 0xA5), False),
    (0x9F13, "Last Online Application Transaction Counter (ATC) Register", B, ICC, 2, 2, (), False),
    (0x9F14, "Lower Consecutive Offline Limit", B, ICC, 1, 1, _RR, False),
    (0x9F15, "Merchant Category Code", N, TRM, 2, 2, (), False),
    (0x9F16, "Merchant Identifier", ANS, TRM, 15, 15, (), False),
    (0x9F17, "Personal Identification Number (PIN) Try Counter", B, ICC, 1, 1, (), False),
    (0x9F18, "Issuer Script Identifier", B, ISS, 4, 4, (0x71, 0x72), False),
    (0x9F1A, "Terminal Country Code", N, TRM, 2, 2, (), False),
    (0x9F1B, "Terminal Floor Limit", B, TRM, 4, 4, (), False),
    (0x9F1C, "Terminal Identification", AN, TRM, 8, 8, (), False),
    (0x9F1D, "Terminal Risk Management Data", B, TRM, 1, 8, (), False),
    (0x9F1E, "Interface Device (IFD) Serial Number", AN, TRM, 8, 8, (), False),
    (0x9F1F, "Track 1 Discretionary Data", ANS, ICC, 0, None, _RR, True),
    (0x9F20, "Track 2 Discretionary Data", CN, ICC, 0, None, _RR, True),
    (0x9F21, "Transaction Time", N, TRM, 3, 3, (), False),
    (0x9F22, "Certification Authority Public Key Index (terminal)", B, TRM, 1, 1, (), False),
    (0x9F23, "Upper Consecutive Offline Limit", B, ICC, 1, 1, _RR, False),
    (0x9F26, "Application Cryptogram", B, ICC, 8, 8, _GAC, False),
    (0x9F27, "Cryptogram Information Data", B, ICC, 1, 1, _GAC, False),
    (0x9F2D, "ICC PIN Encipherment Public Key Certificate", B, ICC, 0, 248, _RR, False),
    (0x9F2E, "ICC PIN Encipherment Public Key Exponent", B, ICC, 1, 3, _RR, False),
    (0x9F2F, "ICC PIN Encipherment Public Key Remainder", B, ICC, 0, None, _RR, False),
    (0x9F32, "Issuer Public Key Exponent", B, ICC, 1, 3, _RR, False),
    (0x9F33, "Terminal Capabilities", B, TRM, 3, 3, (), False),
    (0x9F34, "Cardholder Verification Method (CVM) Results", B, TRM, 3, 3, (), False),
    (0x9F35, "Terminal Type", N, TRM, 1, 1, (), False),
    (0x9F36, "Application Transaction Counter (ATC)", B, ICC, 2, 2, _GAC, False),
    (0x9F37, "Unpredictable Number", B, TRM, 4, 4, (), False),
    (0x9F38, "Processing Options Data Object List (PDOL)", B, ICC, 0, 252, _FCI, False),
    (0x9F39, "Point-of-Service (POS) Entry Mode", N, TRM, 1, 1, (), False),
    (0x9F3A, "Amount, Reference Currency", B, TRM, 4, 4, (), False),
    (0x9F3B, "Application Reference Currency", N, ICC, 2, 8, _RR, False),
    (0x9F3C, "Transaction Reference Currency Code", N, TRM, 2, 2, (), False),
    (0x9F3D, "Transaction Reference Currency Exponent", N, TRM, 1, 1, (), False),
    (0x9F40, "Additional Terminal Capabilities", B, TRM, 5, 5, (), False),
    (0x9F41, "Transaction Sequence Counter", N, TRM, 2, 4, (), False),
    (0x9F42, "Application Currency Code", N, ICC, 2, 2, _RR, False),
    (0x9F43, "Application Reference Currency Exponent", N, ICC, 1, 4, _RR, False),
    (0x9F44, "Application Currency Exponent", N, ICC, 1, 1, _RR, False),
    (0x9F45, "Data Authentication Code", B, ICC, 2, 2, (), False),
    (0x9F46, "ICC Public Key Certificate", B, ICC, 0, 248, _RR, False),
    (0x9F47, "ICC Public Key Exponent", B, ICC, 1, 3, _RR, False),
    (0x9F48, "ICC Public Key Remainder", B, ICC, 0, None, _RR, False),
    (0x9F49, "Dynamic Data Authentication Data Object List (DDOL)", B, ICC, 0, 252, _RR, False),
    (0x9F4A, "Static Data Authentication Tag List", B, ICC, 0, None, _RR, False),
    (0x9F4B, "Signed Dynamic Application Data", B, ICC, 0, 248, (0x77, 0x80), False),
    (0x9F4C, "ICC Dynamic Number", B, ICC, 2, 8, (), False),
    (0x9F4D, "Log Entry", B, ICC, 2, 2, (0xBF0C, 0x73), False),
    (0x9F4E, "Merchant Name and Location", ANS, TRM, 0, None, (), False),
    (0x9F4F, "Log Format", B, ICC, 0, None, (), False),
    # --- scheme and contactless data shared by later kernels -----------------
    (0x9F24, "Payment Account Reference", AN, ICC, 29, 29, _RR, False),
    (0x9F29, "Extended Selection", B, ICC, 1, 11, (0x61,), False),
    (0x9F2A, "Kernel Identifier", B, ICC, 1, 8, (0x61,), False),
    (0x9F53, "Transaction Category Code", AN, TRM, 1, 1, (), False),
    (0x9F5B, "Issuer Script Results", B, TRM, 0, None, (), False),
    (0x9F66, "Terminal Transaction Qualifiers", B, TRM, 4, 4, (), False),
    (0x9F6B, "Track 2 Data", B, ICC, 0, 19, _RR, True),
    (0x9F6C, "Card Transaction Qualifiers", B, ICC, 2, 2, _RR, False),
    (0x9F69, "Card Authentication Related Data", B, ICC, 5, 16, _RR, False),
    (0x9F6E, "Form Factor Indicator / Third Party Data", B, ICC, 4, 32, _RR, False),
    (0x9F7C, "Customer Exclusive Data", B, ICC, 0, 32, _GAC, False),
    (0xA5, "FCI Proprietary Template", B, ICC, 0, 252, (0x6F,), False),
    (0xBF0C, "FCI Issuer Discretionary Data", B, ICC, 0, 222, _FCI, False),
    # --- proprietary (terminal) ----------------------------------------------
    (0xDF8112, "Tags To Read", B, TRM, 0, None, (), False),
    (0xDF8116, "User Interface Request Data", B, TRM, 22, 22, (), False),
    (0xDF811E, "Data Exchange Tag List", B, TRM, 0, None, (), False),
    (0xDF8129, "Outcome Parameter Set", B, TRM, 8, 8, (), False),
    (0xDF8F01, "Online PIN Block (enciphered)", B, TRM, 0, None, (), True),
    (0xDF8F02, "Offline PIN Block (ISO 9564 format 2)", B, TRM, 8, 8, (), True),
)


def _build() -> Mapping[int, DataElement]:
    table: dict[int, DataElement] = {}
    for tag, nm, form, src, lo, hi, tmpl, sens in _ROWS:
        if tag in table:
            raise RuntimeError(f"duplicate dictionary row {tag_hex(tag)}")
        table[tag] = DataElement(tag, nm, form, src, lo, hi, tmpl, sens)
    return MappingProxyType(table)


ELEMENTS: Mapping[int, DataElement] = _build()
_SENSITIVE = frozenset(t for t, e in ELEMENTS.items() if e.sensitive)


def element(tag: int) -> DataElement | None:
    return ELEMENTS.get(tag)


def name(tag: int) -> str:
    e = ELEMENTS.get(tag)
    return e.name if e else "unknown"


def fmt(tag: int) -> Format:
    """Format of a tag; unknown tags are binary (Book 3 5.4 'other formats')."""
    e = ELEMENTS.get(tag)
    return e.format if e else Format.B


def is_sensitive(tag: int) -> bool:
    return tag in _SENSITIVE


def sensitive_tags() -> frozenset[int]:
    return _SENSITIVE


def length_ok(tag: int, value: bytes) -> bool:
    """Whether a value's length is within the dictionary bounds (unknown tags: yes)."""
    e = ELEMENTS.get(tag)
    if e is None:
        return True
    if len(value) < e.min_len:
        return False
    return e.max_len is None or len(value) <= e.max_len


def describe(tag: int) -> str:
    return f"{tag_hex(tag)} {name(tag)}"


def iter_elements() -> Iterator[DataElement]:
    return iter(ELEMENTS.values())
