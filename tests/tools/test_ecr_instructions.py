"""tools/bench/ecr_instructions.py against the echo baseline under callgrind
(instruction counts, not timing)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hal.pcscd import unavailable
from tools.bench import ecr_instructions as bench
from tools.bench.ecr import Frames, start_echo

pytestmark = pytest.mark.slow  # a benchmark: make slow (which make test runs)


def test_counts_start_at_zero_and_cover_the_requests(tmp_path: Path) -> None:
    if shutil.which("callgrind_control") is None:
        unavailable("valgrind is not installed (.ci/run installs it)")  # fails in CI
    frame = Frames(len(b"<a/>").to_bytes(4, "big") + b"<a/>")
    proc, port = start_echo(prefix=bench._callgrind(tmp_path))
    try:
        few = bench.count(proc.pid, tmp_path, port, frame, 1, 100)
        many = bench.count(proc.pid, tmp_path, port, frame, 3, 400)
    finally:
        proc.terminate()
        proc.wait()
    # Without the zeroing the first figure would carry the start-up (far
    # more than 100 round trips); a dump that missed requests would halve one.
    assert 10_000 < few < 2 * many and many < 2 * few
