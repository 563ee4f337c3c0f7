# Strategy: one terminal per data dir (docs/conventions.md, "Readiness"). Two
# terminals on one journal would hand out the same STANs and receipt numbers
# and each delete the other's run/ files on exit, so `cardcore serve` takes an
# exclusive flock(2) on <data-dir>/serve.lock before it touches anything else
# in the data dir and keeps it until the process ends. The kernel drops a
# flock when its holder dies, however it dies, so a crash leaves no stale lock
# to clean up; the file itself stays (removing it would let a third process
# lock a new inode while the second still holds the old one). The holder
# writes its PID into the file so that a refused start can name it; flock
# locks are invisible to F_GETLK, so the file is the only place to find it.
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from pathlib import Path

from cardcore.errors import StartupError
from cardcore.storage import PRIVATE_FILE, ensure_private_dir

__all__ = ["LOCK_NAME", "DataDirBusy", "DataDirLock", "lock_data_dir"]

LOCK_NAME = "serve.lock"
# The holder writes its PID just after it locks: a second start that loses
# that race waits this long for the PID to appear.
_PID_WAIT = 1.0


class DataDirBusy(StartupError):
    """Another terminal holds the data dir."""


class DataDirLock:
    """The held lock; released by close() or, at the latest, by process exit."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def lock_data_dir(data_dir: Path) -> DataDirLock:
    """Lock ``data_dir`` for this process, or raise DataDirBusy naming the
    PID of the `cardcore serve` that holds it."""
    ensure_private_dir(data_dir)
    path = data_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, PRIVATE_FILE)
    except OSError as exc:
        raise StartupError(f"cannot open the lock {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StartupError(f"cannot lock {path}: {exc.strerror}") from None
        who = f"PID {holder}" if holder else "another process"
        raise DataDirBusy(
            f"data dir {data_dir} is in use by cardcore serve ({who}); one terminal per data dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return DataDirLock(path, fd)


def _holder(fd: int) -> int | None:
    deadline = time.monotonic() + _PID_WAIT
    while True:
        with contextlib.suppress(ValueError):
            return int(os.pread(fd, 32, 0).decode("ascii", "replace").strip())
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
