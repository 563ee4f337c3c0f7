"""A terminal as tools/deploy/install.sh installs it: `cardcore serve` in
terminal mode with the deployed cardcore.toml. With no vendor key configured
it refuses activation, and says why: the activator prints the terminal's
error-stack for each step that failed, and the terminal's log has one line
with the reason. With the deployed file's commented `vendor-key-file` line
set, as the README's "Running on a terminal" says, the same activator
activates it. The deployed file, as shipped and with that line set, passes
`cardcore config check`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = ROOT / "tools" / "deploy" / "cardcore.toml"
TEST_VENDOR_PUBLIC = ROOT / "cardcore" / "provisioning" / "vendor-test-public.pem"
COMMENTED = '# vendor-key-file = "/etc/cardcore/vendor-key.pem"'
REASON = "no vendor key configured (provisioning.vendor-key-file)"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def installed_terminal(data: Path, config_text: str, activator_port: int) -> Iterator[Path]:
    """`cardcore serve` in terminal mode (no --simulator) on ``config_text``;
    yields the file its log goes to."""
    data.mkdir(parents=True)
    config = data.parent / "cardcore.toml"
    config.write_text(config_text + "\n[admin]\nscrypt-n = 1024\n")
    log = data.parent / "serve.log"
    serve = subprocess.Popen(
        [BIN / "cardcore", "serve", "--config", config, "--data-dir", data,
         "--listen", "127.0.0.1", "--port", "0", "--activator-port", str(activator_port),
         "--acons"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (data / "run" / "ecr.addr").exists():
            assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield log
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0, log.read_text()


def _activate(data: Path, activator_port: int, pki: Path) -> subprocess.CompletedProcess[str]:
    port = (data / "run" / "ecr.addr").read_text().split()[1]
    return subprocess.run(
        [BIN / "cardcore-activator", "--port", port, "--activator-port", str(activator_port),
         "--pki", pki, "--tms-url", "https://127.0.0.1:9/"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_no_vendor_key_refuses_activation_and_says_why(tmp_path: Path) -> None:
    deployed = DEPLOYED.read_text()
    port = _free_port()
    with installed_terminal(tmp_path / "data", deployed, port) as log:
        refused = _activate(tmp_path / "data", port, tmp_path / "pki")
        logged = log.read_text()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    lines = refused.stdout.splitlines()
    assert lines[0] == "runreset: verificationfailed; reset: verificationfailed; sn: None"
    for step in ("reset", "runreset"):
        assert sum(line.startswith(f"{step}: error: {REASON}") for line in lines) == 1, lines
    assert len(lines) == 3, lines
    reasons = [line for line in logged.splitlines() if REASON in line]
    assert len(reasons) == 1, logged
    assert "WARNING" in reasons[0] and "activation failed: " + REASON in reasons[0]
    assert "BEGIN" not in logged  # no key material in the log

    # The README's step: the vendor's public key, named by the deployed line.
    assert COMMENTED in deployed.splitlines()
    key = tmp_path / "vendor-key.pem"
    shutil.copyfile(TEST_VENDOR_PUBLIC, key)  # the half of the activator's TEST key
    configured = deployed.replace(COMMENTED, f'vendor-key-file = "{key}"')
    port = _free_port()
    with installed_terminal(tmp_path / "again", configured, port):
        done = _activate(tmp_path / "again", port, tmp_path / "pki")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("runreset: ok; reset: ok; sn: ")
    assert "error" not in done.stdout


def test_the_deployed_configuration_checks(tmp_path: Path) -> None:
    configured = tmp_path / "cardcore.toml"
    configured.write_text(DEPLOYED.read_text().replace(COMMENTED, COMMENTED[2:]))
    for path in (DEPLOYED, configured):
        check = subprocess.run(
            [BIN / "cardcore", "config", "check", path], capture_output=True, text=True
        )
        assert (check.returncode, check.stdout) == (0, f"{path}: valid\n"), check.stderr
    show = subprocess.run(
        [BIN / "cardcore", "config", "show", "--config", configured],
        capture_output=True, text=True,
    )  # fmt: skip
    assert 'vendor-key-file = "/etc/cardcore/vendor-key.pem"' in show.stdout
