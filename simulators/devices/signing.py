# Strategy: the signed data formats of EMV 4.4 Book 2, produced card/issuer side.
# - Issuer public key certificate, format 02 (section 5.3, Table 6), signed by
#   the CA; the issuer modulus beyond N_CA - 36 bytes goes to the remainder (92).
# - ICC public key certificate, format 04 (6.4, Table 14), signed by the
#   issuer, hashing the static data to be authenticated; the ICC PIN
#   encipherment public key certificate (7.1, Table 23) has the same layout
#   without the static data in the hash.
# - Signed static application data, format 03 (5.4, Table 7) with the DAC.
# - Signed dynamic application data, format 05 (6.5, Table 17) for DDA and
#   CDA (6.6, Table 19: ICC dynamic data = IDN length, IDN, CID, AC, hash of
#   the transaction data).
# Every block is 6A || format ... || SHA-1 || BC, enciphered with raw RSA.
# The static data to be authenticated follows Book 3 section 10.3.
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from base import tlv
from simulators.devices.rsa import RsaError, RsaPrivateKey, RsaPublicKey

__all__ = [
    "cda_dynamic_data",
    "dda_dynamic_data",
    "icc_certificate",
    "issuer_certificate",
    "issuer_identifier",
    "pan_field",
    "sign_dynamic_data",
    "sign_static_data",
    "static_data_to_authenticate",
]

HASH_SHA1 = 0x01
PK_RSA = 0x01


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()  # noqa: S324 - SHA-1 is Book 2's hash algorithm 01


def _sign(key: RsaPrivateKey, body: bytes, extra: bytes) -> bytes:
    """6A || body || SHA-1(body || extra) || BC, then the private operation."""
    block = b"\x6a" + body + _sha1(body + extra) + b"\xbc"
    if len(block) != key.size:
        raise RsaError(f"signed block is {len(block)} bytes, key is {key.size}")
    return key.apply(block)


def issuer_identifier(pan: str, digits: int = 6) -> bytes:
    """Leftmost 3-8 PAN digits, right-padded with F to 4 bytes (Table 6)."""
    return bytes.fromhex(pan[:digits].ljust(8, "F"))


def pan_field(pan: str) -> bytes:
    """The PAN right-padded with F to 10 bytes (Table 14)."""
    return bytes.fromhex(pan.ljust(20, "F"))


def _split_key(key: RsaPublicKey, room: int) -> tuple[bytes, bytes]:
    modulus = key.modulus_bytes
    if len(modulus) <= room:
        return modulus + b"\xbb" * (room - len(modulus)), b""
    return modulus[:room], modulus[room:]


def issuer_certificate(
    ca: RsaPrivateKey,
    issuer: RsaPublicKey,
    *,
    issuer_id: bytes,
    expiry_mmyy: bytes,
    serial: bytes,
) -> tuple[bytes, bytes]:
    """(certificate 90, remainder 92) for an issuer key, format 02."""
    if len(issuer_id) != 4 or len(expiry_mmyy) != 2 or len(serial) != 3:
        raise ValueError("issuer id 4, expiry 2, serial 3 bytes")
    leftmost, remainder = _split_key(issuer, ca.size - 36)
    body = (
        b"\x02"
        + issuer_id
        + expiry_mmyy
        + serial
        + bytes([HASH_SHA1, PK_RSA, issuer.size, len(issuer.exponent_bytes)])
        + leftmost
    )
    return _sign(ca, body, remainder + issuer.exponent_bytes), remainder


def icc_certificate(
    issuer: RsaPrivateKey,
    icc: RsaPublicKey,
    *,
    pan: bytes,
    expiry_mmyy: bytes,
    serial: bytes,
    static_data: bytes | None,
) -> tuple[bytes, bytes]:
    """(certificate, remainder), format 04. ``static_data=None`` makes an ICC PIN
    encipherment key certificate (9F2D/9F2F), whose hash omits static data."""
    if len(pan) != 10 or len(expiry_mmyy) != 2 or len(serial) != 3:
        raise ValueError("PAN 10, expiry 2, serial 3 bytes")
    leftmost, remainder = _split_key(icc, issuer.size - 42)
    body = (
        b"\x04"
        + pan
        + expiry_mmyy
        + serial
        + bytes([HASH_SHA1, PK_RSA, icc.size, len(icc.exponent_bytes)])
        + leftmost
    )
    extra = remainder + icc.exponent_bytes + (static_data or b"")
    return _sign(issuer, body, extra), remainder


def sign_static_data(issuer: RsaPrivateKey, dac: bytes, static_data: bytes) -> bytes:
    """Signed Static Application Data (93), format 03."""
    if len(dac) != 2:
        raise ValueError("the DAC is 2 bytes")
    body = b"\x03" + bytes([HASH_SHA1]) + dac + b"\xbb" * (issuer.size - 26)
    return _sign(issuer, body, static_data)


def dda_dynamic_data(idn: bytes) -> bytes:
    """ICC Dynamic Data for DDA: IDN length || IDN (Table 17 note)."""
    if not 2 <= len(idn) <= 8:
        raise ValueError("the ICC dynamic number is 2-8 bytes")
    return bytes([len(idn)]) + idn


def cda_dynamic_data(idn: bytes, cid: int, ac: bytes, transaction_hash: bytes) -> bytes:
    """ICC Dynamic Data for CDA (Table 19)."""
    return dda_dynamic_data(idn) + bytes([cid]) + ac + transaction_hash


def sign_dynamic_data(icc: RsaPrivateKey, icc_dynamic_data: bytes, terminal_data: bytes) -> bytes:
    """Signed Dynamic Application Data (9F4B), format 05, over the terminal's
    dynamic data (DDOL data for DDA, the unpredictable number for CDA)."""
    length = len(icc_dynamic_data)
    pad = icc.size - length - 25
    if pad < 0:
        raise RsaError("ICC dynamic data does not fit the ICC key")
    body = b"\x05" + bytes([HASH_SHA1, length]) + icc_dynamic_data + b"\xbb" * pad
    return _sign(icc, body, terminal_data)


def static_data_to_authenticate(
    records: Mapping[int, Sequence[bytes]], afl: bytes, aip: bytes, sda_tag_list: bytes | None
) -> bytes:
    """Book 3 10.3: records named by the AFL's ODA counts (SFI 1-10 without the
    70 tag and length, SFI 11-30 whole), then the AIP if 9F4A lists 82."""
    if len(afl) % 4:
        raise ValueError("AFL length is not a multiple of 4")
    out = bytearray()
    for i in range(0, len(afl), 4):
        sfi, first, last, oda = afl[i] >> 3, afl[i + 1], afl[i + 2], afl[i + 3]
        for number in range(first, first + oda):
            if number > last:
                raise ValueError("AFL ODA count exceeds its record range")
            record = records[sfi][number - 1]
            if sfi <= 10:
                objs = tlv.decode(record)
                if len(objs) != 1 or objs[0].tag != 0x70:
                    raise ValueError(f"SFI {sfi} record {number} is not a 70 template")
                out += objs[0].value
            else:
                out += record
    if sda_tag_list is not None:
        if sda_tag_list != b"\x82":
            raise ValueError("the SDA tag list may only name the AIP")
        out += aip
    return bytes(out)
