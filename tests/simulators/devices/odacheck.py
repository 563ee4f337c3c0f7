"""An independent EMV Book 2 recovery check for the tests (pow() and hashlib only).

It deliberately shares no code with simulators.devices.signing (which produces the data)
or with the kernel's ODA (written elsewhere): certificate recovery per Book 2
5.3 / 6.4 / 7.1, SSAD per 5.4, SDAD per 6.5 / 6.6.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


class OdaCheckError(AssertionError):
    pass


def sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()


def recover(modulus: bytes, exponent: bytes, data: bytes) -> bytes:
    if len(data) != len(modulus):
        raise OdaCheckError(f"signed data is {len(data)} bytes, key {len(modulus)}")
    n = int.from_bytes(modulus, "big")
    value = pow(int.from_bytes(data, "big"), int.from_bytes(exponent, "big"), n)
    out = value.to_bytes(len(modulus), "big")
    if out[0] != 0x6A or out[-1] != 0xBC:
        raise OdaCheckError("recovered data has no 6A header / BC trailer")
    return out


@dataclass(frozen=True)
class Key:
    modulus: bytes
    exponent: bytes


def _key_from(recovered: bytes, fixed: int, remainder: bytes, exponent: bytes) -> Key:
    n_ca = len(recovered)
    length = recovered[fixed - 2]
    room = n_ca - (fixed + 21)
    leftmost = recovered[fixed : fixed + room]
    if length <= room:
        if leftmost[length:] != b"\xbb" * (room - length):
            raise OdaCheckError("key padding is not BB")
        return Key(leftmost[:length], exponent)
    if len(remainder) != length - room:
        raise OdaCheckError("remainder length does not complete the modulus")
    return Key(leftmost + remainder, exponent)


def issuer_key(
    ca: Key, cert: bytes, remainder: bytes, exponent: bytes, pan: str
) -> tuple[Key, bytes]:
    """Book 2 5.3: returns the issuer key and the MMYY expiry."""
    r = recover(ca.modulus, ca.exponent, cert)
    if r[1] != 0x02:
        raise OdaCheckError("issuer certificate format is not 02")
    if sha1(r[1:-21] + remainder + exponent) != r[-21:-1]:
        raise OdaCheckError("issuer certificate hash mismatch")
    issuer_id = r[2:6].hex().upper().rstrip("F")
    if not 3 <= len(issuer_id) <= 8 or not pan.startswith(issuer_id):
        raise OdaCheckError("issuer identifier does not match the PAN")
    if r[11] != 0x01 or r[12] != 0x01:
        raise OdaCheckError("unknown hash or public key algorithm")
    if r[14] != len(exponent):
        raise OdaCheckError("issuer exponent length mismatch")
    return _key_from(r, 15, remainder, exponent), r[6:8]


def icc_key(
    issuer: Key,
    cert: bytes,
    remainder: bytes,
    exponent: bytes,
    pan: str,
    static_data: bytes | None,
) -> tuple[Key, bytes]:
    """Book 2 6.4 (and 7.1 with static_data=None): the ICC key and MMYY expiry."""
    r = recover(issuer.modulus, issuer.exponent, cert)
    if r[1] != 0x04:
        raise OdaCheckError("ICC certificate format is not 04")
    extra = remainder + exponent + (static_data or b"")
    if sha1(r[1:-21] + extra) != r[-21:-1]:
        raise OdaCheckError("ICC certificate hash mismatch")
    if r[2:12].hex().upper().rstrip("F") != pan:
        raise OdaCheckError("ICC certificate PAN mismatch")
    if r[17] != 0x01 or r[18] != 0x01 or r[20] != len(exponent):
        raise OdaCheckError("ICC certificate algorithm / exponent length")
    return _key_from(r, 21, remainder, exponent), r[12:14]


def ssad_dac(issuer: Key, ssad: bytes, static_data: bytes) -> bytes:
    """Book 2 5.4: returns the Data Authentication Code."""
    r = recover(issuer.modulus, issuer.exponent, ssad)
    if r[1] != 0x03 or r[2] != 0x01:
        raise OdaCheckError("SSAD format / hash algorithm")
    if r[5:-21] != b"\xbb" * (len(r) - 26):
        raise OdaCheckError("SSAD pad pattern")
    if sha1(r[1:-21] + static_data) != r[-21:-1]:
        raise OdaCheckError("SSAD hash mismatch")
    return r[3:5]


def sdad_dynamic_data(icc: Key, sdad: bytes, terminal_data: bytes) -> bytes:
    """Book 2 6.5 / 6.6: returns the ICC dynamic data."""
    r = recover(icc.modulus, icc.exponent, sdad)
    if r[1] != 0x05 or r[2] != 0x01:
        raise OdaCheckError("SDAD format / hash algorithm")
    length = r[3]
    if 4 + length > len(r) - 21 or r[4 + length : -21] != b"\xbb" * (len(r) - 25 - length):
        raise OdaCheckError("SDAD pad pattern")
    if sha1(r[1:-21] + terminal_data) != r[-21:-1]:
        raise OdaCheckError("SDAD hash mismatch")
    return r[4 : 4 + length]


def key_checksum(rid: str, index: str, key: Key) -> str:
    """Book 2 11.2.2 CA key checksum."""
    return sha1(bytes.fromhex(rid + index) + key.modulus + key.exponent).hex().upper()


def static_data(records: dict[int, list[bytes]], afl: bytes, aip: bytes, tag_list: bytes) -> bytes:
    """Book 3 10.3, written independently of the generator's version."""
    out = b""
    for i in range(0, len(afl), 4):
        sfi, first, count = afl[i] >> 3, afl[i + 1], afl[i + 3]
        for number in range(first, first + count):
            record = records[sfi][number - 1]
            if sfi <= 10:
                assert record[0] == 0x70
                header = 3 if record[1] == 0x81 else 2
                out += record[header:]
            else:
                out += record
    if tag_list == b"\x82":
        out += aip
    return out
