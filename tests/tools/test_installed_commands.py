"""The tools people run are installed commands that work from any directory, not
only from the source tree (the activator's whole run: tests/integration/
test_provisioning_serve.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


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
