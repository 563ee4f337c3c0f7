"""A small test-only issuer: ICC master key derivation option A, the EMV common
session key, ARQC (ISO 9797-1 MAC algorithm 3, padding method 2) and ARPC method 1,
written from EMV Book 2 A1.3/A1.4/8.2.1 and checked against the kd1 vector of
tests/vectors/emv-symmetric-crypto.txt. It stands in for base.crypto.emv behind the
host simulator's CardAuthenticator interface."""

from __future__ import annotations

from collections.abc import Mapping

from base.crypto.des import adjust_odd_parity, mac_alg3, tdes_ecb_encrypt, xor
from simulators.host.issuer import ArqcCheck, IccData

# EMV Book 2 8.1.1: the minimum data recommended for the ARQC, in order.
ARQC_TAGS = (0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37, 0x82, 0x9F36)


def icc_master_key_option_a(imk: bytes, pan: str, psn: str | None) -> bytes:
    digits = (pan + (psn or "00"))[-16:].rjust(16, "0")
    y = bytes.fromhex(digits)
    left = tdes_ecb_encrypt(imk, y)
    right = tdes_ecb_encrypt(imk, xor(y, b"\xff" * 8))
    return adjust_odd_parity(left + right)


def common_session_key(mk: bytes, r: bytes) -> bytes:
    left = tdes_ecb_encrypt(mk, r[:2] + b"\xf0" + r[3:])
    right = tdes_ecb_encrypt(mk, r[:2] + b"\x0f" + r[3:])
    return adjust_odd_parity(left + right)


def arqc(sk: bytes, data: bytes) -> bytes:
    return mac_alg3(sk[:8], sk[8:], data, padding=2)


def arpc_method1(key: bytes, cryptogram: bytes, arc: bytes) -> bytes:
    return tdes_ecb_encrypt(key, xor(cryptogram, arc + bytes(6)))


def arqc_data(icc: IccData) -> bytes:
    return b"".join(icc.get(tag, b"") for tag in ARQC_TAGS)


def session_key_for(imk: bytes, pan: str, psn: str | None, atc: bytes) -> bytes:
    return common_session_key(icc_master_key_option_a(imk, pan, psn), atc + bytes(6))


class VectorAuthenticator:
    """CardAuthenticator over a PAN -> IMK-AC table."""

    def __init__(self, issuer_keys: Mapping[str, bytes]) -> None:
        self.issuer_keys = dict(issuer_keys)

    def check(self, pan: str, psn: str | None, icc: IccData) -> ArqcCheck | None:
        imk = self.issuer_keys.get(pan)
        if imk is None:
            return None
        cryptogram, atc = icc.get(0x9F26), icc.get(0x9F36)
        if cryptogram is None or atc is None or len(atc) != 2:
            return ArqcCheck(False, reason="ARQC or ATC missing")
        sk = session_key_for(imk, pan, psn, atc)
        if arqc(sk, arqc_data(icc)) != cryptogram:
            return ArqcCheck(False, reason="ARQC does not verify")

        def respond(code: str) -> bytes:
            arc = code.encode("ascii")
            return arpc_method1(sk, cryptogram, arc) + arc

        return ArqcCheck(True, respond)
