"""The cash register's client library: why a connection failed, and the progress
of a large answer as it arrives."""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing

from cardcore.client import PROGRESS_FROM, ConnectError, EcrClient, EcrConnection, Session
from cardcore.protocol.framing import encode_frame
from cardcore.protocol.xmlcodec import Message, encode_message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_refused_connection_says_so() -> None:
    port = free_port()
    with pytest.raises(ConnectError) as caught:
        await EcrClient("127.0.0.1", port).command("getparameters")
    assert caught.value.message == f"cannot connect to 127.0.0.1:{port}: Connection refused"


async def test_a_large_answer_reports_its_progress() -> None:
    report = Message("report", {"status": "ok", "xreport": {"line": ["x" * 100] * 20_000}})
    packet = encode_frame(encode_message(report), max_packet=1 << 24)
    assert len(packet) > PROGRESS_FROM
    seen: list[tuple[int, int]] = []
    client, server = trio.testing.memory_stream_pair()
    conn = EcrConnection(
        client, Session(), lambda m: {}, timeout=5, on_progress=lambda n, t: seen.append((n, t))
    )
    async with trio.open_nursery() as nursery:

        async def send() -> None:
            for start in range(0, len(packet), 65536):
                await server.send_all(packet[start : start + 65536])

        nursery.start_soon(send)
        answer = await conn.receive()
    assert answer.body["xreport"] == report.body["xreport"]
    total = len(packet) - 4
    assert seen and {t for _, t in seen} == {total}
    counts = [n for n, _ in seen]
    assert counts == sorted(counts) and counts[-1] < total  # (the last chunk completes it)
