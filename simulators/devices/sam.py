# Strategy: a simulated SAM (hal.sam): key entries in memory, factory state
# with the AES-128 master key (entry 0, version 0) all zero, the three-pass
# host authentication with both sides computed independently (the host side
# in `authenticate_host`, the SAM side in `_challenge`/`_verify`), a host
# session that key changes and MIFARE key release need. Keys live only as
# long as the process, like a SAM that is re-personalised at every start:
# the terminal's key store is where keys persist.
from __future__ import annotations

import os
from dataclasses import dataclass, field

import trio
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from base.crypto.des import aes_ecb_encrypt
from hal.mifare import MifareKeyType
from hal.sam import SamAuthenticationError, SamError, SamKeyKind

__all__ = ["KeyEntry", "SimSam"]


def _cbc(key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(bytes(16)))
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(data) + ctx.finalize()


def _rotl(data: bytes) -> bytes:
    return data[1:] + data[:1]


def session_key(key: bytes, rnd_a: bytes, rnd_b: bytes) -> bytes:
    return aes_ecb_encrypt(key, rnd_a[:4] + rnd_b[:4] + rnd_a[12:] + rnd_b[12:])


@dataclass
class KeyEntry:
    version: int
    key: bytes = field(repr=False)
    kind: SamKeyKind
    exportable: bool = False


@dataclass
class _Session:
    entry: int
    key: bytes = field(repr=False)


class SimSam:
    """The simulated SAM."""

    def __init__(self, serial: str = "SIMSAM01") -> None:
        self.serial = serial
        self.entries: dict[int, KeyEntry] = {0: KeyEntry(0, bytes(16), SamKeyKind.AES128)}
        self.session: _Session | None = None
        self._pending: tuple[int, bytes, bytes] | None = None  # entry, key, RndB

    @property
    def name(self) -> str:
        return f"simulated SAM {self.serial}"

    def reset(self) -> None:
        """Power cycle: the host session ends, the keys stay."""
        self.session = None
        self._pending = None

    # --- the SAM's side of host authentication ---------------------------------------
    def _challenge(self, entry: int, version: int) -> bytes:
        self.session = None
        found = self.entries.get(entry)
        if found is None or found.version != version or found.kind is not SamKeyKind.AES128:
            raise SamError(f"SAM key entry {entry} version {version} is not an AES key")
        rnd_b = os.urandom(16)
        self._pending = (entry, found.key, rnd_b)
        return _cbc(found.key, rnd_b)

    def _verify(self, token: bytes) -> bytes:
        pending, self._pending = self._pending, None
        if pending is None or len(token) != 32:
            raise SamAuthenticationError("host authentication out of sequence")
        entry, key, rnd_b = pending
        plain = _cbc(key, token, decrypt=True)
        rnd_a, rotated = plain[:16], plain[16:]
        if rotated != _rotl(rnd_b):
            raise SamAuthenticationError("host authentication failed: wrong host key")
        self.session = _Session(entry, session_key(key, rnd_a, rnd_b))
        return _cbc(key, _rotl(rnd_a))

    # --- hal.sam.Sam ----------------------------------------------------------------
    async def authenticate_host(self, entry: int, version: int, key: bytes) -> None:
        await trio.lowlevel.checkpoint()
        if len(key) != 16:
            raise SamAuthenticationError("SAM host keys are AES-128 (16 bytes)")
        rnd_b = _cbc(key, self._challenge(entry, version), decrypt=True)
        rnd_a = os.urandom(16)
        answer = self._verify(_cbc(key, rnd_a + _rotl(rnd_b)))
        if _cbc(key, answer, decrypt=True) != _rotl(rnd_a):  # the SAM proves itself too
            self.session = None
            raise SamAuthenticationError("the SAM failed to authenticate")

    async def change_key_entry(
        self, entry: int, version: int, key: bytes, kind: SamKeyKind, *, exportable: bool = False
    ) -> None:
        await trio.lowlevel.checkpoint()
        if self.session is None or self.session.entry != 0:
            raise SamAuthenticationError("changing SAM keys needs authentication with entry 0")
        if not 0 <= entry < 128 or not 0 <= version < 256:
            raise SamError("SAM key entry or version out of range")
        size = 16 if kind is SamKeyKind.AES128 else 12
        if len(key) != size:
            raise SamError(f"a {kind.value} key is {size} bytes")
        self.entries[entry] = KeyEntry(version, bytes(key), kind, exportable)
        if entry == 0:
            self.session = None  # a new master key ends the session it opened

    async def mifare_key(self, entry: int, version: int, key_type: MifareKeyType) -> bytes:
        await trio.lowlevel.checkpoint()
        if self.session is None:
            raise SamAuthenticationError("the SAM serves authenticated hosts only")
        found = self.entries.get(entry)
        if found is None or found.version != version or found.kind is not SamKeyKind.MIFARE:
            raise SamError(f"SAM key entry {entry} version {version} is not a MIFARE key")
        if not found.exportable:
            raise SamError(f"SAM key entry {entry} does not allow releasing its key")
        return found.key[:6] if key_type is MifareKeyType.A else found.key[6:]
