"""`smartcard` `retry` with the card left in the field, tried from outside
against `cardcore serve --simulator`: the terminal once sent `newcard` about
10,500 times in 3 s; now it waits for the card to leave, with a back-off."""

from __future__ import annotations

import itertools
from pathlib import Path

import trio

from cardcore.client import EcrClient, default_message_answer
from cardcore.engine.detection import RETRY_BACKOFF
from cardcore.protocol.xmlcodec import Body, Message
from tests.integration.conftest import FAST, sim, start_server, stop_server

CONFIG = FAST + "[transaction]\ndetection-timeout = 3\n[interfaces]\nmifare = true\n"


async def test_retry_with_the_card_left_does_not_flood(tmp_path: Path) -> None:
    served = start_server(tmp_path / "data", config=CONFIG)
    try:
        sim(served.data_dir, "present", "mifare-classic", "--interface", "contactless")
        times: list[float] = []

        def answer(message: Message) -> Body:
            if message.name == "smartcard":
                times.append(trio.current_time())
                return {"command": "retry"}
            return default_message_answer(message)

        client = EcrClient(served.host, served.port, on_message=answer, timeout=30)
        body = {"type": "purchase", "amount": "000000001500"}
        result = await client.command("transaction", body)
        assert result.status == "notdetected"
        # 3 s of detection: newcard at 0, 0.5 and 1.5 s (then 3.5, past the timeout).
        assert 2 <= len(times) <= 4, len(times)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= RETRY_BACKOFF * 0.8 for gap in gaps), gaps
        # The card taken away and tapped again is offered at once.
        times.clear()

        retried = trio.Event()

        def end_on_second(message: Message) -> Body:
            if message.name != "smartcard":
                return default_message_answer(message)
            times.append(trio.current_time())
            retried.set()
            if len(times) == 1:
                sim(served.data_dir, "remove")
                return {"command": "retry"}
            return {"command": "end", "indicator": "ok"}

        async def tap_again() -> None:
            await retried.wait()
            await trio.sleep(0.1)
            await trio.to_thread.run_sync(
                sim, served.data_dir, "present", "mifare-classic", "--interface", "contactless"
            )

        client = EcrClient(served.host, served.port, on_message=end_on_second, timeout=30)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tap_again)
            result = await client.command("transaction", body)
        assert result.status == "cancelled"  # the register handled the card (`end`)
        assert len(times) == 2
    finally:
        assert stop_server(served) == 0, served.log_text()
