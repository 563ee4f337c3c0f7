"""Integration fixtures: a real `cardcore serve --simulator` subprocess on a free port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Served:
    host: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(data_dir: Path, *extra: str, config: str | None = None) -> Served:
    data_dir.mkdir(parents=True, exist_ok=True)
    addr = data_dir / "run" / "ecr.addr"
    addr.unlink(missing_ok=True)
    args = [
        sys.executable,
        "-m",
        "cardcore",
        "serve",
        "--simulator",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--acons",
        *extra,
    ]
    if config is not None:
        path = data_dir / "test-config.toml"
        path.write_text(config)
        args += ["--config", str(path)]
    log = data_dir / "server.log"
    process = subprocess.Popen(
        args,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 30
    while not addr.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start:\n{log.read_text()}")
        time.sleep(0.02)
    host, port = addr.read_text().split()
    return Served(host, int(port), data_dir, process, log)


def stop_server(served: Served) -> int:
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            return served.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()
            raise
    return served.process.returncode


FAST = "[admin]\nscrypt-n = 1024\n"


@contextlib.contextmanager
def serving(data_dir: Path, *extra: str, config: str | None = None) -> Iterator[Served]:
    """A terminal for the length of a `with` block; it must stop cleanly."""
    server = start_server(data_dir, *extra, config=config)
    try:
        yield server
    finally:
        assert stop_server(server) == 0, server.log_text()


def ready_for_a_contact_sale(server: Served) -> Served:
    """The default card in the contact slot and a host that approves."""
    for args in (("present", "default", "--interface", "contact"), ("host", "approve")):
        sim(server.data_dir, *args)
    return server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = start_server(tmp_path / "data", config=FAST)
    try:
        yield server
    finally:
        code = stop_server(server)
        assert code == 0, server.log_text()


def sim(data_dir: Path, *args: str) -> dict[str, Any]:
    """`cardcore sim ARGS --json` against the terminal in ``data_dir``: its
    answer as data ({} when it prints nothing)."""
    result = subprocess.run(
        [sys.executable, "-m", "cardcore", "sim", *args, "--data-dir", str(data_dir), "--json"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
    return answer
