# Strategy: offline data authentication cryptography of EMV 4.3 Book 2,
# as pure functions on plain bytes (public API; external tests call it):
# - recover_issuer_key: Book 2 5.3 / 6.3, Table 6 (issuer PK certificate '90'
#   under the CA key) - every step: length, trailer 'BC', header '6A', format
#   '02', hash over format..exponent, issuer identifier vs PAN, expiry,
#   revocation, public key algorithm, remainder handling;
# - recover_icc_key: Book 2 6.4, Table 14 (ICC PK certificate '9F46' under the
#   issuer key; hash also covers the static data to be authenticated), and
#   recover_icc_pin_key for the ICC PIN Encipherment certificate '9F2D'
#   (Book 2 7.1, Table 22: same layout, no static data);
# - verify_sda: Book 2 5.4, Table 7 (SSAD '93') -> Data Authentication Code;
# - verify_dda: Book 2 6.5.2, Table 17 (SDAD '9F4B' over the DDOL data)
#   -> ICC Dynamic Number;
# - verify_cda: Book 2 6.6.2, Tables 17/19 (SDAD in the GENERATE AC response,
#   hash over the Unpredictable Number, CID check, Transaction Data Hash Code
#   over PDOL data || CDOL1 data [|| CDOL2 data] || response TLVs without '9F4B').
# Each failure raises OdaCheckError with an OdaFailure reason and never
# includes a PAN or key in its message. Hash algorithm '01' (SHA-1) and
# public key algorithm '01' (RSA) are the only ones Book 2 defines for RSA.
from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from base import tlv
from base.crypto.rsa import RsaError, RsaPublicKey, rsa_public
from kernel.errors import OdaError
from kernel.values import expiry_passed

__all__ = [
    "HASH_SHA1",
    "PK_RSA",
    "CdaResult",
    "DynamicSignature",
    "IccCertificate",
    "IccPublicKey",
    "IssuerCertificate",
    "IssuerPublicKey",
    "OdaCheckError",
    "OdaFailure",
    "cda_transaction_data",
    "open_icc_certificate",
    "open_issuer_certificate",
    "recover_dynamic_signature",
    "recover_icc_key",
    "recover_icc_pin_key",
    "recover_issuer_key",
    "static_data_to_authenticate",
    "strip_sdad",
    "verify_cda",
    "verify_dda",
    "verify_sda",
]

HASH_SHA1 = 0x01
PK_RSA = 0x01
HEADER = 0x6A
TRAILER = 0xBC
FORMAT_ISSUER = 0x02
FORMAT_SSAD = 0x03
FORMAT_ICC = 0x04
FORMAT_SDAD = 0x05


class OdaFailure(enum.Enum):
    CA_KEY_NOT_FOUND = "CA public key not found"
    DATA_MISSING = "data needed for ODA is missing"
    LENGTH = "length differs from the key modulus"
    RECOVERY = "RSA recovery failed"
    TRAILER = "recovered data trailer is not BC"
    HEADER = "recovered data header is not 6A"
    FORMAT = "certificate or signature format wrong"
    HASH_ALGORITHM = "hash algorithm not recognised"
    PK_ALGORITHM = "public key algorithm not recognised"
    HASH = "hash result does not match"
    ISSUER_ID = "issuer identifier does not match the PAN"
    PAN = "certificate PAN does not match the PAN"
    EXPIRED = "certificate expired"
    REVOKED = "certificate revoked"
    REMAINDER = "public key remainder missing or of wrong length"
    EXPONENT = "public key exponent length wrong"
    KEY_LENGTH = "public key length field inconsistent"
    DYNAMIC_DATA = "ICC dynamic data malformed"
    CID = "CID in the signature differs from the response"
    TRANSACTION_HASH = "transaction data hash code does not match"
    DDOL = "DDOL does not contain the Unpredictable Number"
    STATIC_DATA = "static data to be authenticated malformed"


class OdaCheckError(OdaError):
    """An offline data authentication check failed; `reason` says which."""

    def __init__(self, reason: OdaFailure, detail: str = "") -> None:
        super().__init__(f"{reason.value}{': ' + detail if detail else ''}")
        self.reason = reason


def _fail(reason: OdaFailure, detail: str = "") -> OdaCheckError:
    return OdaCheckError(reason, detail)


def _sha1(*parts: bytes) -> bytes:
    h = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        h.update(part)
    return h.digest()


def _recover(key: RsaPublicKey, data: bytes, fmt: int) -> bytes:
    """Steps 1-4 common to every Book 2 recovery: length, RSA, trailer, header, format."""
    if len(data) != key.size:
        raise _fail(OdaFailure.LENGTH, f"{len(data)} bytes for a {key.size}-byte key")
    try:
        x = rsa_public(key, data)
    except RsaError as exc:
        raise _fail(OdaFailure.RECOVERY, str(exc)) from exc
    if x[-1] != TRAILER:
        raise _fail(OdaFailure.TRAILER)
    if x[0] != HEADER:
        raise _fail(OdaFailure.HEADER)
    if x[1] != fmt:
        raise _fail(OdaFailure.FORMAT, f"{x[1]:02X} instead of {fmt:02X}")
    return x


def _check_hash(algorithm: int, data: bytes, expected: bytes) -> None:
    if algorithm != HASH_SHA1:
        raise _fail(OdaFailure.HASH_ALGORITHM, f"{algorithm:02X}")
    if _sha1(data) != expected:
        raise _fail(OdaFailure.HASH)


def _pan_digits(pan: bytes) -> str:
    return pan.hex().upper().rstrip("F")


# --- issuer public key (Book 2 5.3, Table 6) ---------------------------------


@dataclass(frozen=True, slots=True)
class IssuerPublicKey(RsaPublicKey):
    issuer_id: bytes = b""
    expiry: bytes = b""  # MMYY
    serial: bytes = b""


@dataclass(frozen=True, slots=True)
class IssuerCertificate:
    """Recovered issuer PK certificate after steps 1-4 (not yet verified)."""

    recovered: bytes
    issuer_id: bytes
    expiry: bytes
    serial: bytes
    hash_algorithm: int
    pk_algorithm: int
    pk_length: int
    exponent_length: int
    pk_field: bytes
    hash_result: bytes

    def modulus(self, remainder: bytes | None) -> bytes:
        return _modulus(self.pk_field, self.pk_length, remainder)

    def hashed_data(self, remainder: bytes | None, exponent: bytes) -> bytes:
        return self.recovered[1:-21] + (remainder or b"") + exponent


def _modulus(field: bytes, length: int, remainder: bytes | None) -> bytes:
    """Book 2 5.3 step 12: leftmost digits (+ remainder), or the key padded with 'BB'."""
    if length <= len(field):
        return field[:length]
    need = length - len(field)
    if remainder is None or len(remainder) != need:
        got = "absent" if remainder is None else f"{len(remainder)} bytes"
        raise _fail(OdaFailure.REMAINDER, f"needs {need} bytes, {got}")
    return field + remainder


def open_issuer_certificate(ca_key: RsaPublicKey, certificate: bytes) -> IssuerCertificate:
    """Steps 1-4 of Book 2 5.3: recover '90' with the CA key and split Table 6."""
    x = _recover(ca_key, certificate, FORMAT_ISSUER)
    n = ca_key.size
    return IssuerCertificate(
        recovered=x,
        issuer_id=x[2:6],
        expiry=x[6:8],
        serial=x[8:11],
        hash_algorithm=x[11],
        pk_algorithm=x[12],
        pk_length=x[13],
        exponent_length=x[14],
        pk_field=x[15 : n - 21],
        hash_result=x[n - 21 : n - 1],
    )


def recover_issuer_key(
    ca_key: RsaPublicKey,
    certificate: bytes,
    *,
    exponent: bytes,
    remainder: bytes | None,
    pan: bytes,
    today: dt.date,
    is_revoked: Callable[[bytes], bool] | None = None,
) -> IssuerPublicKey:
    """Recover and verify the Issuer Public Key (Book 2 5.3 steps 1-12).

    `certificate` is tag '90', `exponent` '9F32', `remainder` '92' (None when
    absent), `pan` the value of '5A'. `is_revoked(serial)` checks the
    certificate serial number against the terminal's revocation list.
    """
    cert = open_issuer_certificate(ca_key, certificate)
    if cert.exponent_length != len(exponent):
        raise _fail(OdaFailure.EXPONENT)
    if cert.pk_length < 1:
        raise _fail(OdaFailure.KEY_LENGTH)
    if cert.pk_length > len(cert.pk_field) and remainder is None:
        raise _fail(OdaFailure.REMAINDER, "issuer public key remainder absent")
    # Steps 5-7: hash over format .. public key field || remainder || exponent.
    _check_hash(cert.hash_algorithm, cert.hashed_data(remainder, exponent), cert.hash_result)
    # Step 8: leftmost 3-8 digits of the PAN, padded with 'F'.
    issuer_digits = cert.issuer_id.hex().upper().rstrip("F")
    if not (3 <= len(issuer_digits) <= 8 and issuer_digits.isdigit()):
        raise _fail(OdaFailure.ISSUER_ID, "malformed issuer identifier")
    if not _pan_digits(pan).startswith(issuer_digits):
        raise _fail(OdaFailure.ISSUER_ID)
    # Step 9: valid through the last day of the MMYY month.
    if expiry_passed(cert.expiry, today):
        raise _fail(OdaFailure.EXPIRED, f"issuer certificate {cert.expiry.hex()}")
    # Step 10: RID, CA index and serial number not on the revocation list.
    if is_revoked is not None and is_revoked(cert.serial):
        raise _fail(OdaFailure.REVOKED)
    # Step 11.
    if cert.pk_algorithm != PK_RSA:
        raise _fail(OdaFailure.PK_ALGORITHM, f"{cert.pk_algorithm:02X}")
    # Step 12.
    modulus = cert.modulus(remainder)
    return IssuerPublicKey(modulus, exponent, cert.issuer_id, cert.expiry, cert.serial)


# --- ICC public keys (Book 2 6.4, Table 14; 7.1, Table 22) --------------------


@dataclass(frozen=True, slots=True)
class IccPublicKey(RsaPublicKey):
    pan: bytes = b""  # as recovered: 10 bytes cn, F-padded
    expiry: bytes = b""  # MMYY
    serial: bytes = b""


@dataclass(frozen=True, slots=True)
class IccCertificate:
    recovered: bytes
    pan: bytes
    expiry: bytes
    serial: bytes
    hash_algorithm: int
    pk_algorithm: int
    pk_length: int
    exponent_length: int
    pk_field: bytes
    hash_result: bytes

    def modulus(self, remainder: bytes | None) -> bytes:
        return _modulus(self.pk_field, self.pk_length, remainder)

    def hashed_data(self, remainder: bytes | None, exponent: bytes, static_data: bytes) -> bytes:
        return self.recovered[1:-21] + (remainder or b"") + exponent + static_data


def open_icc_certificate(issuer_key: RsaPublicKey, certificate: bytes) -> IccCertificate:
    """Steps 1-4 of Book 2 6.4: recover '9F46' (or '9F2D') and split Table 14."""
    x = _recover(issuer_key, certificate, FORMAT_ICC)
    n = issuer_key.size
    return IccCertificate(
        recovered=x,
        pan=x[2:12],
        expiry=x[12:14],
        serial=x[14:17],
        hash_algorithm=x[17],
        pk_algorithm=x[18],
        pk_length=x[19],
        exponent_length=x[20],
        pk_field=x[21 : n - 21],
        hash_result=x[n - 21 : n - 1],
    )


def _recover_icc(
    issuer_key: RsaPublicKey,
    certificate: bytes,
    exponent: bytes,
    remainder: bytes | None,
    pan: bytes,
    static_data: bytes,
    today: dt.date,
) -> IccPublicKey:
    cert = open_icc_certificate(issuer_key, certificate)
    if cert.exponent_length != len(exponent):
        raise _fail(OdaFailure.EXPONENT)
    if cert.pk_length < 1:
        raise _fail(OdaFailure.KEY_LENGTH)
    if cert.pk_length > len(cert.pk_field) and remainder is None:
        raise _fail(OdaFailure.REMAINDER, "ICC public key remainder absent")
    _check_hash(
        cert.hash_algorithm, cert.hashed_data(remainder, exponent, static_data), cert.hash_result
    )
    # Step 8: recovered PAN (cn, F-padded to 10 bytes) equals the card's '5A'.
    if _pan_digits(cert.pan) != _pan_digits(pan) or not _pan_digits(pan):
        raise _fail(OdaFailure.PAN)
    if expiry_passed(cert.expiry, today):
        raise _fail(OdaFailure.EXPIRED, f"ICC certificate {cert.expiry.hex()}")
    if cert.pk_algorithm != PK_RSA:
        raise _fail(OdaFailure.PK_ALGORITHM, f"{cert.pk_algorithm:02X}")
    return IccPublicKey(cert.modulus(remainder), exponent, cert.pan, cert.expiry, cert.serial)


def recover_icc_key(
    issuer_key: RsaPublicKey,
    certificate: bytes,
    *,
    exponent: bytes,
    remainder: bytes | None,
    pan: bytes,
    static_data: bytes,
    today: dt.date,
) -> IccPublicKey:
    """Recover and verify the ICC Public Key (Book 2 6.4 steps 1-11).

    `certificate` is '9F46', `exponent` '9F47', `remainder` '9F48' (None when
    absent), `pan` the value of '5A', `static_data` the Static Data to be
    Authenticated (see static_data_to_authenticate).
    """
    return _recover_icc(issuer_key, certificate, exponent, remainder, pan, static_data, today)


def recover_icc_pin_key(
    issuer_key: RsaPublicKey,
    certificate: bytes,
    *,
    exponent: bytes,
    remainder: bytes | None,
    pan: bytes,
    today: dt.date,
) -> IccPublicKey:
    """Recover the ICC PIN Encipherment Public Key ('9F2D', '9F2E', '9F2F'; Book 2 7.1)."""
    return _recover_icc(issuer_key, certificate, exponent, remainder, pan, b"", today)


# --- SDA (Book 2 5.4, Table 7) ---------------------------------------------------


def verify_sda(issuer_key: RsaPublicKey, ssad: bytes, static_data: bytes) -> bytes:
    """Verify Signed Static Application Data '93'; returns the Data Authentication Code."""
    x = _recover(issuer_key, ssad, FORMAT_SSAD)
    n = issuer_key.size
    _check_hash(x[2], x[1 : n - 21] + static_data, x[n - 21 : n - 1])
    return x[3:5]


def static_data_to_authenticate(
    records: Iterable[tuple[int, bytes]], aip: bytes, sda_tag_list: bytes | None
) -> bytes:
    """Static Data to be Authenticated (Book 3 10.3).

    `records` are (SFI, record as read) for the records the AFL marks for ODA:
    for SFI 1-10 the value inside template '70' is used (a record not coded as
    '70' makes ODA fail), for SFI 11-30 the whole record. The Static Data
    Authentication Tag List '9F4A' may only name '82' (the AIP), whose value
    is then appended.
    """
    out = bytearray()
    for sfi, record in records:
        if sfi <= 10:
            try:
                objects = tlv.decode(record)
            except tlv.TlvError as exc:
                raise _fail(OdaFailure.STATIC_DATA, f"SFI {sfi} record: {exc}") from exc
            if len(objects) != 1 or objects[0].tag != 0x70:
                raise _fail(OdaFailure.STATIC_DATA, f"SFI {sfi} record not coded as '70'")
            out += objects[0].value
        else:
            out += record
    if sda_tag_list:
        try:
            tags = tlv.decode_tag_list(sda_tag_list)
        except tlv.TlvError as exc:
            raise _fail(OdaFailure.STATIC_DATA, "malformed '9F4A'") from exc
        if tags != [0x82]:
            raise _fail(OdaFailure.STATIC_DATA, "'9F4A' may only contain '82'")
        out += aip
    return bytes(out)


# --- DDA / CDA (Book 2 6.5, 6.6, Tables 17-19) --------------------------------------


@dataclass(frozen=True, slots=True)
class DynamicSignature:
    """Recovered Signed Dynamic Application Data (Table 17), steps 1-4 done."""

    recovered: bytes
    hash_algorithm: int
    dynamic_data: bytes
    hash_result: bytes

    @property
    def idn(self) -> bytes:
        """ICC Dynamic Number: the first field of the ICC Dynamic Data (Table 18/19)."""
        if not self.dynamic_data:
            raise _fail(OdaFailure.DYNAMIC_DATA, "empty ICC dynamic data")
        length = self.dynamic_data[0]
        if not 2 <= length <= 8 or len(self.dynamic_data) < 1 + length:
            raise _fail(OdaFailure.DYNAMIC_DATA, "ICC dynamic number length")
        return self.dynamic_data[1 : 1 + length]

    def hashed_data(self, terminal_data: bytes) -> bytes:
        return self.recovered[1:-21] + terminal_data


def recover_dynamic_signature(icc_key: RsaPublicKey, sdad: bytes) -> DynamicSignature:
    x = _recover(icc_key, sdad, FORMAT_SDAD)
    n = icc_key.size
    ldd = x[3]
    if ldd > n - 25:
        raise _fail(OdaFailure.DYNAMIC_DATA, "ICC dynamic data length exceeds the signature")
    return DynamicSignature(x, x[2], x[4 : 4 + ldd], x[n - 21 : n - 1])


def verify_dda(icc_key: RsaPublicKey, sdad: bytes, ddol_data: bytes) -> bytes:
    """Verify the SDAD of INTERNAL AUTHENTICATE (Book 2 6.5.2); returns the ICC Dynamic Number.

    `ddol_data` is the data field the terminal sent (the DDOL-related data).
    """
    sig = recover_dynamic_signature(icc_key, sdad)
    _check_hash(sig.hash_algorithm, sig.hashed_data(ddol_data), sig.hash_result)
    return sig.idn


@dataclass(frozen=True, slots=True)
class CdaResult:
    idn: bytes
    cid: int
    ac: bytes
    transaction_data_hash: bytes


def verify_cda(
    icc_key: RsaPublicKey,
    sdad: bytes,
    *,
    unpredictable_number: bytes,
    cid: int,
    transaction_data: bytes,
) -> CdaResult:
    """Verify a CDA signature from GENERATE AC (Book 2 6.6.2 steps 1-9).

    `unpredictable_number` is the terminal's '9F37' sent in the CDOL data,
    `cid` the '9F27' of the response, `transaction_data` the concatenation
    built by cda_transaction_data. Returns the IDN and the Application
    Cryptogram carried inside the signature (Table 19).
    """
    sig = recover_dynamic_signature(icc_key, sdad)
    dyn = sig.dynamic_data
    idn = sig.idn
    rest = dyn[1 + len(idn) :]
    if len(rest) < 29:
        raise _fail(OdaFailure.DYNAMIC_DATA, "CDA dynamic data too short")
    signed_cid, ac, tdhc = rest[0], rest[1:9], rest[9:29]
    if signed_cid != cid:
        raise _fail(OdaFailure.CID)
    _check_hash(sig.hash_algorithm, sig.hashed_data(unpredictable_number), sig.hash_result)
    if _sha1(transaction_data) != tdhc:
        raise _fail(OdaFailure.TRANSACTION_HASH)
    return CdaResult(idn, signed_cid, ac, tdhc)


def strip_sdad(response_template_value: bytes) -> bytes:
    """Response objects as received, without '9F4B' (Book 2 6.6.2 step 9)."""
    return b"".join(raw for obj, raw in tlv.iter_raw(response_template_value) if obj.tag != 0x9F4B)


def cda_transaction_data(
    pdol_data: bytes,
    cdol1_data: bytes,
    response_template_value: bytes,
    cdol2_data: bytes | None = None,
) -> bytes:
    """Input of the Transaction Data Hash Code (Book 2 6.6.2 step 9).

    PDOL data as sent in GET PROCESSING OPTIONS (without '83' and length),
    CDOL1 data, for the second GENERATE AC also CDOL2 data, then the response
    template's objects in the order returned, excluding the SDAD.
    """
    return pdol_data + cdol1_data + (cdol2_data or b"") + strip_sdad(response_template_value)
