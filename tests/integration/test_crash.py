"""Fault injection: the terminal is killed (SIGKILL) after a financial request
left and before the host answered. The host simulator runs in the test, so it
outlives the terminal; after a restart the stored reversal must reach the
host, and the journal and the host ledger must agree."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import trio

from cardcore.client import ClientError, EcrClient
from simulators.host.server import HostSimulator
from simulators.simulator import Simulator
from simulators.testkeys import load_test_keys
from tests.integration.conftest import Served, start_server, stop_server
from tests.integration.test_transactions import CONFIG, PURCHASE


def _rows(data_dir: Path, sql: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(f"file:{data_dir / 'journal.sqlite'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def test_kill_after_the_request_left(tmp_path: Path) -> None:
    sim = Simulator()
    host = HostSimulator(
        ledger=sim._ledger(),
        card_authenticator=Simulator._authenticator(),
        default_keys=load_test_keys(),
    )
    host.control.delay = 60.0  # book the 0200, then sit on the answer
    data = tmp_path / "data"
    async with trio.open_nursery() as nursery:
        port = await nursery.start(host.serve)
        config = CONFIG + f'\n[acquirer.main]\nhost = "127.0.0.1"\nport = {port}\n'
        served: Served = await trio.to_thread.run_sync(lambda: start_server(data, config=config))
        outcome: list[object] = []

        async def purchase() -> None:
            client = EcrClient(served.host, served.port, timeout=60)
            try:
                outcome.append(await client.command("transaction", PURCHASE))
            except ClientError as exc:
                outcome.append(exc)

        nursery.start_soon(purchase)
        with trio.fail_after(30):
            while not host.ledger.batches:  # noqa: ASYNC110 - the host books in its own task
                await trio.sleep(0.05)
        served.process.kill()  # SIGKILL: no clean-up of any kind
        served.process.wait()
        with trio.fail_after(10):
            while not outcome:  # noqa: ASYNC110
                await trio.sleep(0.05)
        assert isinstance(outcome[0], ClientError)

        (booked,) = [t for b in host.ledger.batches.values() for t in b.transactions.values()]
        assert booked.response_code == "00" and booked.reversed_amount == 0
        rows = _rows(data, "SELECT state FROM transactions")
        assert [r["state"] for r in rows] == ["online"]
        assert len(_rows(data, "SELECT * FROM pending WHERE kind = 'reversal'")) == 1

        host.control.delay = 0.0
        served = await trio.to_thread.run_sync(lambda: start_server(data, config=config))
        try:
            with trio.fail_after(30):
                while _rows(data, "SELECT * FROM pending"):  # noqa: ASYNC110
                    await trio.sleep(0.05)
            assert booked.reversed_amount == booked.amount
            (row,) = _rows(data, "SELECT state, tstatus FROM transactions")
            assert (row["state"], row["tstatus"]) == ("cancelled", "declined")
            # and the terminal works on: a new purchase is approved and booked once
            client = EcrClient(served.host, served.port, timeout=60)
            answer = await client.command("transaction", PURCHASE)
            assert answer.body["receipt"]["tstatus"] == "approved"
            net = sum(
                t.amount - t.reversed_amount
                for b in host.ledger.batches.values()
                for t in b.transactions.values()
                if t.response_code == "00"
            )
            assert net == int(PURCHASE["amount"])
        finally:
            assert await trio.to_thread.run_sync(stop_server, served) == 0
        nursery.cancel_scope.cancel()
