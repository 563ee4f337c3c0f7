"""Smoke test of tools/bench/settlement.py (a small batch; no timing assertion)."""

from __future__ import annotations

import pytest

from tools.bench import settlement

pytestmark = pytest.mark.slow  # a benchmark: make slow (which make test runs)


def test_benchmark_runs_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    settlement.main(["--count", "400", "--small", "100", "--upload", "100"])
    out = capsys.readouterr().out
    for step in ("full report", "full report, sealed", "brief report", "settlement"):
        assert f"\n{step} " in out
    assert "passed, 320 in the host batch" in out  # 4 in 5 rows are the acquirer's
    assert "\nnext settlement " in out and "passed, 6 in the host batch" in out
    assert "passed, batch upload passed of 80" in out
