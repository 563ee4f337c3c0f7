"""`cardcore serve --simulator --ui-port`: the page's address in run/ui.addr
(written before ecr.addr, gone after a stop), and the options' usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import FAST, start_server, stop_server


def test_the_page_address_is_in_ui_addr(tmp_path: Path) -> None:
    served = start_server(tmp_path / "data", "--ui-port", "0", config=FAST)
    addr = served.data_dir / "run" / "ui.addr"
    try:
        host, port = addr.read_text().split()
        assert host == served.host == "127.0.0.1"
        assert int(port) not in (0, served.port)
        assert oct(addr.stat().st_mode & 0o777) == "0o600"
        page = httpx.get(f"http://{host}:{port}/", timeout=10)
        assert page.status_code == 200 and 'data-testid="keypad-ok"' in page.text
    finally:
        assert stop_server(served) == 0, served.log_text()
    assert not addr.exists()


def test_no_page_without_the_option(tmp_path: Path) -> None:
    served = start_server(tmp_path / "data", config=FAST)
    try:
        assert not (served.data_dir / "run" / "ui.addr").exists()
    finally:
        assert stop_server(served) == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--ui-port", "0"], "needs --simulator"),
        (["--simulator", "--ui-listen", "127.0.0.1"], "--ui-listen needs --ui-port"),
        (["--simulator", "--ui-port", "70000"], "--ui-port is 70000"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cardcore", "serve", *args, "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and says in result.stderr
    assert result.stderr.startswith("cardcore: ")
