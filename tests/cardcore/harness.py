"""The in-process simulated terminal the tests drive (cardcore.inprocess), and
test helpers around it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cardcore.inprocess import BASE, Harness, simulated_terminal

__all__ = ["BASE", "Harness", "open_to_others", "simulated_terminal"]


def open_to_others(root: Path) -> list[str]:
    """Entries under ``root`` (itself included, links aside) whose mode lets
    other users in, with their modes."""
    found = []
    for top, dirs, files in os.walk(root):
        for path in [Path(top), *(Path(top, name) for name in files + dirs)]:
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                found.append(f"{path.relative_to(root)} {stat.filemode(mode)}")
    return sorted(set(found))
