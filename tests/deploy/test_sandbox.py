"""The unit's MemoryDenyWriteExecute=yes, tried for real: the kernel's own
W^X rule for a process (prctl PR_SET_MDWE, Linux 6.3+), which refuses memory
that is or becomes writable and executable as systemd's seccomp filter does,
set before `cardcore serve` starts. Under it the terminal makes a purchase
whose PIN goes through the USB-HID driver (pyusb, the PIN block's
cryptography), and pyusb opens the real libusb through ctypes."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deploy.helpers import need
from tests.integration.test_usb_pinpad import CONFIG

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
# Set the rule, then become the program: the rule is inherited across exec.
LAUNCH = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0:
    sys.exit("PR_SET_MDWE: " + os.strerror(ctypes.get_errno()))
os.execv(sys.argv[1], sys.argv[1:])
"""


def _mdwe_supported() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", LAUNCH, sys.executable, "-c", "pass"], capture_output=True
    )
    return probe.returncode == 0


def _under_mdwe(*args: str) -> list[str]:
    return [sys.executable, "-c", LAUNCH, sys.executable, *args]


@pytest.fixture(scope="module")
def mdwe() -> None:
    if not hasattr(ctypes, "CDLL") or not _mdwe_supported():
        pytest.skip("the kernel has no PR_SET_MDWE (Linux 6.3+)")


@pytest.mark.usefixtures("mdwe")
def test_the_rule_is_in_force() -> None:
    done = subprocess.run(
        _under_mdwe("-c", "import mmap; mmap.mmap(-1, 4096, prot=7)"),
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode != 0 and "Permission denied" in done.stderr


@pytest.mark.usefixtures("mdwe")
def test_a_purchase_with_the_usb_pin_pad(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.toml").write_text(CONFIG)
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        _under_mdwe("-m", "cardcore", "serve", "--simulator", "--port", "0",
                    "--data-dir", str(data), "--config", str(data / "config.toml"), "--acons"),
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        addr = data / "run" / "ecr.addr"
        deadline = time.monotonic() + 60
        while not addr.exists():
            assert serve.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()
            time.sleep(0.05)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "cardcore", *args, "--data-dir", str(data)],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip

        assert cli("sim", "present", "online-pin").returncode == 0
        done = cli("client", "transaction", "--type", "purchase", "--amount", "000000010000",
                   "--json")  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert '"pin-entered": "online"' in done.stdout
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        log.close()
    assert "USB PIN pad 1209:0001: serial EMU" in (tmp_path / "serve.log").read_text()


@pytest.mark.usefixtures("mdwe")
def test_libusb_through_ctypes() -> None:
    need(
        subprocess.run(["sh", "-c", "ldconfig -p | grep -q libusb-1.0"]).returncode == 0,
        "libusb-1.0 is not installed",
    )
    done = subprocess.run(
        _under_mdwe("-c", "import usb.core, usb.backend.libusb1 as b; backend = b.get_backend();"
                    " assert backend is not None; print(list(usb.core.find(find_all=True,"
                    " backend=backend)) is not None)"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
