"""tools/bench/durability.py counts the fsyncs of a real server under strace:
an approved purchase makes two durable commits (its request's row and
reversal, then its outcome)."""

from __future__ import annotations

import shutil

import pytest

from tests.hal.pcscd import unavailable
from tools.bench import durability

pytestmark = pytest.mark.slow  # a benchmark: make slow (which make test runs)


def test_two_durable_commits_per_approved_purchase(capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("strace") is None:
        unavailable("strace is not installed (.ci/run installs it)")  # fails in CI
    durability.main(["--count", "10"])
    out = capsys.readouterr().out
    assert "over 10 approved purchases: 2.00 per purchase" in out, out
