"""The kernel stays pure: no I/O libraries, no imports from the other packages
(docs/conventions.md, 9)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kernel
from kernel import errors

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


WIRE_STATUSES = {
    "emverror", "notdetected", "cancelled", "tryagain", "usechip", "tryanotherinterface",
    "pinpadmalfunctionornotpresent", "pinentrybypassed", "verificationfailed", "invalidarguments",
    "systemerror",
}  # fmt: skip


def test_every_kernel_error_has_an_appendix_a_status() -> None:
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.CardcoreError)
    ]
    assert len(classes) > 10
    for cls in classes:
        assert cls.status in WIRE_STATUSES, cls
