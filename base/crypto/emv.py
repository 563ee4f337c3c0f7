# Strategy: EMV symmetric cryptography, EMV 4.4 Book 2 Annex A1 and section 9.
# - ICC master keys from an issuer master key (A1.4): option A encrypts the
#   rightmost 16 digits of PAN||PSN and its complement under the IMK; option B
#   hashes PAN||PSN with SHA-1 and decimalises the digest (A1.4.2) and falls
#   back to option A when the PAN has 16 digits or fewer. Derived keys get odd
#   parity.
# - Session keys: common session key derivation (A1.3.1, the diversifier's
#   third byte is F0 / 0F), the Mastercard variant (ATC||F000||UN), and the
#   Visa secure-messaging variant (ATC xor-ed into the key halves).
# - Application cryptograms are ISO/IEC 9797-1 MAC algorithm 3 (A1.2.1) with
#   EMV padding method 2 or the Visa 00-padding (method 1); ARPC methods 1
#   and 2 (A1.2.2 / A1.2.3); secure messaging MACs and data encipherment for
#   issuer scripts (9.2, 9.3, A1.1) including the VIS PIN-change block.
# - `CryptogramVersion` describes one card/issuer scheme (key, padding, input
#   data, ARPC method, script keys) as data; `IssuerCrypto` is the issuer-side
#   API (verify_arqc / make_arpc / script commands) that the host simulator
#   uses, and the card emulator calls the same functions, so both sides agree
#   by construction.
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from base.crypto import pinblock
from base.crypto.des import (
    adjust_odd_parity,
    mac_alg3,
    pad_iso9797,
    tdes_cbc_decrypt,
    tdes_cbc_encrypt,
    tdes_ecb_decrypt,
    tdes_ecb_encrypt,
    xor,
)
from base.errors import CardcoreError

__all__ = [
    "AC_DATA_TAGS",
    "CVN10",
    "CVN18",
    "CVN_COMMON",
    "MCHIP_CVN16",
    "VERSIONS",
    "CryptogramError",
    "CryptogramVersion",
    "IccMasterKeys",
    "IssuerCrypto",
    "IssuerMasterKeys",
    "ac_input",
    "ac_session_key",
    "application_cryptogram",
    "arpc_method1",
    "arpc_method2",
    "build_script_command",
    "check_issuer_authentication_data",
    "decipher_script_data",
    "decode_vis_pin_block",
    "derive_common_session_key",
    "derive_icc_master_key",
    "derive_icc_mk_a",
    "derive_icc_mk_b",
    "derive_mastercard_session_key",
    "derive_visa_sm_session_key",
    "encipher_script_data",
    "generate_ac",
    "identify_version",
    "issuer_authentication_data",
    "make_csu",
    "pin_change_data",
    "script_mac",
    "script_session_keys",
    "vis_pin_block",
]

Padding = Literal["emv", "visa"]
ScriptCipher = Literal["emv", "mastercard", "visa"]


class CryptogramError(CardcoreError):
    """EMV cryptogram data is malformed or incomplete."""


def _digits(value: str, what: str) -> str:
    if not (value.isascii() and value.isdigit()):
        raise CryptogramError(f"{what} must be decimal digits")
    return value


def _double_key(key: bytes, what: str = "key") -> None:
    if len(key) != 16:
        raise CryptogramError(f"{what} must be a double-length (16-byte) TDES key")


# --- ICC master key derivation (Book 2 A1.4) --------------------------------


def _mk_from_y(imk: bytes, y: bytes) -> bytes:
    _double_key(imk, "issuer master key")
    left = tdes_ecb_encrypt(imk, y)
    right = tdes_ecb_encrypt(imk, xor(y, b"\xff" * 8))
    return adjust_odd_parity(left + right)


def derive_icc_mk_a(imk: bytes, pan: str, psn: str = "00") -> bytes:
    """Option A: Y = rightmost 16 digits of PAN||PSN, zero-padded on the left."""
    digits = _digits(pan, "PAN") + _digits(psn or "00", "PSN")
    return _mk_from_y(imk, bytes.fromhex(digits[-16:].rjust(16, "0")))


def _decimalise(hexdigest: str) -> str:
    """A1.4.2 step 3: the decimal digits of the digest in order; if fewer than 16,
    the hex letters A-F in order, mapped to 0-5, until there are 16."""
    digits = [c for c in hexdigest if c.isdigit()]
    if len(digits) < 16:
        letters = [str(int(c, 16) - 10) for c in hexdigest if not c.isdigit()]
        digits += letters[: 16 - len(digits)]
    return "".join(digits[:16])


def derive_icc_mk_b(imk: bytes, pan: str, psn: str = "00") -> bytes:
    """Option B for PANs of 17-19 digits; option A for shorter PANs (A1.4.2)."""
    _digits(pan, "PAN")
    if len(pan) <= 16:
        return derive_icc_mk_a(imk, pan, psn)
    x = pan + _digits(psn or "00", "PSN")
    if len(x) % 2:
        x = "0" + x
    # SHA-1 is what A1.4.2 prescribes; it derives a key index, not a signature.
    y = _decimalise(hashlib.sha1(bytes.fromhex(x)).hexdigest())  # noqa: S324
    return _mk_from_y(imk, bytes.fromhex(y))


def derive_icc_master_key(
    imk: bytes, pan: str, psn: str = "00", option: Literal["A", "B"] = "A"
) -> bytes:
    if option == "A":
        return derive_icc_mk_a(imk, pan, psn)
    if option == "B":
        return derive_icc_mk_b(imk, pan, psn)
    raise CryptogramError(f"unknown master key derivation option {option!r}")


# --- session keys (Book 2 A1.3) ---------------------------------------------


def derive_common_session_key(mk: bytes, r: bytes) -> bytes:
    """A1.3.1: SK = TDES(MK)[R0 R1 F0 R3..R7] || TDES(MK)[R0 R1 0F R3..R7]."""
    _double_key(mk, "ICC master key")
    if len(r) != 8:
        raise CryptogramError("the session key diversifier R must be 8 bytes")
    left = tdes_ecb_encrypt(mk, r[:2] + b"\xf0" + r[3:])
    right = tdes_ecb_encrypt(mk, r[:2] + b"\x0f" + r[3:])
    return adjust_odd_parity(left + right)


def derive_mastercard_session_key(mk: bytes, atc: bytes, un: bytes) -> bytes:
    """M/Chip session key: R = ATC || 00 00 || UN through the common derivation."""
    if len(atc) != 2 or len(un) != 4:
        raise CryptogramError("Mastercard SKD needs a 2-byte ATC and a 4-byte UN")
    return derive_common_session_key(mk, atc + b"\x00\x00" + un)


def derive_visa_sm_session_key(mk: bytes, atc: bytes) -> bytes:
    """VIS secure messaging key: MK_L xor (0..0||ATC), MK_R xor (0..0||~ATC)."""
    _double_key(mk, "ICC master key")
    if len(atc) != 2:
        raise CryptogramError("the ATC must be 2 bytes")
    left = xor(mk[:8], bytes(6) + atc)
    right = xor(mk[8:], bytes(6) + xor(atc, b"\xff\xff"))
    return adjust_odd_parity(left + right)


# --- cryptograms (Book 2 A1.2) ----------------------------------------------


def application_cryptogram(key: bytes, data: bytes, padding: Padding = "emv") -> bytes:
    """ARQC/TC/AAC: MAC algorithm 3 with ISO 9797-1 padding method 2 ("emv")
    or the Visa zero padding (method 1, "visa"); 8 bytes."""
    _double_key(key, "AC key")
    method = 2 if padding == "emv" else 1
    return mac_alg3(key[:8], key[8:], data, method)


def arpc_method1(key: bytes, arqc: bytes, arc: bytes) -> bytes:
    """A1.2.2: ARPC = TDES(key)[ARQC xor (ARC || 00..00)]; 8 bytes."""
    _double_key(key, "ARPC key")
    if len(arqc) != 8 or len(arc) != 2:
        raise CryptogramError("ARPC method 1 needs an 8-byte ARQC and a 2-byte ARC")
    return tdes_ecb_encrypt(key, xor(arqc, arc + bytes(6)))


def arpc_method2(key: bytes, arqc: bytes, csu: bytes, prop: bytes = b"") -> bytes:
    """A1.2.3: ARPC = leftmost 4 bytes of MAC alg 3 (pad 2) over ARQC||CSU||PAD."""
    _double_key(key, "ARPC key")
    if len(arqc) != 8 or len(csu) != 4 or len(prop) > 8:
        raise CryptogramError("ARPC method 2 needs ARQC(8), CSU(4), proprietary data(0-8)")
    return mac_alg3(key[:8], key[8:], arqc + csu + prop, 2)[:4]


def make_csu(
    *,
    approved: bool = True,
    pin_try_counter: int | None = None,
    block_application: bool = False,
    block_card: bool = False,
    go_online_next: bool = False,
    proprietary: bool = False,
) -> bytes:
    """Card Status Update for ARPC method 2 (EMV CCD / VIS layout).

    Byte 1: b8 proprietary authentication data included, b4-1 new PIN try counter.
    Byte 2: b8 issuer approves online, b7 card block, b6 application block,
    b5 update PIN try counter, b4 set go online on next transaction.
    """
    b1 = 0x80 if proprietary else 0
    b2 = 0
    if pin_try_counter is not None:
        if not 0 <= pin_try_counter <= 15:
            raise CryptogramError("PIN try counter must be 0-15")
        b1 |= pin_try_counter
        b2 |= 0x10
    if approved:
        b2 |= 0x80
    if block_card:
        b2 |= 0x40
    if block_application:
        b2 |= 0x20
    if go_online_next:
        b2 |= 0x08
    return bytes([b1, b2, 0, 0])


# --- secure messaging for issuer scripts (Book 2 9.2, 9.3) -------------------


def script_mac(key: bytes, data: bytes, length: int = 8) -> bytes:
    """9.2.3: MAC algorithm 3 with padding method 2; the leftmost 4-8 bytes.

    ``data`` is CLA INS P1 P2 Lc || ATC || AC || command data (plain or
    enciphered); Lc already counts the MAC."""
    _double_key(key, "SMI session key")
    if not 4 <= length <= 8:
        raise CryptogramError("script MAC length must be 4-8 bytes")
    return mac_alg3(key[:8], key[8:], data, 2)[:length]


def encipher_script_data(key: bytes, data: bytes, style: ScriptCipher = "emv") -> bytes:
    """9.3 / A1.1 data encipherment under the SMC session key.

    emv: TDES-CBC (zero IV), always ISO 9797-1 method 2 padding.
    mastercard: TDES-CBC, method 2 padding only when not block-aligned.
    visa: TDES-ECB of length byte || data, method 2 padding (VIS)."""
    _double_key(key, "SMC session key")
    if style == "emv":
        return tdes_cbc_encrypt(key, pad_iso9797(data, 2))
    if style == "mastercard":
        aligned = data and len(data) % 8 == 0
        return tdes_cbc_encrypt(key, data if aligned else pad_iso9797(data, 2))
    if style == "visa":
        if len(data) > 255:
            raise CryptogramError("VIS enciphered data is limited to 255 bytes")
        return tdes_ecb_encrypt(key, pad_iso9797(bytes([len(data)]) + data, 2))
    raise CryptogramError(f"unknown script encipherment {style!r}")


def _strip_method2(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= 8:
        raise CryptogramError("bad ISO 9797-1 method 2 padding")
    return stripped[:-1]


def decipher_script_data(
    key: bytes, data: bytes, style: ScriptCipher = "emv", plain_length: int | None = None
) -> bytes:
    """The card side of `encipher_script_data`. For the "mastercard" style an
    aligned plaintext carries no padding, so pass ``plain_length`` when the
    receiver knows it (an 8-byte PIN block)."""
    _double_key(key, "SMC session key")
    if not data or len(data) % 8:
        raise CryptogramError("enciphered data must be a non-empty multiple of 8 bytes")
    if style == "emv":
        return _strip_method2(tdes_cbc_decrypt(key, data))
    if style == "mastercard":
        plain = tdes_cbc_decrypt(key, data)
        if plain_length is not None and plain_length == len(plain):
            return plain
        return _strip_method2(plain) if plain_length is None else plain[:plain_length]
    if style == "visa":
        plain = _strip_method2(tdes_ecb_decrypt(key, data))
        if not plain or plain[0] != len(plain) - 1:
            raise CryptogramError("VIS enciphered data length byte does not match")
        return plain[1:]
    raise CryptogramError(f"unknown script encipherment {style!r}")


def _pin_digits(pin: str) -> str:
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise CryptogramError("PIN must be 4 to 12 digits")
    return pin


def vis_pin_block(icc_mk_ac: bytes, pin: str, current_pin: str | None = None) -> bytes:
    """VIS PIN-change block: (00000000 || MK_AC[4:8]) xor (len || PIN || F..F),
    xor-ed with the current PIN right-padded with zeros when one is given."""
    _double_key(icc_mk_ac, "ICC AC master key")
    block_b = bytes([len(_pin_digits(pin))]) + bytes.fromhex(pin.ljust(14, "F"))
    block = xor(bytes(4) + icc_mk_ac[4:8], block_b)
    if current_pin is not None:
        block = xor(block, bytes.fromhex(_pin_digits(current_pin).ljust(16, "0")))
    return block


def decode_vis_pin_block(icc_mk_ac: bytes, block: bytes, current_pin: str | None = None) -> str:
    """Recover the new PIN from a VIS block; raises CryptogramError when the
    block is malformed (including a wrong current PIN, which garbles it)."""
    _double_key(icc_mk_ac, "ICC AC master key")
    if len(block) != 8:
        raise CryptogramError("a VIS PIN block is 8 bytes")
    if current_pin is not None:
        block = xor(block, bytes.fromhex(_pin_digits(current_pin).ljust(16, "0")))
    plain = xor(block, bytes(4) + icc_mk_ac[4:8])
    length = plain[0]
    digits = plain[1:].hex().upper()
    if not 4 <= length <= 12 or digits != digits[:length] + "F" * (14 - length):
        raise CryptogramError("malformed VIS PIN block")
    return _pin_digits(digits[:length])


# --- cryptogram versions ------------------------------------------------------

# Book 2 A1.2.1 / Book 3 Table 28 recommended minimum data, in this order.
AC_DATA_TAGS: tuple[int, ...] = (
    0x9F02,  # amount, authorised
    0x9F03,  # amount, other
    0x9F1A,  # terminal country code
    0x95,  # TVR
    0x5F2A,  # transaction currency code
    0x9A,  # transaction date
    0x9C,  # transaction type
    0x9F37,  # unpredictable number
    0x82,  # AIP
    0x9F36,  # ATC
)
_AC_DATA_LENGTHS = {
    0x9F02: 6,
    0x9F03: 6,
    0x9F1A: 2,
    0x95: 5,
    0x5F2A: 2,
    0x9A: 3,
    0x9C: 1,
    0x9F37: 4,
    0x82: 2,
    0x9F36: 2,
}


@dataclass(frozen=True, slots=True)
class CryptogramVersion:
    """One cryptogram scheme as data (what the card and the issuer agree on).

    name: registry key used in profiles and the issuer key file.
    cvn: the cryptogram version number byte written into the IAD.
    ac_key: "icc-mk" (no session key, Visa CVN 10), "common" (A1.3.1 with
        R = ATC||00..00) or "mastercard" (R = ATC||0000||UN).
    padding: "emv" (80 padding) or "visa" (00 padding) of the AC input.
    iad_layout: "vis" (len, DKI, CVN, CVR(4), ...) or "mchip" (DKI, CVN,
        CVR(6), ...); decides where the CVR sits.
    ac_tail: "cvr" appends the CVR to the AC input, "iad" the whole IAD.
    arpc_method: 1 or 2; arpc_key: "icc-mk" or "session" (the AC session key).
    sm_key: "visa" (VIS SM key from the ATC) or "common-arqc" (A1.3.1 with R = AC).
    sm_cipher: issuer script data encipherment style.
    pin_block: "vis" or "iso2" block inside PIN CHANGE data.
    """

    name: str
    cvn: int
    ac_key: Literal["icc-mk", "common", "mastercard"]
    padding: Padding
    iad_layout: Literal["vis", "mchip"]
    ac_tail: Literal["cvr", "iad"]
    arpc_method: Literal[1, 2]
    arpc_key: Literal["icc-mk", "session"]
    sm_key: Literal["visa", "common-arqc"]
    sm_cipher: ScriptCipher
    pin_block: Literal["vis", "iso2"]
    description: str = field(default="", compare=False)

    @property
    def cvr_length(self) -> int:
        return 4 if self.iad_layout == "vis" else 6

    def build_iad(self, dki: int, cvr: bytes) -> bytes:
        """Issuer Application Data (9F10) in this version's layout."""
        if len(cvr) != self.cvr_length:
            raise CryptogramError(f"{self.name} needs a {self.cvr_length}-byte CVR")
        if self.iad_layout == "vis":
            return bytes([6, dki, self.cvn]) + cvr
        # M/Chip: DKI, CVN, CVR, DAC/IDN (2), counters (8)
        return bytes([dki, self.cvn]) + cvr + bytes(10)

    def cvr_from_iad(self, iad: bytes) -> bytes:
        if self.iad_layout == "vis":
            if len(iad) < 7:
                raise CryptogramError("IAD too short for the VIS layout")
            return iad[3:7]
        if len(iad) < 8:
            raise CryptogramError("IAD too short for the M/Chip layout")
        return iad[2:8]


CVN10 = CryptogramVersion(
    name="visa-cvn10",
    cvn=0x0A,
    ac_key="icc-mk",
    padding="visa",
    iad_layout="vis",
    ac_tail="cvr",
    arpc_method=1,
    arpc_key="icc-mk",
    sm_key="visa",
    sm_cipher="visa",
    pin_block="vis",
    description="Visa CVN 10: ICC MK directly, 00 padding, ARPC method 1",
)
CVN18 = CryptogramVersion(
    name="visa-cvn18",
    cvn=0x12,
    ac_key="common",
    padding="emv",
    iad_layout="vis",
    ac_tail="iad",
    arpc_method=2,
    arpc_key="session",
    sm_key="visa",
    sm_cipher="visa",
    pin_block="vis",
    description="Visa CVN 18: common session key, 80 padding, full IAD, ARPC method 2",
)
MCHIP_CVN16 = CryptogramVersion(
    name="mchip-cvn16",
    cvn=0x10,
    ac_key="mastercard",
    padding="emv",
    iad_layout="mchip",
    ac_tail="cvr",
    arpc_method=1,
    arpc_key="icc-mk",
    sm_key="common-arqc",
    sm_cipher="mastercard",
    pin_block="iso2",
    description="M/Chip-style CVN 16: Mastercard SKD (ATC, UN), ARPC method 1 with the ICC MK",
)
CVN_COMMON = CryptogramVersion(
    name="emv-common",
    cvn=0xC1,
    ac_key="common",
    padding="emv",
    iad_layout="vis",
    ac_tail="iad",
    arpc_method=1,
    arpc_key="session",
    sm_key="common-arqc",
    sm_cipher="emv",
    pin_block="iso2",
    description=(
        "Book 2 A1 throughout (project-specific CVN C1): common session key, "
        "80 padding, full IAD, ARPC method 1 with the session key"
    ),
)
VERSIONS: dict[str, CryptogramVersion] = {
    v.name: v for v in (CVN10, CVN18, MCHIP_CVN16, CVN_COMMON)
}


def identify_version(iad: bytes) -> CryptogramVersion | None:
    """Guess the version from an IAD written by one of the versions above."""
    if len(iad) >= 7 and iad[0] == 6:
        for version in VERSIONS.values():
            if version.iad_layout == "vis" and iad[2] == version.cvn:
                return version
    if len(iad) >= 8 and iad[1] == MCHIP_CVN16.cvn:
        return MCHIP_CVN16
    return None


def ac_input(version: CryptogramVersion, data: Mapping[int, bytes]) -> bytes:
    """The AC input: the ten AC_DATA_TAGS values then the CVR or the whole IAD.

    ``data`` maps tags to values as they appear in field 55 / the card; 9F10
    (IAD) is required because the CVR is taken from it."""
    parts: list[bytes] = []
    for tag in AC_DATA_TAGS:
        value = data.get(tag)
        if value is None:
            raise CryptogramError(f"AC input lacks tag {tag:X}")
        if len(value) != _AC_DATA_LENGTHS[tag]:
            raise CryptogramError(f"tag {tag:X} must be {_AC_DATA_LENGTHS[tag]} bytes")
        parts.append(value)
    iad = data.get(0x9F10)
    if iad is None:
        raise CryptogramError("AC input lacks the IAD (9F10)")
    parts.append(version.cvr_from_iad(iad) if version.ac_tail == "cvr" else iad)
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class IccMasterKeys:
    """The three ICC master keys (AC, SM integrity, SM confidentiality)."""

    ac: bytes
    smi: bytes
    smc: bytes

    def __repr__(self) -> str:  # never print key material
        return "IccMasterKeys(<redacted>)"


@dataclass(frozen=True, slots=True)
class IssuerMasterKeys:
    """Issuer master keys (IMK-AC, IMK-SMI, IMK-SMC) and the derivation option."""

    ac: bytes
    smi: bytes
    smc: bytes
    option: Literal["A", "B"] = "A"

    def __repr__(self) -> str:
        return f"IssuerMasterKeys(<redacted>, option={self.option})"

    def derive(self, pan: str, psn: str = "00") -> IccMasterKeys:
        return IccMasterKeys(
            ac=derive_icc_master_key(self.ac, pan, psn, self.option),
            smi=derive_icc_master_key(self.smi, pan, psn, self.option),
            smc=derive_icc_master_key(self.smc, pan, psn, self.option),
        )


def _need(data: Mapping[int, bytes], tag: int, length: int) -> bytes:
    value = data.get(tag)
    if value is None or len(value) != length:
        raise CryptogramError(f"tag {tag:X} ({length} bytes) is required")
    return value


def ac_session_key(
    version: CryptogramVersion, icc_mk_ac: bytes, atc: bytes, un: bytes = bytes(4)
) -> bytes:
    """The key the card MACs the AC input with."""
    if version.ac_key == "icc-mk":
        _double_key(icc_mk_ac, "ICC AC master key")
        return icc_mk_ac
    if version.ac_key == "common":
        if len(atc) != 2:
            raise CryptogramError("the ATC must be 2 bytes")
        return derive_common_session_key(icc_mk_ac, atc + bytes(6))
    return derive_mastercard_session_key(icc_mk_ac, atc, un)


def generate_ac(version: CryptogramVersion, icc_mk_ac: bytes, data: Mapping[int, bytes]) -> bytes:
    """Card and issuer alike: the 8-byte cryptogram over `ac_input`."""
    key = ac_session_key(version, icc_mk_ac, _need(data, 0x9F36, 2), _need(data, 0x9F37, 4))
    return application_cryptogram(key, ac_input(version, data), version.padding)


def _arpc_key(version: CryptogramVersion, icc_mk_ac: bytes, atc: bytes, un: bytes) -> bytes:
    if version.arpc_key == "icc-mk":
        return icc_mk_ac
    return ac_session_key(version, icc_mk_ac, atc, un)


def issuer_authentication_data(
    version: CryptogramVersion,
    icc_mk_ac: bytes,
    arqc: bytes,
    atc: bytes,
    un: bytes = bytes(4),
    *,
    arc: bytes = b"00",
    csu: bytes | None = None,
    prop: bytes = b"",
) -> bytes:
    """Tag 91 value: ARPC||ARC for method 1, ARPC||CSU||prop for method 2."""
    key = _arpc_key(version, icc_mk_ac, atc, un)
    if version.arpc_method == 1:
        return arpc_method1(key, arqc, arc) + arc
    status = csu if csu is not None else make_csu(approved=arc in (b"00", b"10", b"11"))
    return arpc_method2(key, arqc, status, prop) + status + prop


def check_issuer_authentication_data(
    version: CryptogramVersion,
    icc_mk_ac: bytes,
    arqc: bytes,
    atc: bytes,
    un: bytes,
    iad91: bytes,
) -> bytes | None:
    """Card side of issuer authentication: returns the ARC (method 1) or the
    CSU (method 2) when the ARPC verifies, None otherwise. Never raises on
    malformed input coming from the terminal."""
    try:
        key = _arpc_key(version, icc_mk_ac, atc, un)
        if version.arpc_method == 1:
            if len(iad91) != 10:
                return None
            arpc, arc = iad91[:8], iad91[8:]
            return arc if arpc_method1(key, arqc, arc) == arpc else None
        if not 8 <= len(iad91) <= 16:
            return None
        arpc, csu, prop = iad91[:4], iad91[4:8], iad91[8:]
        return csu if arpc_method2(key, arqc, csu, prop) == arpc else None
    except CryptogramError:
        return None


def script_session_keys(
    version: CryptogramVersion, keys: IccMasterKeys, atc: bytes, ac: bytes
) -> tuple[bytes, bytes]:
    """(SMI, SMC) session keys for the scripts that follow cryptogram ``ac``."""
    if version.sm_key == "visa":
        return derive_visa_sm_session_key(keys.smi, atc), derive_visa_sm_session_key(keys.smc, atc)
    if len(ac) != 8:
        raise CryptogramError("the application cryptogram must be 8 bytes")
    return derive_common_session_key(keys.smi, ac), derive_common_session_key(keys.smc, ac)


def build_script_command(
    version: CryptogramVersion,
    keys: IccMasterKeys,
    atc: bytes,
    ac: bytes,
    header: bytes,
    data: bytes = b"",
    *,
    encipher: bool = False,
    mac_length: int = 8,
) -> bytes:
    """A complete issuer script C-APDU (9.2.1 format 2): CLA INS P1 P2 Lc
    data MAC, the MAC over header||Lc||ATC||AC||data. ``header`` is CLA INS P1 P2
    (CLA should carry the secure messaging bits, 84 or 04)."""
    if len(header) != 4:
        raise CryptogramError("script header is CLA INS P1 P2")
    smi, smc = script_session_keys(version, keys, atc, ac)
    body = encipher_script_data(smc, data, version.sm_cipher) if encipher else data
    lc = len(body) + mac_length
    if lc > 255:
        raise CryptogramError("script command too long")
    head = header + bytes([lc])
    return head + body + script_mac(smi, head + atc + ac + body, mac_length)


def pin_change_data(
    version: CryptogramVersion,
    keys: IccMasterKeys,
    new_pin: str,
    current_pin: str | None = None,
) -> bytes:
    """The plaintext PIN data of PIN CHANGE/UNBLOCK (before encipherment)."""
    if version.pin_block == "vis":
        return vis_pin_block(keys.ac, new_pin, current_pin)
    try:
        return pinblock.encode_iso2(new_pin)
    except pinblock.PinBlockError as exc:
        raise CryptogramError(str(exc)) from exc


class IssuerCrypto:
    """Issuer-side API for the host simulator: verify ARQCs, produce ARPCs
    (the value of tag 91) and MAC'd issuer script commands.

    ``data`` arguments map EMV tags to the values the terminal sent in field
    55 (the AC_DATA_TAGS plus 9F10 and, for the ARQC itself, 9F26)."""

    def __init__(self, keys: IssuerMasterKeys, version: CryptogramVersion) -> None:
        self.keys = keys
        self.version = version
        self._cache: dict[tuple[str, str], IccMasterKeys] = {}

    def icc_keys(self, pan: str, psn: str = "00") -> IccMasterKeys:
        cached = self._cache.get((pan, psn))
        if cached is None:
            cached = self.keys.derive(pan, psn)
            self._cache[(pan, psn)] = cached
        return cached

    def compute_ac(self, pan: str, psn: str, data: Mapping[int, bytes]) -> bytes:
        return generate_ac(self.version, self.icc_keys(pan, psn).ac, data)

    def verify_arqc(
        self, pan: str, psn: str, data: Mapping[int, bytes], arqc: bytes | None = None
    ) -> bool:
        """True when the cryptogram (``arqc`` or data[9F26]) matches."""
        claimed = arqc if arqc is not None else data.get(0x9F26)
        if claimed is None or len(claimed) != 8:
            return False
        try:
            return self.compute_ac(pan, psn, data) == claimed
        except CryptogramError:
            return False

    def make_arpc(
        self,
        pan: str,
        psn: str,
        data: Mapping[int, bytes],
        *,
        arc: bytes = b"00",
        csu: bytes | None = None,
        prop: bytes = b"",
    ) -> bytes:
        """Issuer Authentication Data (tag 91) answering data[9F26]."""
        arqc = _need(data, 0x9F26, 8)
        return issuer_authentication_data(
            self.version,
            self.icc_keys(pan, psn).ac,
            arqc,
            _need(data, 0x9F36, 2),
            data.get(0x9F37, bytes(4)),
            arc=arc,
            csu=csu,
            prop=prop,
        )

    def script_command(
        self,
        pan: str,
        psn: str,
        data: Mapping[int, bytes],
        header: bytes,
        payload: bytes = b"",
        *,
        encipher: bool = False,
        mac_length: int = 8,
    ) -> bytes:
        """One issuer script command bound to this transaction's ATC and ARQC."""
        return build_script_command(
            self.version,
            self.icc_keys(pan, psn),
            _need(data, 0x9F36, 2),
            _need(data, 0x9F26, 8),
            header,
            payload,
            encipher=encipher,
            mac_length=mac_length,
        )

    def pin_change_command(
        self,
        pan: str,
        psn: str,
        data: Mapping[int, bytes],
        new_pin: str,
        current_pin: str | None = None,
        *,
        mac_length: int = 8,
    ) -> bytes:
        """PIN CHANGE/UNBLOCK (84 24 00 01|02): P2=01 with the current PIN, 02 without."""
        keys = self.icc_keys(pan, psn)
        plain = pin_change_data(self.version, keys, new_pin, current_pin)
        p2 = 0x01 if current_pin is not None else 0x02
        return self.script_command(
            pan,
            psn,
            data,
            bytes([0x84, 0x24, 0x00, p2]),
            plain,
            encipher=True,
            mac_length=mac_length,
        )
