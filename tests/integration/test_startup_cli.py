"""`cardcore serve` that cannot start: one line `cardcore: …` on stderr and exit
code 2 (docs/conventions.md), never a traceback. The log goes to the console (--acons)
here, so its records (timestamped) are told apart from what the command says."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def serve(data_dir: Path, *args: str, config: str = "") -> tuple[int, str]:
    """Exit code and the one line the command printed (besides log records)."""
    command = [sys.executable, "-m", "cardcore", "serve", "--simulator", "--acons"]
    command += ["--data-dir", str(data_dir), *args]
    if config:
        path = data_dir.parent / f"{data_dir.name}.toml"
        path.write_text(config)
        command += ["--config", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    said = [line for line in done.stderr.splitlines() if not _LOG_RECORD.match(line)]
    assert len(said) == 1, done.stderr
    return done.returncode, said[0]


def test_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code, line = serve(tmp_path / "d", "--port", str(port))
    assert (code, line) == (
        2,
        f"cardcore: cannot start: ECR listener 127.0.0.1:{port}: Address already in use",
    )


def test_an_address_that_cannot_be_bound(tmp_path: Path) -> None:
    code, line = serve(tmp_path / "d", "--listen", "10.255.255.1", "--port", "0")
    assert code == 2
    assert line.startswith("cardcore: cannot start: ECR listener 10.255.255.1:0: ")


@pytest.mark.parametrize("port", ["-1", "65536"])
def test_a_port_out_of_range(tmp_path: Path, port: str) -> None:
    code, line = serve(tmp_path / "d", "--port", port)
    assert (code, line) == (2, f"cardcore: option --port is {port}; allowed: 0 to 65535")
    assert not (tmp_path / "d").exists()  # refused before anything was touched


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            '[terminal]\ncurrency = "RUB"\n',
            "cardcore: configuration key 'terminal.currency' is 'RUB';"
            " allowed: a 3-digit ISO 4217 numeric currency code",
        ),
        (
            "[admin]\nlockout-initial = -5\n",
            "cardcore: configuration key 'admin.lockout-initial' is -5; allowed: 1 to 86400",
        ),
        (
            "[server]\nport = 65536\n",
            "cardcore: configuration key 'server.port' is 65536; allowed: 0 to 65535",
        ),
    ],
)
def test_a_configuration_value_out_of_range(tmp_path: Path, config: str, expected: str) -> None:
    assert serve(tmp_path / "d", config=config) == (2, expected)


@pytest.mark.parametrize("content", [b"", b"garbage{"])
def test_a_damaged_password_file(tmp_path: Path, content: bytes) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "admin.json").write_bytes(content)
    code, line = serve(data, "--port", "0", config="[admin]\nscrypt-n = 1024\n")
    assert code == 2
    assert line.startswith(f"cardcore: cannot start: the administrator password file {data}/")
    assert "delete it to go back to the factory password 12345678" in line
