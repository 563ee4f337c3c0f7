"""The data dir lock: flock(2) on <data-dir>/serve.lock, the holder's PID in it."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

from cardcore.datalock import LOCK_NAME, DataDirBusy, lock_data_dir


def test_the_lock_is_exclusive_while_held_and_free_once_closed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    held = lock_data_dir(data)
    path = data / LOCK_NAME
    assert path.read_text() == f"{os.getpid()}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    # flock locks belong to an open file description: a second open in this
    # very process conflicts as another process would.
    with pytest.raises(DataDirBusy, match=rf"in use by cardcore serve \(PID {os.getpid()}\)"):
        lock_data_dir(data)
    held.close()
    with lock_data_dir(data):
        pass


def test_a_lock_held_by_something_that_wrote_no_pid(tmp_path: Path, monkeypatch) -> None:
    import cardcore.datalock

    monkeypatch.setattr(cardcore.datalock, "_PID_WAIT", 0.05)
    tmp_path.chmod(0o700)
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(DataDirBusy, match=r"\(another process\)"):
            lock_data_dir(tmp_path)
    finally:
        os.close(fd)


def test_a_stale_pid_of_a_dead_holder_is_overwritten(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    (tmp_path / LOCK_NAME).write_text("999999999\n")
    with lock_data_dir(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
