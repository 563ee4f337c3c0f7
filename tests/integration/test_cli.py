"""The command line as people and scripts use it, run as subprocesses (against a
real `cardcore serve --simulator` where a terminal is needed)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardcore", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd,
    )  # fmt: skip


def test_version_is_the_installed_distribution_s() -> None:
    done = cli("--version")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"cardcore {version('cardcore')}\n",
        "",
    )
