# Strategy: the key hierarchy of a terminal on an ISO 8583 link (ANSI X9.24-1
# master/session scheme). Two terminal master keys (TMK for the PIN key and
# TMK for the MAC key, the manual's `pkcv`/`mkcv`) encipher the working keys the
# host delivers in key exchange: the TPK, under which field 52 carries an ISO
# 9564-1 format-0 PIN block (TDES ECB), and the TAK, under which field 64/128
# carries the ISO 9797-1 algorithm 3 MAC. Keys are double-length TDES with odd
# parity; a delivered key is accepted only when its KCV (TDES of zeros, 3
# bytes) matches. Key objects never show key bytes in a repr, only KCVs.
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from acquirers.errors import KeyCheckError, MessageBuildError
from base.crypto import pinblock
from base.crypto.des import adjust_odd_parity, kcv_tdes, tdes_ecb_decrypt, tdes_ecb_encrypt

__all__ = [
    "MasterKeys",
    "WorkingKeys",
    "decipher_pin_block",
    "encipher_pin_block",
    "generate_key",
    "kcv",
    "unwrap_key",
    "wrap_key",
]

KEY_LENGTH = 16
KCV_LENGTH = 3


def _check_key(key: bytes, what: str) -> None:
    if len(key) != KEY_LENGTH:
        raise MessageBuildError(f"{what} must be a double-length TDES key")


def kcv(key: bytes) -> bytes:
    """3-byte key check value: TDES-encrypt eight zero bytes (X9.24-1)."""
    return kcv_tdes(key, KCV_LENGTH)


@dataclass(frozen=True, repr=False)
class MasterKeys:
    """Terminal master keys: ``pin`` enciphers the TPK, ``mac`` the TAK."""

    pin: bytes
    mac: bytes

    def __post_init__(self) -> None:
        _check_key(self.pin, "PIN master key")
        _check_key(self.mac, "MAC master key")

    def __repr__(self) -> str:
        pin, mac = kcv(self.pin).hex().upper(), kcv(self.mac).hex().upper()
        return f"MasterKeys(pin kcv {pin}, mac kcv {mac})"

    def for_type(self, key_type: str) -> bytes:
        if key_type == "pin":
            return self.pin
        if key_type == "mac":
            return self.mac
        raise MessageBuildError(f"unknown key type {key_type!r}")


@dataclass(frozen=True, repr=False)
class WorkingKeys:
    """Working keys in clear as the terminal's key store holds them."""

    tpk: bytes | None = None
    tak: bytes | None = None

    def __post_init__(self) -> None:
        if self.tpk is not None:
            _check_key(self.tpk, "TPK")
        if self.tak is not None:
            _check_key(self.tak, "TAK")

    def __repr__(self) -> str:
        def show(key: bytes | None) -> str:
            return "none" if key is None else "kcv " + kcv(key).hex().upper()

        return f"WorkingKeys(tpk {show(self.tpk)}, tak {show(self.tak)})"

    def replace(self, key_type: str, key: bytes) -> WorkingKeys:
        if key_type == "pin":
            return WorkingKeys(tpk=key, tak=self.tak)
        if key_type == "mac":
            return WorkingKeys(tpk=self.tpk, tak=key)
        raise MessageBuildError(f"unknown key type {key_type!r}")


def generate_key() -> bytes:
    """A fresh double-length TDES key with odd parity."""
    return adjust_odd_parity(secrets.token_bytes(KEY_LENGTH))


def wrap_key(kek: bytes, key: bytes) -> tuple[bytes, bytes]:
    """Encipher ``key`` under ``kek`` (TDES ECB); returns (cryptogram, KCV)."""
    _check_key(kek, "key-encrypting key")
    _check_key(key, "working key")
    return tdes_ecb_encrypt(kek, key), kcv(key)


def unwrap_key(kek: bytes, cryptogram: bytes, check_value: bytes) -> bytes:
    """Decipher a delivered key and accept it only if its KCV matches."""
    _check_key(kek, "key-encrypting key")
    if len(cryptogram) != KEY_LENGTH or len(check_value) != KCV_LENGTH:
        raise KeyCheckError("key exchange data has the wrong length")
    key = tdes_ecb_decrypt(kek, cryptogram)
    if not hmac.compare_digest(kcv(key), check_value):
        raise KeyCheckError("key check value of the delivered key does not match")
    return key


def encipher_pin_block(tpk: bytes, pin: str, pan: str) -> bytes:
    """Field 52: the ISO 9564-1 format-0 block of ``pin``/``pan`` under the TPK."""
    _check_key(tpk, "TPK")
    try:
        clear = pinblock.encode_iso0(pin, pan)
    except pinblock.PinBlockError as exc:
        raise MessageBuildError(f"cannot form the PIN block: {exc}") from None
    return tdes_ecb_encrypt(tpk, clear)


def decipher_pin_block(tpk: bytes, block: bytes, pan: str) -> str:
    """The PIN in a field-52 block; raises pinblock.PinBlockError when malformed."""
    _check_key(tpk, "TPK")
    if len(block) != 8:
        raise pinblock.PinBlockError("PIN block must be 8 bytes")
    return pinblock.decode_iso0(tdes_ecb_decrypt(tpk, block), pan)
