"""`python -m simulators.host` as a separate process, driven by the link."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import trio

from simulators.host import HostMode
from tests.acquirers.conftest import PAN, Env


async def _start(args: list[str]) -> tuple[trio.Process, int]:
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "simulators.host", "--port", "0", *args],
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    seen = b""
    with trio.fail_after(30):
        while (found := re.search(rb"listening on 127\.0\.0\.1:(\d+)", seen)) is None:
            chunk = await proc.stderr.receive_some(4096)
            assert chunk, seen.decode(errors="replace")
            seen += chunk
    return proc, int(found.group(1))


async def test_standalone_simulator_serves_the_link(env: Env, tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps([{"pan": PAN, "balance": 1_000, "pin": "1234"}]))
    proc, port = await _start(["--accounts", str(accounts), "--mode", HostMode.APPROVE.value])
    try:
        link = env.link(main=port)
        assert (await link.echo()).approved
        assert (await link.financial(env.purchase(600))).approved
        assert (await link.financial(env.purchase(600))).response_code == "51"
    finally:
        proc.kill()
        await proc.wait()


async def test_standalone_rejects_half_tls_configuration(tmp_path: Path) -> None:
    result = await trio.run_process(
        [sys.executable, "-m", "simulators.host", "--tls-cert", str(tmp_path / "x.pem")],
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 2 and b"--tls-key" in result.stderr
