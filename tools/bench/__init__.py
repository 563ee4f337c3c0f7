"""The benchmarks (`cardcore-bench NAME`), one module each."""

from __future__ import annotations

import argparse

__all__ = ["TMP_PREFIX", "bench_parser"]

# What a benchmark's temporary directories are called (under $TMPDIR).
TMP_PREFIX = "cardcore-bench-"


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's options: its docstring's first line, and each option's
    help ending with its default (as `cardcore COMMAND --help` does)."""
    from cardcore.cli import HelpFormatter

    first = (doc or "").strip().splitlines()
    return argparse.ArgumentParser(
        description=first[0] if first else None, formatter_class=HelpFormatter
    )
