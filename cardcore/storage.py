# Strategy: small durable files in the data dir. A write goes to a temporary
# file in the same directory, is fsynced, renamed over the target, and the
# directory is fsynced, so a crash leaves either the old or the new content.
# The data dir holds the journal, keys and the password hash: it and all in
# it belong to the service user alone (directories 0700, files 0600), and
# `make_private_tree` restores that at start-up over a dir made or copied by
# hand; symbolic links are neither followed nor changed.
from __future__ import annotations

import os
import stat
from pathlib import Path

from cardcore.errors import DataFileError

__all__ = [
    "atomic_remove",
    "atomic_write",
    "create_private",
    "ensure_private_dir",
    "make_private_tree",
]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    return path


def make_private_tree(root: Path) -> list[Path]:
    """Create ``root`` if needed and restrict it and everything in it to the
    owner; returns what had to be changed. An entry that cannot be changed
    (another user's) is a DataFileError."""
    changed: list[Path] = []
    ensure_private_dir(root)
    if stat.S_IMODE(root.stat().st_mode) != PRIVATE_DIR:
        _chmod(root, PRIVATE_DIR, None, root, changed)
    # Top-down: a directory is closed to others before its entries are looked
    # at, so nobody else can swap a link in between the check and the change.
    for top, dirs, files, top_fd in os.fwalk(root):
        for name in dirs + files:
            st = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                continue
            wanted = PRIVATE_DIR if stat.S_ISDIR(st.st_mode) else PRIVATE_FILE
            if stat.S_IMODE(st.st_mode) != wanted:
                _chmod(name, wanted, top_fd, Path(top, name), changed)
    return changed


def _chmod(
    name: str | Path, mode: int, dir_fd: int | None, path: Path, changed: list[Path]
) -> None:
    try:
        os.chmod(name, mode, dir_fd=dir_fd)
    except OSError as exc:
        raise DataFileError(f"cannot restrict {path} to the service user: {exc.strerror}") from None
    changed.append(path)


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (for files that
    others, such as SQLite, open and extend; SQLite gives its -wal and -shm
    files the database's mode)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))


def atomic_write(path: Path, data: bytes, mode: int = PRIVATE_FILE) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_remove(path: Path) -> None:
    """Remove ``path`` (if there) for good: the directory is fsynced."""
    path.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
