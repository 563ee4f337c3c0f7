"""The tools people run are installed commands that work from any directory, not
only from the source tree (the activator's whole run: tests/integration/
test_provisioning_serve.py)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def run(command: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name(command)), *args],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )  # fmt: skip


def test_the_activator(tmp_path: Path) -> None:
    done = run("cardcore-activator", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: cardcore-activator ")
    assert "(default: 4434)" in done.stdout


def test_the_benchmarks_are_listed_and_run(tmp_path: Path) -> None:
    listed = run("cardcore-bench", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.startswith("  ")]
    assert "kernel-contact" in names and "settlement" in names and "sbp" in names
    done = run("cardcore-bench", "kernel-contact", "--runs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "emulator CPU" in done.stdout
    sbp = run("cardcore-bench", "sbp", "--runs", "1", cwd=tmp_path)
    assert sbp.returncode == 0, sbp.stderr
    assert "SBP paid status -> approved answer" in sbp.stdout
    unknown = run("cardcore-bench", "frobnicate", cwd=tmp_path)
    assert unknown.returncode == 2 and "no benchmark 'frobnicate'" in unknown.stderr


def test_every_benchmark_option_says_what_it_is_and_its_default(tmp_path: Path) -> None:
    from tools.bench.__main__ import BENCHMARKS

    for name in BENCHMARKS:
        done = run("cardcore-bench", name, "--help", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"usage: cardcore-bench {name} ")
        options = " ".join(done.stdout.split("options:", 1)[1].split())
        entries = [e for e in re.split(r" (?=--[a-z])", options) if e.startswith("--")]
        entries = [e for e in entries if not e.startswith("--help ")]
        assert entries, name
        for entry in entries:
            assert "(default: " in entry or "default" in entry, (name, entry)
            assert len(entry.split()) > 4, (name, entry)  # a help text, not the bare option


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A TMPDIR short enough for the Unix sockets of a data dir in it."""
    path = Path(tempfile.mkdtemp(prefix="cb-"))
    yield path
    for pid in _running_in(path):  # a server the benchmark failed to stop
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)


def _running_in(path: Path) -> list[int]:
    """The processes whose command line names ``path``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(path).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize(
    ("args", "running"),
    [
        # a `cardcore serve` of its own, driven under trio.run
        (("--breakdown", "0", "--count", "100000"), "run/ecr.addr"),
        # a terminal in process, in a TemporaryDirectory (some seconds of purchases)
        (("--breakdown", "400", "--count", "0"), "journal.sqlite"),
    ],
    ids=["serve", "in-process"],
)
def test_a_benchmark_stopped_by_sigterm_leaves_nothing_behind(
    short_tmp: Path, args: tuple[str, ...], running: str
) -> None:
    """Its temporary directories are removed and its server stopped, as on
    Ctrl-C, whether trio was running or not."""
    tmp_path = short_tmp
    bench = subprocess.Popen(
        [str(Path(sys.executable).with_name("cardcore-bench")), "transaction", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(f"cardcore-bench-*/{running}")):
            assert bench.poll() is None, bench.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # well into the purchases
        bench.send_signal(signal.SIGTERM)
        _, stderr = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.strip().splitlines()[-1] == "cardcore-bench: transaction stopped (SIGTERM)"
    assert list(tmp_path.glob("cardcore-bench-*")) == []
    assert _running_in(tmp_path) == []  # nor a server of its own
