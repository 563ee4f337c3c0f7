"""The sd_notify datagram protocol against a real AF_UNIX datagram socket, as
the service manager listens: a path and an abstract ('@') address; and a real
`cardcore serve --simulator` telling such a socket READY=1 once run/ecr.addr is
written, WATCHDOG=1 at half of $WATCHDOG_USEC, STOPPING=1 on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from cardcore.sdnotify import Notifier, watchdog_interval
from tests.deploy.helpers import need
from tests.integration.conftest import FAST


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(20)
    yield sock, str(path)
    sock.close()


def _fields(datagram: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.decode().split("\n"))


def test_ready_and_stopping_reach_a_path_socket(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.ready("listening on 127.0.0.1:4433")
    assert _fields(sock.recv(4096)) == {"READY": "1", "STATUS": "listening on 127.0.0.1:4433"}
    assert notifier.stopping()
    assert not notifier.stopping()  # said once
    assert _fields(sock.recv(4096))["STOPPING"] == "1"


@pytest.mark.parametrize("address", ["path", "abstract"])
def test_the_datagrams_are_systemd_notify_s_own(tmp_path: Path, address: str) -> None:
    """systemd's own client says READY and STOPPING in the same bytes."""
    need(shutil.which("systemd-notify"), "systemd-notify is not installed (systemd)")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        if address == "path":
            name = str(tmp_path / "notify")
            sock.bind(name)
        else:
            name = f"@cardcore-test-{os.getpid()}-{time.monotonic_ns()}"
            sock.bind("\0" + name[1:])
        sock.settimeout(10)
        env = {**os.environ, "NOTIFY_SOCKET": name}
        for args, ours in [
            (["--ready", "--status=listening on 127.0.0.1:4433"],
             lambda n: n.ready("listening on 127.0.0.1:4433")),
            (["STOPPING=1", "STATUS=shutting down"], lambda n: n.stopping()),
            (["WATCHDOG=1"], lambda n: n.send("WATCHDOG=1")),
        ]:  # fmt: skip
            done = subprocess.run(
                ["systemd-notify", "--no-block", *args], env=env, capture_output=True, timeout=10
            )
            assert done.returncode == 0, done.stderr
            theirs = sock.recv(4096)
            assert ours(Notifier({"NOTIFY_SOCKET": name}))
            assert sock.recv(4096) == theirs


def test_an_abstract_address() -> None:
    name = f"cardcore-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).send("WATCHDOG=1")
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_no_socket_no_message_and_a_gone_manager_stops_nothing(tmp_path: Path, caplog) -> None:
    assert not Notifier({}).ready("x")
    assert Notifier({}).address is None
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert not gone.ready("x")
    assert not gone.send("WATCHDOG=1")
    assert [r.getMessage() for r in caplog.records].count(
        "cannot notify the service manager: No such file or directory"
    ) == 1
    assert Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).address is None


@pytest.mark.parametrize(
    ("environ", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_watchdog_interval(environ: dict[str, str], interval: float | None) -> None:
    assert watchdog_interval(environ) == interval


async def test_the_watchdog_task_keeps_time(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    sock.setblocking(False)
    with trio.move_on_after(2.5):  # the virtual clock: sends at 0, 1, 2
        await notifier.run_watchdog()
    got = []
    while True:
        try:
            got.append(sock.recv(4096))
        except BlockingIOError:
            break
    assert got == [b"WATCHDOG=1"] * 3


def test_serve_tells_the_manager(tmp_path: Path, manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    data = tmp_path / "data"
    data.mkdir()
    (data / "cfg.toml").write_text(FAST)
    addr = data / "run" / "ecr.addr"
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cardcore", "serve", "--simulator", "--port", "0",
         "--data-dir", str(data), "--config", str(data / "cfg.toml"), "--acons"],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"},
    )  # fmt: skip
    try:
        messages = []
        while True:
            fields = _fields(sock.recv(4096))
            messages.append(fields)
            if "READY" in fields:
                # READY=1 comes when, and only when, the address is there.
                assert addr.exists()
                host, port = addr.read_text().split()
                assert fields["STATUS"] == f"listening on {host}:{port}"
                break
        # (Whether the address was absent before READY cannot be told from
        # here: a datagram sent before it was written may be read after.)
        # The watchdog started with the loop, before the terminal was up.
        assert messages[0] == {"WATCHDOG": "1"}
        start = time.monotonic()
        beats = 0
        while beats < 3:
            assert _fields(sock.recv(4096)) == {"WATCHDOG": "1"}
            beats += 1
        # 3 beats at 0.2 s: the loop keeps time (generously bounded for a busy machine).
        assert time.monotonic() - start < 5
        process.send_signal(signal.SIGTERM)
        while "STOPPING" not in (fields := _fields(sock.recv(4096))):
            assert fields == {"WATCHDOG": "1"}
        assert fields["STOPPING"] == "1"
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
