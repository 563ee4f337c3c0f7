"""The in-process terminal the tests and benchmarks drive: a transaction's
connection is closed after its answer, so that the terminal frees the slot
at once and a long run of them never fills its connection table."""

from __future__ import annotations

from pathlib import Path

import trio

from tests.cardcore.harness import simulated_terminal


async def test_a_transaction_gives_its_connection_back(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        for _ in range(3):
            answer = await h.transaction(type="purchase", amount="000000001000")
            assert answer.status == "ok"
            with trio.fail_after(5):
                while h.server.connections:  # noqa: ASYNC110 - the server ends it in its own task
                    await trio.sleep(0.01)
        # An idle connection is given back only when it times out: the slot
        # above was freed by the close, not by the end of the test.
        h.connect()
        await trio.sleep(0.2)
        assert h.server.connections == 1
