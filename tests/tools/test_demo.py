"""`make demo` as a person runs it: every step answers what its title says."""

from __future__ import annotations

import subprocess
import sys


def test_the_demo_plays_every_step_as_announced() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.demo"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    statuses = [
        line.split()[-1] for line in result.stdout.splitlines() if line.startswith("  <- status")
    ]
    # purchase, partial refund, second purchase, its void, the void again,
    # the declined purchase (answered ok, declined inside), no card.
    assert statuses == ["ok", "ok", "ok", "ok", "alreadyreversed", "ok", "notdetected"]
    assert "login (ECDHE secp256r1 + AES-256-GCM) -> ok" in result.stdout
    assert "4761739001010010" not in result.stdout  # the Visa card's full PAN never shows
    # The demo's data dir is as private as the terminal wants it: nothing to restrict.
    assert "cardcore serve --simulator is listening" in result.stdout
    assert "open to other users" not in result.stdout
