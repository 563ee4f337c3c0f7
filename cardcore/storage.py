# Strategy: small durable files in the data dir. A write goes to a temporary
# file in the same directory, is fsynced, renamed over the target, and the
# directory is fsynced, so a crash leaves either the old or the new content.
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["atomic_write", "ensure_private_dir"]


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
