"""Simulator mode end to end: a real `cardcore serve --simulator` process, the
activator command line, then updateconfiguration and loadmasterkeys through
the ECR client protocol."""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from cardcore.protocol.xmlcodec import Message
from tests.cardcore.ecr import RawPeer
from tests.integration.conftest import Served


async def _command(served: Served, name: str, body: dict[str, str]) -> Message:
    peer = RawPeer(await trio.open_tcp_stream(served.host, served.port))
    async with peer.stream:
        return await peer.command(Message(name, body))


async def test_simulator_life_cycle_with_the_activator_cli(served: Served) -> None:
    activator = await trio.run_process(
        [sys.executable, "-m", "tools.activator", "--simulator-data-dir", str(served.data_dir)],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    out = activator.stdout.decode()
    assert activator.returncode == 0, (out, activator.stderr.decode(), served.log_text())
    assert out.startswith("runreset: ok; reset: ok; sn: 000000000001")
    assert "BEGIN CERTIFICATE" in out
    login = await _command(served, "login", {"password": "12345678"})
    token = str(login.body["token"])
    update = await _command(served, "updateconfiguration", {"token": token})
    assert update.status == "ok", served.log_text()
    keys = await _command(served, "loadmasterkeys", {"token": token})
    assert keys.status == "ok", served.log_text()
    params = (await _command(served, "getparameters", {"token": token})).body["parameters"]
    assert isinstance(params, dict)
    assert params["tid"] == "00000001" and params["tconf"] != "none"
