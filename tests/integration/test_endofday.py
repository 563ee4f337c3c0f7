"""End of day against a real `cardcore serve --simulator`, driven by the command
line (`cardcore client report|settlement|clear|testconnection|loadworkkeys`,
`cardcore sim host ...`): one server for the day's scenarios; and a SIGKILL between
the host's answer to the settlement and the journal update, with the host simulator
in the test so that it outlives the terminal."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from cardcore.client import ClientError, EcrClient
from cardcore.protocol.xmlcodec import Message, decode_error_stack, decode_message
from simulators.host.server import HostSimulator
from simulators.simulator import Simulator
from simulators.testkeys import load_test_keys
from tests.integration.conftest import Served, sim, start_server, stop_server
from tests.integration.test_transactions import CONFIG, PURCHASE

DAY_CONFIG = CONFIG + "[settlement]\ncutover = true\n"


@pytest.fixture(scope="module")
def terminal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_server(tmp_path_factory.mktemp("endofday") / "data", config=DAY_CONFIG)
    try:
        yield server
    finally:
        code = stop_server(server)
        assert code == 0, server.log_text()


def client(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardcore", "client", *args, "--port", str(served.port),
         "--session", str(served.data_dir / "cli-session.json"), "--xml"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def rows(data_dir: Path, sql: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(f"file:{data_dir / 'journal.sqlite'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def purchase(served: Served, amount: str = PURCHASE["amount"]) -> Message:
    answer = await EcrClient(served.host, served.port, timeout=60).command(
        "transaction", {**PURCHASE, "amount": amount}
    )
    return answer


async def test_a_day_from_the_command_line(terminal: Served, tmp_path: Path) -> None:
    for amount in ("000000010000", "000000002500"):
        assert (await purchase(terminal, amount)).body["receipt"]["tstatus"] == "approved"
    # the full report, written to a file
    out = tmp_path / "report.xml"
    done = client(terminal, "report", "--report-type", "full", "--output", str(out))
    assert done.returncode == 0, done.stderr
    xreport = decode_message(out.read_bytes()).body["xreport"]
    assert len(xreport["transactions"]["t"]) == 2
    assert xreport["grand-totals"]["total-sum"] == "D000000012500"
    # the host's batch holds a transaction the terminal does not know: batch upload
    assert sim(terminal.data_dir, "host", "mismatch")["mismatch"] is True
    done = client(terminal, "settlement")
    assert done.returncode == 0, done.stdout + done.stderr
    expected = (
        "<batch-upload>passed</batch-upload>",
        "<art-resp-code>00</art-resp-code>",
        "<cov-resp-code>00</cov-resp-code>",
        "<settlement-result>passed</settlement-result>",
        "<orig-amount>D000000012500</orig-amount>",
    )
    for tag in expected:
        assert tag in done.stdout, done.stdout
    sim(terminal.data_dir, "host", "agree")
    (closed,) = sim(terminal.data_dir, "ledger")["closed-batches"]
    assert (closed["batch"], closed["uploaded"]) == ("000001", 2)
    # the batch is archived: the report is empty
    done = client(terminal, "report")
    assert "<total-count>0</total-count>" in done.stdout
    # token commands
    assert client(terminal, "testconnection").returncode == 2  # not logged in: usage
    assert client(terminal, "login").returncode == 0
    done = client(terminal, "testconnection")
    assert done.returncode == 0 and "<status>ok</status>" in done.stdout
    done = client(terminal, "loadworkkeys")
    assert done.returncode == 0, done.stdout
    assert "<mac-change-receipt>" in done.stdout and "<net-change-receipt>" in done.stdout
    # the new working keys are in use: the host verifies the next MACs with them
    assert (await purchase(terminal)).body["receipt"]["tstatus"] == "approved"
    done = client(terminal, "clear")
    assert done.returncode == 0, done.stdout
    assert "<resp-code>000</resp-code>" in done.stdout
    batches = rows(terminal.data_dir, "SELECT number, state FROM batches ORDER BY id")
    assert [tuple(b) for b in batches] == [(1, "closed"), (2, "closed"), (3, "open")]


async def test_host_down_leaves_the_batch_open(terminal: Served) -> None:
    assert (await purchase(terminal)).body["receipt"]["tstatus"] == "approved"
    before = [tuple(r) for r in rows(terminal.data_dir, "SELECT * FROM transactions")]
    open_sql = "SELECT number FROM batches WHERE state = 'open'"
    (batch,) = [r["number"] for r in rows(terminal.data_dir, open_sql)]
    sim(terminal.data_dir, "host", "down")
    try:
        done = client(terminal, "settlement", "--password", "12345678")
        assert done.returncode == 3  # the terminal answered, with a failure
        assert "<status>communicationerror</status>" in done.stdout
        assert "error: cannot reach the acquirer: main host 127.0.0.1" in done.stdout
        assert "<settlement-result>failed</settlement-result>" in done.stdout
        wrong = client(terminal, "settlement", "--password", "00000000")
        assert "<status>notauthorized</status>" in wrong.stdout
    finally:
        sim(terminal.data_dir, "host", "approve")
    assert [tuple(r) for r in rows(terminal.data_dir, "SELECT * FROM transactions")] == before
    assert [r["number"] for r in rows(terminal.data_dir, open_sql)] == [batch]


async def test_kill_between_the_hosts_answer_and_the_journal(tmp_path: Path) -> None:
    simulator = Simulator()
    host = HostSimulator(
        ledger=simulator._ledger(),
        card_authenticator=Simulator._authenticator(),
        default_keys=load_test_keys(),
    )
    data = tmp_path / "data"
    async with trio.open_nursery() as nursery:
        port = await nursery.start(host.serve)
        config = CONFIG + f'\n[acquirer.main]\nhost = "127.0.0.1"\nport = {port}\n'
        served = await trio.to_thread.run_sync(lambda: start_server(data, config=config))
        answer = await purchase(served)
        assert answer.body["receipt"]["tstatus"] == "approved"
        host.control.delay = 60.0  # close the batch, then sit on the answer
        outcome: list[object] = []

        async def settle() -> None:
            try:
                outcome.append(
                    await EcrClient(served.host, served.port, timeout=60).command(
                        "settlement", {"password": "12345678"}
                    )
                )
            except ClientError as exc:
                outcome.append(exc)

        nursery.start_soon(settle)
        with trio.fail_after(30):
            while not host.ledger.closed_batches:  # noqa: ASYNC110 - the host works in its own task
                await trio.sleep(0.05)
        served.process.kill()  # SIGKILL: nothing after the host's answer reaches the journal
        served.process.wait()
        with trio.fail_after(10):
            while not outcome:  # noqa: ASYNC110
                await trio.sleep(0.05)
        assert isinstance(outcome[0], ClientError)
        assert len(host.ledger.closed_batches) == 1
        (row,) = rows(data, "SELECT state, attempts FROM settlements")
        assert (row["state"], row["attempts"]) == ("reconciling", 1)
        assert [tuple(r) for r in rows(data, "SELECT number, state FROM batches")] == [(1, "open")]

        host.control.delay = 0.0
        served = await trio.to_thread.run_sync(lambda: start_server(data, config=config))
        try:
            held = await purchase(served)
            assert held.status == "failed"
            assert (
                "settlement of batch 000001 is unfinished"
                in decode_error_stack(held.body["error-stack"])[0]
            )
            answer = await EcrClient(served.host, served.port, timeout=60).command(
                "settlement", {"password": "12345678"}
            )
            assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
            sreport = answer.body["sreport"]
            assert sreport["settlement-result"] == "passed"
            assert sreport["orig-amount"] == sreport["amount"] == "D" + PURCHASE["amount"]
            # closed once on each side
            assert len(host.ledger.closed_batches) == 1 and host.counts["replayed"] == 1
            assert [tuple(r) for r in rows(data, "SELECT number, state FROM batches")] == [
                (1, "closed"),
                (2, "open"),
            ]
            (row,) = rows(data, "SELECT state, attempts, outcome FROM settlements")
            assert tuple(row) == ("passed", 2, "in-balance")
            assert (await purchase(served)).body["receipt"]["tstatus"] == "approved"
        finally:
            assert await trio.to_thread.run_sync(stop_server, served) == 0
        nursery.cancel_scope.cancel()
