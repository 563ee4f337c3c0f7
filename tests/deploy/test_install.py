"""install.sh on this machine, into a fresh prefix: every path moved under a
temporary root, the virtual environment made by this machine's Python, the
packages taken from the wheelhouse alone (--no-index: no network), no
service user (--no-user). Then the installed `cardcore` runs a purchase, a
second install upgrades in place and keeps the configuration, and the unit
as installed names the paths given and keeps its score."""

from __future__ import annotations

import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.deploy.conftest import EXTRAS
from tests.deploy.helpers import INSTALL, MAX_EXPOSURE, exposure

pytestmark = [pytest.mark.slow, pytest.mark.image]  # builds every wheel: make image


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _install(root: Path, wheelhouse: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(INSTALL),
         "--prefix", str(root / "opt/cardcore"),
         "--sysconfdir", str(root / "etc/cardcore"),
         "--statedir", str(root / "var/lib/cardcore"),
         "--unitdir", str(root / "etc/systemd/system"),
         "--polkitdir", str(root / "etc/polkit-1/rules.d"),
         "--udevdir", str(root / "etc/udev/rules.d"),
         "--sysusersdir", str(root / "etc/sysusers.d"),
         "--extras", EXTRAS, "--pinpad-id", "2E8A:10F0",
         "--wheelhouse", str(wheelhouse), "--no-user"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _purchase(cardcore: Path, data: Path, config: Path) -> None:
    serve = subprocess.Popen(
        [str(cardcore), "serve", "--simulator", "--port", "0", "--data-dir", str(data),
         "--config", str(config), "--acons"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        addr = data / "run" / "ecr.addr"
        deadline = time.monotonic() + 60
        while not addr.exists():
            assert serve.poll() is None and time.monotonic() < deadline, serve.stderr
            time.sleep(0.05)
        done = subprocess.run(
            [str(cardcore), "client", "transaction", "--type", "purchase",
             "--amount", "000000010000", "--data-dir", str(data), "--json"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert '"tstatus": "approved"' in done.stdout
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_install_into_a_fresh_prefix(tmp_path: Path, wheelhouse: Path) -> None:
    root = tmp_path / "root"
    done = _install(root, wheelhouse)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"installed in {root}/opt/cardcore" in done.stdout
    prefix = root / "opt/cardcore"
    assert (prefix / "pyvenv.cfg").exists()  # its own environment, not the system's
    cardcore = prefix / "bin/cardcore"
    version = subprocess.run([str(cardcore), "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("cardcore ")

    config = root / "etc/cardcore/cardcore.toml"
    assert _mode(config.parent) == 0o750 and _mode(config) == 0o640
    assert _mode(root / "var/lib/cardcore") == 0o700
    assert "vendor-id = 0x2E8A" in config.read_text()
    check = subprocess.run([str(cardcore), "config", "check", str(config)], capture_output=True)
    assert check.returncode == 0, check.stderr

    unit = root / "etc/systemd/system/cardcore.service"
    text = unit.read_text()
    assert (
        f"ExecStart={prefix}/bin/cardcore serve --config {config}"
        f" --data-dir {root}/var/lib/cardcore\n" in text
    )
    assert "/usr/local/bin" not in text
    # Outside /var/lib the state directory is a path the sandbox lets through.
    assert f"ReadWritePaths={root}/var/lib/cardcore\n" in text
    if shutil.which("systemd-analyze"):
        score, line = exposure(unit)
        assert score <= MAX_EXPOSURE, line
        verify = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True
        )
        assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    udev = (root / "etc/udev/rules.d/60-cardcore-pinpad.rules").read_text()
    assert 'ATTR{idVendor}=="2e8a", ATTR{idProduct}=="10f0"' in udev
    assert 'GROUP="cardcore", MODE="0660"' in udev
    polkit = (root / "etc/polkit-1/rules.d/60-cardcore-pcscd.rules").read_text()
    assert 'subject.user == "cardcore"' in polkit
    sysusers = (root / "etc/sysusers.d/cardcore.conf").read_text()
    assert "u cardcore - " in sysusers and f"{root}/var/lib/cardcore" in sysusers

    fast = tmp_path / "fast.toml"
    fast.write_text("[admin]\nscrypt-n = 1024\n")
    _purchase(cardcore, root / "var/lib/cardcore", fast)

    # Again: an upgrade in place that keeps the configuration as edited.
    config.write_text(config.read_text() + '\n[device]\nserial-number = "00000042"\n')
    again = _install(root, wheelhouse)
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'serial-number = "00000042"' in config.read_text()
    assert (root / "var/lib/cardcore/journal.sqlite").exists()  # the state, kept


def test_bad_options_are_refused_in_one_line(tmp_path: Path) -> None:
    for args, said in [
        (["--pinpad-id", "12:34"], "--pinpad-id 12:34: expected VID:PID"),
        (["--user", "Card Core"], "--user Card Core: lower-case letters"),
        (["--frobnicate"], "unknown option --frobnicate"),
        (["--root", str(tmp_path)], "--root needs --wheelhouse"),
    ]:
        done = subprocess.run(["sh", str(INSTALL), *args], capture_output=True, text=True)
        assert done.returncode == 1
        assert f"install.sh: {said}" in done.stderr.splitlines()[-1]
