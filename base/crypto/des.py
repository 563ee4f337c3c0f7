# Strategy: block-cipher helpers as payment systems use them.
# - TDES keys of 8, 16 or 24 bytes are expanded to K1||K2||K3 (keying option
#   3/2/1 of NIST SP 800-67); the `cryptography` package only takes 24 bytes
#   without deprecation, so expansion happens here, once.
# - ISO/IEC 9797-1 padding methods 1, 2, 3 and MAC algorithms 1 (CBC-MAC) and
#   3 ("retail MAC": single-DES CBC with K1, then DES-decrypt K2, DES-encrypt K1).
# - Key check values: TDES encrypts eight zero bytes (ANSI X9.24-1), AES takes
#   the CMAC of sixteen zero bytes (ANSI X9.24-3 / TR-31); both keep 3 bytes.
from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

__all__ = [
    "adjust_odd_parity",
    "aes_cmac",
    "aes_ecb_encrypt",
    "kcv_aes",
    "kcv_tdes",
    "mac_alg1",
    "mac_alg3",
    "pad_iso9797",
    "retail_mac",
    "tdes_cbc_decrypt",
    "tdes_cbc_encrypt",
    "tdes_ecb_decrypt",
    "tdes_ecb_encrypt",
    "xor",
]


def xor(a: bytes, b: bytes) -> bytes:
    if len(a) != len(b):
        raise ValueError("xor of unequal lengths")
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _expand(key: bytes) -> bytes:
    if len(key) == 8:
        return key * 3
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 24:
        return key
    raise ValueError(f"DES/TDES key must be 8, 16 or 24 bytes, not {len(key)}")


def _tdes_ecb(key: bytes) -> Cipher[modes.ECB]:
    # ECB is what key check values and PIN-block encipherment are defined on.
    return Cipher(TripleDES(_expand(key)), modes.ECB())  # noqa: S305


def _tdes_cbc(key: bytes, iv: bytes) -> Cipher[modes.CBC]:
    return Cipher(TripleDES(_expand(key)), modes.CBC(iv))


def _check_blocks(data: bytes, size: int) -> None:
    if len(data) % size:
        raise ValueError(f"data length {len(data)} is not a multiple of {size}")


def tdes_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    _check_blocks(data, 8)
    enc = _tdes_ecb(key).encryptor()
    return enc.update(data) + enc.finalize()


def tdes_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    _check_blocks(data, 8)
    dec = _tdes_ecb(key).decryptor()
    return dec.update(data) + dec.finalize()


def tdes_cbc_encrypt(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    _check_blocks(data, 8)
    enc = _tdes_cbc(key, iv).encryptor()
    return enc.update(data) + enc.finalize()


def tdes_cbc_decrypt(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    _check_blocks(data, 8)
    dec = _tdes_cbc(key, iv).decryptor()
    return dec.update(data) + dec.finalize()


def aes_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    _check_blocks(data, 16)
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    return enc.update(data) + enc.finalize()


def aes_cmac(key: bytes, data: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()


def adjust_odd_parity(key: bytes) -> bytes:
    """Set the low bit of every byte so each byte has an odd number of ones."""
    out = bytearray()
    for b in key:
        high = b & 0xFE
        out.append(high | (bin(high).count("1") + 1) % 2)
    return bytes(out)


def pad_iso9797(data: bytes, method: int, block: int = 8) -> bytes:
    """ISO/IEC 9797-1 padding: 1 zeros (none if aligned; empty data gets one block),
    2 a mandatory 80 then zeros, 3 a length block then method 1."""
    if method == 1:
        if not data:
            return bytes(block)
        return data + bytes(-len(data) % block)
    if method == 2:
        data = data + b"\x80"
        return data + bytes(-len(data) % block)
    if method == 3:
        length = (len(data) * 8).to_bytes(block, "big")
        return length + data + bytes(-len(data) % block)
    raise ValueError(f"unknown ISO 9797-1 padding method {method}")


def mac_alg1(key: bytes, data: bytes, padding: int = 1) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 1: CBC-MAC under the (T)DES key; 8 bytes."""
    return tdes_cbc_encrypt(key, pad_iso9797(data, padding))[-8:]


def mac_alg3(key1: bytes, key2: bytes, data: bytes, padding: int = 1) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3: CBC under ``key1``, then the last block is
    decrypted under ``key2`` and encrypted under ``key1``; 8 bytes. The retail MAC
    of a 16-byte key K is ``mac_alg3(K[:8], K[8:], ...)``."""
    chained = tdes_cbc_encrypt(key1, pad_iso9797(data, padding))[-8:]
    return tdes_ecb_encrypt(key1, tdes_ecb_decrypt(key2, chained))


def retail_mac(key: bytes, data: bytes, padding: int = 1) -> bytes:
    """ANSI X9.19 retail MAC with a double-length key: MAC algorithm 3 on its halves."""
    if len(key) != 16:
        raise ValueError("the retail MAC needs a 16-byte key")
    return mac_alg3(key[:8], key[8:], data, padding)


def kcv_tdes(key: bytes, length: int = 3) -> bytes:
    """Key check value: TDES-encrypt eight zero bytes, keep the leftmost bytes (X9.24-1)."""
    return tdes_ecb_encrypt(key, bytes(8))[:length]


def kcv_aes(key: bytes, length: int = 3) -> bytes:
    """Key check value: AES-CMAC of sixteen zero bytes, leftmost bytes (X9.24-3)."""
    return aes_cmac(key, bytes(16))[:length]
