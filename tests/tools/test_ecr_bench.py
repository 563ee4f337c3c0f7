"""Smoke test of tools/bench/ecr.py (short loads, one round; no timing assertion)."""

from __future__ import annotations

import pytest

from tools.bench import ecr

pytestmark = pytest.mark.slow  # a benchmark: make slow (which make test runs)


def test_benchmark_runs_every_workload(capsys: pytest.CaptureFixture[str]) -> None:
    ecr.main(["--seconds", "0.2", "--rounds", "1", "--starts", "2"])
    out = capsys.readouterr().out
    assert "terminal mode: start to listening" in out and "simulator mode: start to" in out
    assert "medians over 1 rounds" in out
    for workload in ("clear, 1 client", "encrypted, 1 client", "clear, 8 clients"):
        assert f"\n1     {workload} " in out and f"\n{workload} " in out
    assert "\nencrypted, 8 clients " in out
