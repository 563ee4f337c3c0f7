"""The deployment files and the outside tools that judge them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "tools" / "deploy"
UNIT = DEPLOY / "cardcore.service"
INSTALL = DEPLOY / "install.sh"
POLKIT_RULE = DEPLOY / "60-cardcore-pcscd.rules"
UDEV_RULE = DEPLOY / "60-cardcore-pinpad.rules"
# The most exposure `systemd-analyze security` may find in the unit (issue: <= 2.5).
MAX_EXPOSURE = 2.5


def exposure(unit: Path) -> tuple[float, str]:
    """The overall exposure `systemd-analyze security --offline=yes` gives
    ``unit``, and its line."""
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    match = re.search(r"^.*Overall exposure level for \S+: (\d+\.\d+) .*$", done.stdout, re.M)
    assert match, done.stdout + done.stderr
    return float(match.group(1)), match.group(0).strip()


def can_unshare() -> bool:
    """Root may make a mount namespace of its own (tests put files over
    system directories there and nowhere else)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


def need(ok: object, reason: str) -> None:
    """Skip when an outside tool is missing; under CARDCORE_CI=1 (.ci/run,
    which installs them all) fail instead, so CI never passes on skips."""
    if ok:
        return
    if os.environ.get("CARDCORE_CI") == "1":
        pytest.fail(f"CARDCORE_CI=1 but {reason}", pytrace=False)
    pytest.skip(reason)
