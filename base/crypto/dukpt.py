# Strategy: Derived Unique Key Per Transaction, both generations.
# - TDES DUKPT, ANSI X9.24-1:2009 Annex A: a 10-byte KSN (59-bit initial key
#   serial number || 21-bit transaction counter); the initial PIN encryption
#   key (IPEK) comes from the BDK and the KSN with its counter cleared; each
#   set counter bit, most significant first, applies the non-reversible key
#   generation process (A.2) to the key and the KSN register. Working keys
#   are variants of the transaction key (PIN, MAC request, MAC response).
#   An originator never uses counters with more than 10 one-bits (A.2,
#   "future keys"); a receiver derives whatever counter it is sent.
# - AES DUKPT, ANSI X9.24-3:2017 section 6: a 12-byte KSN (8-byte initial key
#   ID || 32-bit counter); every key is AES-ECB(parent, derivation data), the
#   16-byte derivation data being 01 | block counter | key usage | algorithm
#   | key length in bits | 8 bytes (IKID for the initial key, IKID[4:8] ||
#   counter otherwise). Originators skip counters with more than 16 one-bits.
# - ISO 9564-1 format 4 (AES PIN block) encipherment, which AES DUKPT PIN
#   keys are used with.
# Both sides use this module: the PIN pad (originator, which keeps only the
# initial key here: a certified pad keeps the future-key registers instead and
# erases the IK) and the host simulator (receiver, from the BDK).
from __future__ import annotations

import os
from dataclasses import dataclass
from enum import IntEnum

from base.crypto.des import aes_ecb_encrypt, tdes_ecb_encrypt, xor

__all__ = [
    "AesKeyType",
    "AesKeyUsage",
    "DukptError",
    "DukptOriginator",
    "aes_initial_key",
    "aes_transaction_key",
    "aes_working_key",
    "decipher_iso4",
    "encipher_iso4",
    "next_counter",
    "tdes_ipek",
    "tdes_mac_request_key",
    "tdes_mac_response_key",
    "tdes_pin_key",
    "tdes_transaction_key",
]


class DukptError(ValueError):
    """Malformed KSN, key or counter."""


_C0 = bytes.fromhex("C0C0C0C000000000C0C0C0C000000000")
TDES_COUNTER_BITS = 21
TDES_MAX_ONES = 10
AES_MAX_ONES = 16


def next_counter(counter: int, *, aes: bool = False) -> int:
    """The next usable transaction counter after ``counter`` (X9.24-1 A.2 /
    X9.24-3 6.3): counters with too many one-bits are skipped by adding their
    lowest set bit."""
    limit = AES_MAX_ONES if aes else TDES_MAX_ONES
    top = (1 << 32) if aes else (1 << TDES_COUNTER_BITS)
    nxt = counter + 1
    while nxt < top and nxt.bit_count() > limit:
        nxt += nxt & -nxt
    if nxt >= top:
        raise DukptError("transaction counter exhausted; the device needs a new initial key")
    return nxt


# --- TDES DUKPT (X9.24-1:2009) ------------------------------------------------


def _check_tdes(bdk_or_key: bytes, ksn: bytes) -> None:
    if len(bdk_or_key) != 16:
        raise DukptError("TDES DUKPT keys are 16 bytes (double length)")
    if len(ksn) != 10:
        raise DukptError("TDES DUKPT KSN is 10 bytes")


def _tdes_counter(ksn: bytes) -> int:
    return int.from_bytes(ksn[-3:], "big") & ((1 << TDES_COUNTER_BITS) - 1)


def tdes_ipek(bdk: bytes, ksn: bytes) -> bytes:
    """The initial key (IPEK) of the device whose KSN is ``ksn`` (A.6)."""
    _check_tdes(bdk, ksn)
    base = int.from_bytes(ksn, "big") & ~((1 << TDES_COUNTER_BITS) - 1)
    ksn8 = base.to_bytes(10, "big")[:8]
    left = tdes_ecb_encrypt(bdk, ksn8)
    right = tdes_ecb_encrypt(xor(bdk, _C0), ksn8)
    return left + right


def _single_des(key8: bytes, block: bytes) -> bytes:
    return tdes_ecb_encrypt(key8, block)


def _non_reversible(key: bytes, data: bytes) -> bytes:
    """The non-reversible key generation process (A.2)."""
    right = xor(_single_des(key[:8], xor(data, key[8:])), key[8:])
    variant = xor(key, _C0)
    left = xor(_single_des(variant[:8], xor(data, variant[8:])), variant[8:])
    return left + right


def tdes_transaction_key(ipek: bytes, ksn: bytes) -> bytes:
    """The transaction key of the KSN's counter, from the initial key."""
    _check_tdes(ipek, ksn)
    counter = _tdes_counter(ksn)
    register = int.from_bytes(ksn[2:], "big") & ~((1 << TDES_COUNTER_BITS) - 1)
    key = ipek
    for bit in reversed(range(TDES_COUNTER_BITS)):
        if counter & (1 << bit):
            register |= 1 << bit
            key = _non_reversible(key, register.to_bytes(8, "big"))
    return key


def _variant(key: bytes, mask: str) -> bytes:
    return xor(key, bytes.fromhex(mask * 2))


def tdes_pin_key(transaction_key: bytes) -> bytes:
    """PIN encryption key variant (A.4: xor 00000000000000FF...)."""
    return _variant(transaction_key, "00000000000000FF")


def tdes_mac_request_key(transaction_key: bytes) -> bytes:
    return _variant(transaction_key, "000000000000FF00")


def tdes_mac_response_key(transaction_key: bytes) -> bytes:
    return _variant(transaction_key, "00000000FF000000")


# --- AES DUKPT (X9.24-3:2017) -------------------------------------------------


class AesKeyType(IntEnum):
    """Derivation-data algorithm indicator (X9.24-3 table 2)."""

    TDES2 = 0x0000
    TDES3 = 0x0001
    AES128 = 0x0002
    AES192 = 0x0003
    AES256 = 0x0004

    @property
    def bits(self) -> int:
        return {0: 128, 1: 192, 2: 128, 3: 192, 4: 256}[self.value]

    @classmethod
    def for_key(cls, key: bytes) -> AesKeyType:
        match len(key):
            case 16:
                return cls.AES128
            case 24:
                return cls.AES192
            case 32:
                return cls.AES256
        raise DukptError("AES DUKPT keys are 16, 24 or 32 bytes")


class AesKeyUsage(IntEnum):
    """Derivation-data key usage indicator (X9.24-3 table 1)."""

    KEY_ENCRYPTION = 0x0002
    PIN_ENCRYPTION = 0x1000
    MAC_GENERATION = 0x2000
    MAC_VERIFICATION = 0x2001
    MAC_BOTH = 0x2002
    DATA_ENCRYPT = 0x3000
    DATA_DECRYPT = 0x3001
    DATA_BOTH = 0x3002
    KEY_DERIVATION = 0x8000
    INITIAL_KEY = 0x8001


def _derive(parent: bytes, usage: int, key_type: AesKeyType, tail: bytes) -> bytes:
    out = b""
    blocks = -(-key_type.bits // 128)
    for counter in range(1, blocks + 1):
        data = (
            bytes([0x01, counter])
            + usage.to_bytes(2, "big")
            + key_type.value.to_bytes(2, "big")
            + key_type.bits.to_bytes(2, "big")
            + tail
        )
        out += aes_ecb_encrypt(parent, data)
    return out[: key_type.bits // 8]


def _split_aes_ksn(ksn: bytes) -> tuple[bytes, int]:
    if len(ksn) != 12:
        raise DukptError("AES DUKPT KSN is 12 bytes (initial key ID || counter)")
    return ksn[:8], int.from_bytes(ksn[8:], "big")


def aes_initial_key(bdk: bytes, initial_key_id: bytes) -> bytes:
    """The device's initial key from the BDK and its 8-byte initial key ID."""
    if len(initial_key_id) != 8:
        raise DukptError("AES DUKPT initial key ID is 8 bytes")
    key_type = AesKeyType.for_key(bdk)
    return _derive(bdk, AesKeyUsage.INITIAL_KEY, key_type, initial_key_id)


def aes_transaction_key(initial_key: bytes, ksn: bytes) -> bytes:
    """The derivation key of the KSN's counter (6.3, "walk the counter")."""
    ikid, counter = _split_aes_ksn(ksn)
    if counter == 0:
        raise DukptError("AES DUKPT counter 0 has no transaction key")
    key_type = AesKeyType.for_key(initial_key)
    key, working = initial_key, 0
    for bit in reversed(range(32)):
        if counter & (1 << bit):
            working |= 1 << bit
            key = _derive(
                key, AesKeyUsage.KEY_DERIVATION, key_type, ikid[4:] + working.to_bytes(4, "big")
            )
    return key


def aes_working_key(
    transaction_key: bytes, ksn: bytes, usage: AesKeyUsage, key_type: AesKeyType
) -> bytes:
    """A working key (PIN, MAC, data) of the given type from the transaction key."""
    ikid, counter = _split_aes_ksn(ksn)
    return _derive(transaction_key, usage, key_type, ikid[4:] + counter.to_bytes(4, "big"))


# --- ISO 9564-1 format 4 ------------------------------------------------------


def _pin_field_iso4(pin: str, fill: bytes) -> bytes:
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise DukptError("PIN must be 4 to 12 digits")
    nibbles = f"4{len(pin):X}{pin}".ljust(16, "A")
    return bytes.fromhex(nibbles) + fill


def _pan_field_iso4(pan: str) -> bytes:
    if not (pan.isascii() and pan.isdigit() and 1 <= len(pan) <= 19):
        raise DukptError("PAN must be 1 to 19 digits")
    digits = f"{max(len(pan) - 12, 0):X}" + pan.rjust(12, "0")
    return bytes.fromhex(digits.ljust(32, "0"))


def encipher_iso4(key: bytes, pin: str, pan: str, fill: bytes | None = None) -> bytes:
    """ISO 9564-1 format 4: C = E(K, E(K, PIN field) xor PAN field).
    ``fill`` is the 8 random bytes of the PIN field (tests pass a fixed one)."""
    fill = os.urandom(8) if fill is None else fill
    if len(fill) != 8:
        raise DukptError("format-4 fill is 8 bytes")
    inner = aes_ecb_encrypt(key, _pin_field_iso4(pin, fill))
    return aes_ecb_encrypt(key, xor(inner, _pan_field_iso4(pan)))


def decipher_iso4(key: bytes, block: bytes, pan: str) -> str:
    """The PIN of a format-4 block (the receiving host's side)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if len(block) != 16:
        raise DukptError("format-4 PIN block is 16 bytes")
    dec = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305
    inner = dec.update(block) + dec.finalize()
    dec = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305
    field = dec.update(xor(inner, _pan_field_iso4(pan))) + dec.finalize()
    digits = field[:8].hex().upper()
    length = int(digits[1], 16)
    if digits[0] != "4" or not 4 <= length <= 12:
        raise DukptError("not a format-4 PIN block")
    pin, filler = digits[2 : 2 + length], digits[2 + length :]
    if not pin.isdigit() or filler != "A" * len(filler):
        raise DukptError("malformed format-4 PIN block")
    return pin


@dataclass
class DukptOriginator:
    """The PIN pad's DUKPT state: initial key and KSN; ``next_ksn`` advances
    the counter for each transaction (one key per PIN block)."""

    initial_key: bytes
    ksn: bytes

    @property
    def aes(self) -> bool:
        return len(self.ksn) == 12

    def next_ksn(self) -> bytes:
        if self.aes:
            ikid, counter = _split_aes_ksn(self.ksn)
            counter = next_counter(counter, aes=True) if counter else 1
            self.ksn = ikid + counter.to_bytes(4, "big")
        else:
            counter = _tdes_counter(self.ksn)
            counter = next_counter(counter)
            base = int.from_bytes(self.ksn, "big") & ~((1 << TDES_COUNTER_BITS) - 1)
            self.ksn = (base | counter).to_bytes(10, "big")
        return self.ksn

    def pin_key(self, ksn: bytes) -> bytes:
        if self.aes:
            txn = aes_transaction_key(self.initial_key, ksn)
            return aes_working_key(txn, ksn, AesKeyUsage.PIN_ENCRYPTION, AesKeyType.AES128)
        return tdes_pin_key(tdes_transaction_key(self.initial_key, ksn))
