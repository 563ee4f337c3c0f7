"""Public test vectors (copied from the project's shared vector set; each file names its source)."""

from __future__ import annotations

from pathlib import Path

VECTORS = Path(__file__).resolve().parent


def vector_text(name: str) -> str:
    return (VECTORS / name).read_text(encoding="utf-8")
