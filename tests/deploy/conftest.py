"""The wheels of the image, built once per test run by install.sh itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.helpers import INSTALL

# pyscard builds from source (no Linux wheels): only where libpcsclite is, as in the Makefile.
PCSC = (
    bool(shutil.which("pkg-config"))
    and subprocess.run(["pkg-config", "--exists", "libpcsclite"], check=False).returncode == 0
)
EXTRAS = "pcsc,usb" if PCSC else "usb"


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheelhouse")
    done = subprocess.run(
        ["sh", str(INSTALL), "--build-wheelhouse", str(wheels), "--extras", EXTRAS],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(wheels.glob("cardcore-*.whl")) and list(wheels.glob("pip-*.whl"))
    return wheels
