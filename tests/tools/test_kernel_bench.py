"""Smoke test of tools/bench/kernel_contact.py (a few runs; no timing assertion)."""

from __future__ import annotations

import pytest

from tools.bench import kernel_contact

pytestmark = pytest.mark.slow  # a benchmark: make slow (which make test runs)


def test_benchmark_runs_and_reports_the_split(capsys: pytest.CaptureFixture[str]) -> None:
    kernel_contact.main(["--runs", "3"])
    out = capsys.readouterr().out
    assert "approved-online" in out
    for part in ("RSA", "TLV", "flow", "emulator CPU"):
        assert part in out
