"""The systemd unit, judged by systemd's own tools: `systemd-analyze security
--offline` scores its sandbox (at most 2.5), `systemd-analyze verify` parses it
with no complaint; and what the terminal needs stays open in it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.helpers import MAX_EXPOSURE, UNIT, exposure, need


@pytest.fixture
def analyze() -> None:
    need(
        shutil.which("systemd-analyze"),
        "systemd-analyze is not installed (Debian's systemd package; .ci/run installs it)",
    )


def _settings(unit: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in unit.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


@pytest.mark.usefixtures("analyze")
def test_the_sandbox_scores_at_most_2_5() -> None:
    score, line = exposure(UNIT)
    assert score <= MAX_EXPOSURE, line


@pytest.mark.usefixtures("analyze")
def test_a_weaker_unit_scores_worse(tmp_path: Path) -> None:
    """The score is read right: the unit without its sandbox is EXPOSED."""
    keep = ("Type", "ExecStart", "User", "Group", "StateDirectory", "Restart")
    weak = tmp_path / "cardcore.service"
    weak.write_text("[Service]\n" + "".join(f"{k}={v}\n" for k, v in _settings(UNIT) if k in keep))
    score, line = exposure(weak)
    assert score > 8, line


@pytest.mark.usefixtures("analyze")
def test_systemd_parses_every_line(tmp_path: Path) -> None:
    # verify also wants the program to exist: the unit as installed somewhere.
    unit = tmp_path / "cardcore.service"
    unit.write_text(UNIT.read_text().replace("/opt/cardcore/bin/cardcore", shutil.which("true")))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done.stderr
    # A misspelt key is caught the same way (so the check above can fail).
    unit.write_text(unit.read_text().replace("ProtectClock=", "ProtectClok="))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Unknown key 'ProtectClok'" in done.stderr


def test_what_the_terminal_needs_stays_open() -> None:
    settings = _settings(UNIT)
    values = dict(settings)
    # Readiness and liveness through sd_notify (cardcore/sdnotify.py).
    assert values["Type"] == "notify" and values["NotifyAccess"] == "main"
    assert float(values["WatchdogSec"]) > 0
    # A path of the install, never a guess such as /usr/local/bin.
    assert values["ExecStart"].startswith("/opt/cardcore/bin/cardcore serve ")
    # pcscd built with polkit checks the caller's user: no user namespace.
    assert values.get("PrivateUsers", "no") == "no"
    # The PIN pad's nodes, and only device nodes of those kinds.
    assert values.get("PrivateDevices", "no") == "no"
    assert values["DevicePolicy"] == "closed"
    allowed = {v for k, v in settings if k == "DeviceAllow"}
    assert allowed == {"char-usb_device rw", "char-hidraw rw"}
    # pcscd, syslog and sd_notify are Unix sockets; the cash register and the
    # acquirer speak TCP; libusb's hot-plug events come over netlink.
    assert set(values["RestrictAddressFamilies"].split()) == {
        "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK",
    }  # fmt: skip
    assert values["Restart"] == "on-failure"
