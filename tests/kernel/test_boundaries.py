"""The kernel stays pure: no I/O libraries, no imports from the other packages
(docs/conventions.md, 9)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kernel

KERNEL = Path(kernel.__file__).resolve().parent
FORBIDDEN = {"trio", "smartcard", "usb", "socket", "ssl", "httpx", "cardcore", "hal", "acquirers"}


@pytest.mark.parametrize(
    "path", sorted(KERNEL.rglob("*.py")), ids=lambda p: str(p.relative_to(KERNEL))
)
def test_kernel_module_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
