# Strategy: TR-31 key blocks (ANSI X9.143 / ASC X9 TR-31:2018), versions A, B,
# C and D, unwrap for the terminal and wrap for the key-server simulator.
# - Header (16 printable characters): version, 4-digit block length, key usage
#   (2), algorithm (1), mode of use (1), key version (2), exportability (1),
#   number of optional blocks (2, decimal), reserved (2); then the optional
#   blocks (2-character id, 2-hex-digit length including id and length,
#   data). The header, as ASCII, is authenticated in every version.
# - A and C (key variant binding, TDES): KBEK = KBPK XOR 0x45.., KBAK =
#   KBPK XOR 0x4D..; the payload is TDES-CBC encrypted with the first 8 header
#   bytes as IV; the MAC is the first 4 bytes of the TDES CBC-MAC (ISO 9797-1
#   algorithm 1) over header || ciphertext.
# - B (TDES) and D (AES): KBEK and KBAK are derived from the KBPK with the
#   counter-mode KDF of NIST SP 800-108 over CMAC (derivation data: counter,
#   usage 0000 = encryption / 0001 = MAC, separator 00, algorithm 0000/0001
#   TDES-2/3, 0002/0003/0004 AES-128/192/256, length in bits); the MAC is the
#   CMAC over header || clear payload (8 bytes for B, 16 for D) and is also
#   the CBC IV of the payload encryption.
# - Payload: 2-byte key length in bits, the key, padding to the cipher block
#   (random on wrap; the wrapper pads short keys up to the longest key of the
#   algorithm so the ciphertext does not reveal the key length).
# Every failure is a `KeyBlockError`; the MAC is compared in constant time
# before any decrypted byte is used.
from __future__ import annotations

import hmac
import os
import re
from dataclasses import dataclass, field

from base.crypto.des import (
    aes_cmac,
    tdes_cbc_decrypt,
    tdes_cbc_encrypt,
    tdes_ecb_encrypt,
    xor,
)
from base.errors import CardcoreError

__all__ = ["Header", "KeyBlockError", "unwrap", "wrap"]

_BLOCK_ID = re.compile(r"^[0-9A-Z]{2}$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


class KeyBlockError(CardcoreError):
    """TR-31 key block invalid or not authentic."""


@dataclass
class Header:
    """The key block header; ``blocks`` are the optional blocks in order."""

    version: str = "D"
    key_usage: str = "K0"
    algorithm: str = "T"
    mode_of_use: str = "B"
    version_num: str = "00"
    exportability: str = "N"
    blocks: dict[str, str] = field(default_factory=dict)

    def encode(self, total_length: int) -> str:
        opt = "".join(f"{bid}{len(data) + 4:02X}{data}" for bid, data in self.blocks.items())
        text = (
            f"{self.version}{total_length:04d}{self.key_usage}{self.algorithm}"
            f"{self.mode_of_use}{self.version_num}{self.exportability}"
            f"{len(self.blocks):02d}00{opt}"
        )
        return text

    @staticmethod
    def parse(block: str) -> tuple[Header, int]:
        """The header and its length in characters (optional blocks included)."""
        if len(block) < 16 or not _PRINTABLE.match(block[:16]):
            raise KeyBlockError("key block header too short or not printable")
        count_text = block[12:14]
        if not count_text.isdigit():
            raise KeyBlockError("key block: bad optional block count")
        header = Header(
            version=block[0],
            key_usage=block[5:7],
            algorithm=block[7],
            mode_of_use=block[8],
            version_num=block[9:11],
            exportability=block[11],
        )
        pos = 16
        for _ in range(int(count_text)):
            bid, length_text = block[pos : pos + 2], block[pos + 2 : pos + 4]
            if not _BLOCK_ID.match(bid) or len(length_text) != 2:
                raise KeyBlockError("key block: bad optional block")
            try:
                length = int(length_text, 16)
            except ValueError:
                raise KeyBlockError("key block: bad optional block length") from None
            if length < 4 or pos + length > len(block):
                raise KeyBlockError("key block: optional block overruns the header")
            data = block[pos + 4 : pos + length]
            if not _PRINTABLE.match(data):
                raise KeyBlockError("key block: optional block not printable")
            header.blocks[bid] = data
            pos += length
        return header, pos


# --- key derivation ---------------------------------------------------------


def _tdes_cmac(key: bytes, data: bytes) -> bytes:
    """CMAC (NIST SP 800-38B) over TDES, 8-byte blocks, Rb = 0x1B."""

    def shift(block: bytes) -> bytes:
        value = int.from_bytes(block, "big") << 1
        if block[0] & 0x80:
            value ^= 0x1B
        return (value & (2**64 - 1)).to_bytes(8, "big")

    k1 = shift(tdes_ecb_encrypt(key, bytes(8)))
    k2 = shift(k1)
    if data and len(data) % 8 == 0:
        last = xor(data[-8:], k1)
        body = data[:-8]
    else:
        tail = len(data) % 8
        padded = data[len(data) - tail :] + b"\x80" + bytes(7 - tail)
        last = xor(padded, k2)
        body = data[: len(data) - tail]
    state = bytes(8)
    for i in range(0, len(body), 8):
        state = tdes_ecb_encrypt(key, xor(state, body[i : i + 8]))
    return tdes_ecb_encrypt(key, xor(state, last))


def _derive(kbpk: bytes, version: str) -> tuple[bytes, bytes]:
    """(KBEK, KBAK) by the CMAC counter-mode KDF (versions B and D)."""
    if version == "B":
        algorithm = {16: b"\x00\x00", 24: b"\x00\x01"}.get(len(kbpk))
        cmac, block = _tdes_cmac, 8
    else:
        algorithm = {16: b"\x00\x02", 24: b"\x00\x03", 32: b"\x00\x04"}.get(len(kbpk))
        cmac, block = aes_cmac, 16
    if algorithm is None:
        raise KeyBlockError(f"key block version {version}: bad KBPK length {len(kbpk)}")
    bits = (len(kbpk) * 8).to_bytes(2, "big")
    keys = []
    for usage in (b"\x00\x00", b"\x00\x01"):
        out = b""
        for counter in range(1, len(kbpk) // block + 1):
            out += cmac(kbpk, bytes([counter]) + usage + b"\x00" + algorithm + bits)
        keys.append(out[: len(kbpk)])
    return keys[0], keys[1]


def _variant_keys(kbpk: bytes) -> tuple[bytes, bytes]:
    if len(kbpk) not in (16, 24):
        raise KeyBlockError(f"key block version A/C: bad KBPK length {len(kbpk)}")
    return xor(kbpk, b"\x45" * len(kbpk)), xor(kbpk, b"\x4d" * len(kbpk))


def _aes_cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


# --- unwrap / wrap ----------------------------------------------------------


def unwrap(kbpk: bytes, block: str) -> tuple[Header, bytes]:
    """Authenticate and decrypt a key block; returns its header and the key."""
    header, header_len = Header.parse(block)
    declared = block[1:5]
    if not declared.isdigit() or int(declared) != len(block):
        raise KeyBlockError("key block length field does not match the block")
    version = header.version
    mac_chars = {"A": 8, "C": 8, "B": 16, "D": 32}.get(version)
    if mac_chars is None:
        raise KeyBlockError(f"key block version {version!r} not supported")
    head = block[:header_len].encode("ascii")
    enc_hex, mac_hex = block[header_len:-mac_chars], block[-mac_chars:]
    try:
        encrypted, mac = bytes.fromhex(enc_hex), bytes.fromhex(mac_hex)
    except ValueError:
        raise KeyBlockError("key block payload is not hex") from None
    cipher_block = 16 if version == "D" else 8
    if not encrypted or len(encrypted) % cipher_block:
        raise KeyBlockError("key block payload length is not a whole number of blocks")
    if version in ("A", "C"):
        kbek, kbak = _variant_keys(kbpk)
        expected = tdes_cbc_encrypt(kbak, _pad_zero(head + encrypted, 8))[-8:][:4]
        if not hmac.compare_digest(expected, mac):
            raise KeyBlockError("key block MAC does not verify")
        payload = tdes_cbc_decrypt(kbek, encrypted, head[:8])
    else:
        kbek, kbak = _derive(kbpk, version)
        if version == "B":
            payload = tdes_cbc_decrypt(kbek, encrypted, mac)
            expected = _tdes_cmac(kbak, head + payload)
        else:
            payload = _aes_cbc(kbek, mac, encrypted, encrypt=False)
            expected = aes_cmac(kbak, head + payload)
        if not hmac.compare_digest(expected, mac):
            raise KeyBlockError("key block MAC does not verify")
    bits = int.from_bytes(payload[:2], "big")
    if bits % 8 or bits == 0 or 2 + bits // 8 > len(payload):
        raise KeyBlockError("key block key length is invalid")
    return header, payload[2 : 2 + bits // 8]


def _pad_zero(data: bytes, block: int) -> bytes:
    # The header (16 + optional blocks, a multiple of 8 by the standard) and the
    # ciphertext are whole blocks; pad defensively for odd optional blocks.
    return data + bytes(-len(data) % block)


def wrap(kbpk: bytes, header: Header, key: bytes, *, masked_length: int | None = None) -> str:
    """Build a key block for ``key`` under ``kbpk`` (``header.version`` A/B/C/D)."""
    version = header.version
    if version not in ("A", "B", "C", "D"):
        raise KeyBlockError(f"key block version {version!r} not supported")
    cipher_block = 16 if version == "D" else 8
    mac_chars = {"A": 8, "C": 8, "B": 16, "D": 32}[version]
    hide = masked_length if masked_length is not None else (32 if version == "D" else 24)
    clear = (len(key) * 8).to_bytes(2, "big") + key
    target = 2 + max(len(key), hide)
    target += -target % cipher_block
    payload = clear + os.urandom(target - len(clear))
    opt_len = sum(len(d) + 4 for d in header.blocks.values())
    header_len = 16 + opt_len
    if header_len % cipher_block:
        # Pad the optional blocks with a PB block to a whole cipher block.
        need = -(header_len + 4) % cipher_block
        header.blocks["PB"] = "0" * need
        header_len = 16 + sum(len(d) + 4 for d in header.blocks.values())
    total = header_len + 2 * len(payload) + mac_chars
    head = header.encode(total).encode("ascii")
    if version in ("A", "C"):
        kbek, kbak = _variant_keys(kbpk)
        encrypted = tdes_cbc_encrypt(kbek, payload, head[:8])
        mac = tdes_cbc_encrypt(kbak, _pad_zero(head + encrypted, 8))[-8:][:4]
    elif version == "B":
        kbek, kbak = _derive(kbpk, version)
        mac = _tdes_cmac(kbak, head + payload)
        encrypted = tdes_cbc_encrypt(kbek, payload, mac)
    else:
        kbek, kbak = _derive(kbpk, version)
        mac = aes_cmac(kbak, head + payload)
        encrypted = _aes_cbc(kbek, mac, payload, encrypt=True)
    return head.decode("ascii") + encrypted.hex().upper() + mac.hex().upper()
