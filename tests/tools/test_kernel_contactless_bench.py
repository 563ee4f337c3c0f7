"""Smoke test of tools/bench/kernel_contactless.py (a few runs; no timing assertion)."""

from __future__ import annotations

import pytest

from tools.bench import kernel_contactless

pytestmark = pytest.mark.slow  # a benchmark: make slow (which make test runs)


def test_benchmark_runs_every_default_case(capsys: pytest.CaptureFixture[str]) -> None:
    kernel_contactless.main(["--runs", "3"])
    out = capsys.readouterr().out
    assert out.count("kernel CPU per transaction") == len(kernel_contactless.DEFAULT_CASES)
    for part in ("approved-offline", "approved-online", "cdcvm=yes", "ONLINE_PIN", "in the field"):
        assert part in out
