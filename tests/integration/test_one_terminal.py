"""One terminal per data dir, with two real `cardcore serve` processes: the
second start is refused in one line naming the first one's PID, exit code 2,
and leaves every file of the first one's run/ as it was; a lock whose holder
was killed outright is no lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from cardcore.client import BlockingEcrClient
from cardcore.contract import Exit
from tests.integration.conftest import FAST, start_server, stop_server


def _run_dir(data_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Each entry of run/: (inode, size, mtime in ns) - a file replaced,
    rewritten or deleted and made again shows."""
    return {
        p.name: (st.st_ino, st.st_size, st.st_mtime_ns)
        for p in (data_dir / "run").iterdir()
        for st in [p.lstat()]
    }


def _second_serve(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardcore", "serve", "--simulator", "--port", "0",
         "--data-dir", str(data_dir), *extra],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_second_serve_on_the_same_data_dir_is_refused_and_touches_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    first = start_server(data, config=FAST)
    try:
        before = _run_dir(data)
        assert {"ecr.addr", "sim.sock"} <= before.keys()
        addr = (data / "run" / "ecr.addr").read_text()
        for extra in ((), ("--acons",)):
            second = _second_serve(data, *extra)
            assert second.returncode == Exit.USAGE, second.stderr
            assert second.stdout == ""
            lines = second.stderr.splitlines()
            assert len(lines) == 1, second.stderr
            assert lines[0].startswith("cardcore: cannot start: ")
            assert f"(PID {first.process.pid})" in lines[0]
            assert str(data) in lines[0]
        assert _run_dir(data) == before
        assert (data / "run" / "ecr.addr").read_text() == addr
        assert first.process.poll() is None
        client = BlockingEcrClient(first.host, first.port)
        assert client.login("12345678").status == "ok"
    finally:
        assert stop_server(first) == 0, first.log_text()
    # Its holder gone, the lock is free again.
    again = start_server(data, config=FAST)
    assert stop_server(again) == 0, again.log_text()


def test_a_killed_terminal_leaves_no_lock(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data, config=FAST)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    # The kernel drops a flock with its holder: no stale lock to clear by hand.
    second = start_server(data, config=FAST)
    try:
        assert second.process.pid != first.process.pid
        assert (data / "serve.lock").read_text().strip() == str(second.process.pid)
    finally:
        assert stop_server(second) == 0, second.log_text()
