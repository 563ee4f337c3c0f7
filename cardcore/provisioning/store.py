# Strategy: the provisioned state in the data dir, switched atomically
# (issue 8: "a failure keeps the old configuration whole, on disk and in
# memory"; PCI PIN requirement 18 for the keys).
# - Everything activation, configuration updates and key loading produce
#   lives in one generation directory <data-dir>/provisioning/gen-<n>:
#     state.json              activation facts, TMS URL, document names/stages
#     device-master.key       32 random bytes, mode 0600 (file master-key source)
#     keys.json               the KeyStore: every key AES-256-GCM under the
#                             device master key
#     {config,keyloader,acquirer}-client.crt / -ca.crt   certificates (PEM)
#     {config,keyloader,acquirer}-client.key   PKCS#8 PEM encrypted under a
#                             key derived from the device master key, mode 0600
#     tms-root.crt            the configuration server's root (confdata/cert)
#     documents/*.xml         the validated TMS documents as received
#     overlay.json            the Config overlay translated from them
# - `current` is a symbolic link to the live generation. A change is staged in
#   a fresh generation directory (a copy of the live one, then edited), every
#   file fsynced, and published by renaming a new link over `current` (one
#   atomic rename) and fsyncing the directory. A crash or failure before the
#   rename leaves the old generation live; stale directories are removed at
#   the next start. Nothing is ever edited in place, so a failure leaves the
#   data dir byte for byte as it was.
# - The first start creates generation 0: factory state, a new device master
#   key and an empty key store.
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from cardcore.keystore import FileMasterKeySource, KeyStore
from cardcore.provisioning.errors import ProvisioningIOError
from cardcore.storage import atomic_write, ensure_private_dir

__all__ = ["Generation", "PartInfo", "ProvisionedState", "ProvisioningStore", "Staging"]

STATE_FILE = "state.json"
MASTER_KEY_FILE = "device-master.key"
KEYS_FILE = "keys.json"
OVERLAY_FILE = "overlay.json"
DOCUMENTS_DIR = "documents"
_GEN = re.compile(r"^gen-(\d+)$")


class PartInfo(msgspec.Struct, kw_only=True, rename="kebab"):
    """One installed TMS document: its root tag, name, stage and file."""

    root: str
    name: str
    stage: str
    file: str
    src: str = ""


class ProvisionedState(msgspec.Struct, kw_only=True, rename="kebab"):
    version: int = 1
    activated: bool = False
    activated_at: str | None = None
    sn: str | None = None
    tms_url: str | None = None
    header: str | None = None
    # Keyed by role: "terminal" for the terminal part, else the include's root tag.
    parts: dict[str, PartInfo] = msgspec.field(default_factory=dict)
    updated_at: str | None = None
    master_keys_loaded_at: str | None = None


@dataclass
class Generation:
    """A read-only view of one generation directory."""

    path: Path
    state: ProvisionedState

    def file(self, name: str) -> Path:
        return self.path / name

    def read(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None

    def overlay(self) -> dict[str, Any]:
        data = self.read(OVERLAY_FILE)
        if data is None:
            return {}
        value = json.loads(data)
        return value if isinstance(value, dict) else {}

    def keystore(self) -> KeyStore:
        return KeyStore(self.path / KEYS_FILE, FileMasterKeySource(self.path / MASTER_KEY_FILE))

    def device_master_key(self) -> bytes:
        return FileMasterKeySource(self.path / MASTER_KEY_FILE).load()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Staging:
    """A generation being prepared; published with `ProvisioningStore.publish`."""

    path: Path
    state: ProvisionedState
    _written: list[Path] = field(default_factory=list)

    def write(self, name: str, data: bytes, mode: int = 0o600) -> None:
        target = self.path / name
        ensure_private_dir(target.parent)
        atomic_write(target, data, mode)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / name).unlink()

    def read(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None

    def clear_documents(self) -> None:
        shutil.rmtree(self.path / DOCUMENTS_DIR, ignore_errors=True)

    def new_device_master_key(self) -> bytes:
        """Forget every key of this generation and take a new device master key."""
        self.remove(KEYS_FILE)
        return FileMasterKeySource(self.path / MASTER_KEY_FILE).regenerate()

    def keystore(self) -> KeyStore:
        return KeyStore(self.path / KEYS_FILE, FileMasterKeySource(self.path / MASTER_KEY_FILE))

    def device_master_key(self) -> bytes:
        return FileMasterKeySource(self.path / MASTER_KEY_FILE).load()

    def set_overlay(self, overlay: dict[str, Any]) -> None:
        self.write(OVERLAY_FILE, json.dumps(overlay, sort_keys=True, indent=1).encode())

    def overlay(self) -> dict[str, Any]:
        data = self.read(OVERLAY_FILE)
        return {} if data is None else dict(json.loads(data))


class ProvisioningStore:
    """<data-dir>/provisioning: the live generation and staged changes."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "provisioning"
        self.link = self.root / "current"

    # --- start-up --------------------------------------------------------
    def open(self) -> Generation:
        """The live generation; creates factory generation 0 on first start
        and removes generations left behind by an interrupted change."""
        ensure_private_dir(self.root)
        if not self.link.is_symlink():
            staging = self._new_dir(0)
            FileMasterKeySource(staging / MASTER_KEY_FILE).regenerate()
            atomic_write(staging / STATE_FILE, msgspec.json.encode(ProvisionedState()))
            self._point_to(staging)
        live = self.current()
        for entry in self.root.iterdir():
            if entry.name == "current" or entry.resolve() == live.path.resolve():
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        return live

    def current(self) -> Generation:
        path = self.root / os.readlink(self.link)
        try:
            state = msgspec.json.decode((path / STATE_FILE).read_bytes(), type=ProvisionedState)
        except (OSError, msgspec.DecodeError) as exc:
            raise ProvisioningIOError(f"provisioned state is unreadable: {exc}") from None
        return Generation(path, state)

    # --- changes ---------------------------------------------------------
    def _new_dir(self, number: int | None = None) -> Path:
        if number is None:
            numbers = [int(m.group(1)) for e in self.root.iterdir() if (m := _GEN.match(e.name))]
            number = max(numbers, default=0) + 1
        path = self.root / f"gen-{number}-{secrets.token_hex(4)}"
        path.mkdir(mode=0o700)
        return path

    @contextlib.contextmanager
    def stage(self, *, fresh: bool = False) -> Iterator[Staging]:
        """A staged copy of the live generation (empty when ``fresh``); removed
        again unless published inside the block."""
        live = self.current()
        path = self.root / f".staging-{secrets.token_hex(6)}"
        try:
            if fresh:
                path.mkdir(mode=0o700)
                state = ProvisionedState()
            else:
                shutil.copytree(live.path, path, symlinks=False, copy_function=shutil.copy2)
                state = msgspec.convert(msgspec.to_builtins(live.state), ProvisionedState)
            staging = Staging(path, state)
            yield staging
        except OSError as exc:
            raise ProvisioningIOError(f"provisioned state could not be staged: {exc}") from exc
        finally:
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)

    def publish(self, staging: Staging) -> Generation:
        """Make the staged generation live in one atomic rename."""
        try:
            atomic_write(staging.path / STATE_FILE, msgspec.json.encode(staging.state))
            for directory in [staging.path, *(p for p in staging.path.rglob("*") if p.is_dir())]:
                _fsync_dir(directory)
            final = self._new_dir()
            final.rmdir()
            os.rename(staging.path, final)
            old = self.root / os.readlink(self.link)
            self._point_to(final)
        except OSError as exc:
            raise ProvisioningIOError(f"provisioned state could not be written: {exc}") from exc
        shutil.rmtree(old, ignore_errors=True)
        return self.current()

    def _point_to(self, target: Path) -> None:
        tmp = self.root / f".current-{secrets.token_hex(4)}"
        os.symlink(target.name, tmp)
        os.replace(tmp, self.link)
        _fsync_dir(self.root)
