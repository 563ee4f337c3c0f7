"""`cardcore client sethostkey` against a real `cardcore serve --simulator`
with the simulated SAM, over the secure channel; the key reaches neither the
log nor the key store file in clear."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import FAST, start_server, stop_server

KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")  # TEST ONLY
CONFIG = FAST + '[[sam.host-key]]\nname = "hkey1"\nentry = 3\n'


def client(port: int, session: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardcore", "client", *args, "--port", str(port),
         "--session", str(session), "--secure", "--xml"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_sethostkey_from_the_command_line(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", config=CONFIG)
    try:
        session = tmp_path / "session.json"
        material = tmp_path / "hostkey.b64"
        material.write_text(base64.b64encode(KEY).decode() + "\n")
        assert client(server.port, session, "login").returncode == 0
        result = client(
            server.port, session, "sethostkey", "--name", "hkey1", "--material-file", str(material)
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "<status>ok</status>" in result.stdout
    finally:
        assert stop_server(server) == 0
    log = server.log_text()
    assert "SAM host key 'hkey1' stored (KCV" in log
    assert "loaded into simulated SAM SIMSAM01 entry 3 version 0" in log
    for secret in (KEY.hex(), KEY.hex().upper(), base64.b64encode(KEY).decode()):
        assert secret not in log
        assert secret not in (tmp_path / "data" / "keys.json").read_text()
