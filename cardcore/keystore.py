# Strategy: keys at rest (PCI PIN security requirement 18: keys exist only
# encrypted under a key-encrypting key or inside secure hardware).
# - Every key is kept AES-256-GCM encrypted under the device master key, with
#   the key's name as associated data, so a blob cannot be moved to another
#   name; a KCV is kept beside it to identify keys without revealing them.
# - The device master key comes from a `MasterKeySource`. On a terminal it is
#   the secure element's; the file source used by the simulator and bench PCs
#   keeps 32 random bytes in <data-dir>/device-master.key (mode 0600) — it is
#   as safe as that file, which is why real terminals use the hardware one.
# - The store is one JSON file replaced atomically: a crash leaves the old or
#   the new key set, never half of one.
from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from base.crypto.des import kcv_aes, kcv_tdes
from base.errors import CardcoreError
from cardcore.storage import atomic_write

__all__ = [
    "FileMasterKeySource",
    "KeyStore",
    "KeyStoreError",
    "MasterKeySource",
    "StoredKey",
]


class KeyStoreError(CardcoreError):
    """Key store failure."""


class MasterKeySource(Protocol):
    def load(self, create: bool = True) -> bytes:
        """The 32-byte device master key, created on first use when
        ``create``; otherwise a missing key is a KeyStoreError."""
        ...

    def regenerate(self) -> bytes:
        """Replace the device master key (activation); old blobs become unreadable."""
        ...


class FileMasterKeySource:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, create: bool = True) -> bytes:
        try:
            key = self.path.read_bytes()
        except FileNotFoundError:
            if create:
                return self.regenerate()
            raise KeyStoreError(
                f"the device master key {self.path} is missing, so the keys it protects cannot "
                "be read; restore it from the terminal's backup"
            ) from None
        if len(key) != 32:
            raise KeyStoreError(f"device master key file {self.path.name} is damaged")
        return key

    def regenerate(self) -> bytes:
        key = secrets.token_bytes(32)
        atomic_write(self.path, key, mode=0o600)
        return key


@dataclass(frozen=True)
class StoredKey:
    name: str
    algorithm: str  # "tdes" | "aes" | "hmac" | "raw"
    kcv: str  # hex; TDES: encrypt zeros, AES: CMAC of zeros (X9.24)


def _kcv(algorithm: str, key: bytes) -> str:
    if algorithm == "tdes":
        return kcv_tdes(key).hex().upper()
    if algorithm == "aes":
        return kcv_aes(key).hex().upper()
    return ""


class KeyStore:
    def __init__(self, path: Path, master: MasterKeySource) -> None:
        self.path = path
        self._master = master
        # Keys on file are readable only under the master key they were
        # stored with: a new one is made only for a new store.
        self._aead = AESGCM(master.load(create=not path.exists()))
        self._entries: dict[str, dict[str, str]] = {}
        if path.exists():
            try:
                self._entries = json.loads(path.read_text())["keys"]
            except (ValueError, KeyError, OSError) as exc:
                raise KeyStoreError(f"key store {path.name} is unreadable: {exc}") from None

    def _save(self) -> None:
        atomic_write(self.path, json.dumps({"version": 1, "keys": self._entries}).encode())

    def put(self, name: str, key: bytes, algorithm: str) -> StoredKey:
        """Store (or replace) a key. Returns its description, never the key."""
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, key, name.encode())
        kcv = _kcv(algorithm, key)
        self._entries[name] = {
            "algorithm": algorithm,
            "kcv": kcv,
            "blob": base64.b64encode(blob).decode(),
        }
        self._save()
        return StoredKey(name, algorithm, kcv)

    def put_many(self, keys: dict[str, tuple[bytes, str]]) -> None:
        """Replace several keys at once: all or none reach the disk."""
        previous = dict(self._entries)
        try:
            for name, (key, algorithm) in keys.items():
                nonce = os.urandom(12)
                self._entries[name] = {
                    "algorithm": algorithm,
                    "kcv": _kcv(algorithm, key),
                    "blob": base64.b64encode(
                        nonce + self._aead.encrypt(nonce, key, name.encode())
                    ).decode(),
                }
            self._save()
        except BaseException:
            self._entries = previous
            raise

    def get(self, name: str) -> bytes:
        entry = self._entries.get(name)
        if entry is None:
            raise KeyStoreError(f"no key named '{name}'")
        blob = base64.b64decode(entry["blob"])
        try:
            return self._aead.decrypt(blob[:12], blob[12:], name.encode())
        except InvalidTag:
            raise KeyStoreError(
                f"key '{name}' does not decrypt under the device master key"
            ) from None

    def describe(self, name: str) -> StoredKey | None:
        entry = self._entries.get(name)
        if entry is None:
            return None
        return StoredKey(name, entry["algorithm"], entry["kcv"])

    def get_or_create(self, name: str, size: int, algorithm: str = "raw") -> bytes:
        if name not in self._entries:
            self.put(name, secrets.token_bytes(size), algorithm)
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def delete(self, name: str) -> None:
        if self._entries.pop(name, None) is not None:
            self._save()

    def retain(self, names: Iterable[str]) -> list[str]:
        """Forget every key but ``names`` (one write); returns the forgotten names."""
        keep = set(names)
        gone = [name for name in self._entries if name not in keep]
        if gone:
            self._entries = {k: v for k, v in self._entries.items() if k in keep}
            self._save()
        return sorted(gone)

    def wipe(self) -> None:
        """Forget every key and take a new device master key (activation reset)."""
        self._entries = {}
        self._save()
        self._aead = AESGCM(self._master.regenerate())
