"""Simulator mode end to end, the whole life cycle of a terminal: a real
`cardcore serve --simulator` process in factory state, the activator command
line (runreset/reset), then updateconfiguration, loadmasterkeys, loadworkkeys
and a purchase under the new working keys, all through the ECR protocol."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trio

from cardcore.protocol.xmlcodec import Message
from tests.cardcore.ecr import RawPeer
from tests.cardcore.harness import open_to_others
from tests.integration.conftest import Served, sim


async def _command(served: Served, name: str, body: dict[str, str]) -> Message:
    peer = RawPeer(await trio.open_tcp_stream(served.host, served.port))
    async with peer.stream:
        return await peer.command(Message(name, body))


async def test_simulator_life_cycle_with_the_activator_cli(served: Served, tmp_path: Path) -> None:
    # The installed command, run from outside the source tree.
    activator = await trio.run_process(
        [Path(sys.executable).with_name("cardcore-activator"), "--simulator-data-dir",
         served.data_dir],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        cwd=tmp_path,
    )  # fmt: skip
    out = activator.stdout.decode()
    assert activator.returncode == 0, (out, activator.stderr.decode(), served.log_text())
    assert out.startswith("runreset: ok; reset: ok; sn: 000000000001")
    assert "BEGIN CERTIFICATE" in out
    login = await _command(served, "login", {"password": "12345678"})
    token = str(login.body["token"])
    # The command line client for the two management commands.
    assert (await _cli(served, "login")).returncode == 0
    update = await _cli(served, "updateconfiguration")
    assert update.returncode == 0 and "<status>ok</status>" in update.stdout, served.log_text()
    keys = await _cli(served, "loadmasterkeys")
    assert keys.returncode == 0 and "kcv-method" in keys.stdout, (keys.stdout, served.log_text())
    params = (await _command(served, "getparameters", {"token": token})).body["parameters"]
    assert isinstance(params, dict)
    assert params["tid"] == "00000001" and params["tconf"] != "none"
    work = await _command(served, "loadworkkeys", {"token": token})
    assert work.status == "ok", served.log_text()
    assert work.body["mac-change-receipt"]["rrn"] and work.body["net-change-receipt"]["rrn"]
    import json

    from base.crypto.des import kcv_tdes
    from simulators.testkeys import load_test_keys

    stored = json.loads((served.data_dir / "keys.json").read_text())["keys"]
    initial = load_test_keys().working
    assert initial.tpk is not None and initial.tak is not None
    # New working keys replaced the initial ones (their KCVs are kept in clear).
    assert stored["tpk"]["kcv"] != kcv_tdes(initial.tpk).hex().upper()
    assert stored["tak"]["kcv"] != kcv_tdes(initial.tak).hex().upper()
    ledger_before = sim(served.data_dir, "ledger")
    purchase = await _transaction(served)
    receipt = purchase.body["receipt"]
    assert receipt["tstatus"] == "approved", purchase.body
    # The host checked the request's MAC (and would have declined with 63) under
    # the working keys it issued a moment ago.
    ledger_after = sim(served.data_dir, "ledger")
    assert len(ledger_after["transactions"]) == len(ledger_before["transactions"]) + 1
    # What activation, the updates and the purchase wrote (certificates, the
    # simulators' files, the journal and its WAL) is the service user's alone.
    assert open_to_others(served.data_dir) == []


async def _cli(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cardcore", "client", *args, "--port", str(served.port),
               "--session", str(served.data_dir / "cli-session.json"), "--xml"]  # fmt: skip
    return await trio.to_thread.run_sync(
        lambda: subprocess.run(command, capture_output=True, text=True, timeout=60)
    )


async def _transaction(served: Served) -> Message:
    from cardcore.client import EcrClient

    client = EcrClient(served.host, served.port, timeout=60)
    return await client.command("transaction", {"type": "purchase", "amount": "000000002500"})
