"""The ECR session's rules without trio or sockets: bytes in, events out, time
handed in (cardcore.protocol.session)."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardcore.protocol.session import (
    NEED_DATA,
    STATES,
    TRANSITIONS,
    Answered,
    Cancel,
    Closed,
    CommandReceived,
    EcrSession,
    KeepaliveDue,
    Limits,
    PacketReceived,
    ProtocolError,
    ProtocolStateError,
    State,
    Trigger,
)
from cardcore.protocol.xmlcodec import Message

LIMITS = Limits(max_packet=1024, idle_timeout=60, frame_timeout=10, answer_timeout=20)


def frame(xml: bytes) -> bytes:
    return struct.pack(">I", len(xml)) + xml


PING = b"<ping/>"


def command(session: EcrSession, now: float = 0) -> None:
    session.receive_data(frame(PING), now)
    assert session.next_event() == CommandReceived(PING)


def test_a_command_then_its_answer_then_idle_again() -> None:
    session = EcrSession(LIMITS, now=0)
    assert session.next_event() is NEED_DATA and session.state is State.IDLE
    command(session)
    assert session.state is State.COMMAND and session.next_event() is NEED_DATA
    assert session.deadline() == math.inf  # a running command has no timeout of its own
    session.answered(now=5)
    assert session.state is State.IDLE and session.deadline() == 5 + LIMITS.idle_timeout


def test_a_packet_in_pieces_and_pipelined_commands() -> None:
    session = EcrSession(LIMITS, now=0)
    data = frame(b"<a/>") + frame(b"<b/>")
    session.receive_data(data[:3], now=0)
    assert session.next_event() is NEED_DATA
    session.receive_data(data[3:], now=1)
    assert session.next_event() == CommandReceived(b"<a/>")
    # The second waits for the first command's end.
    assert session.next_event() is NEED_DATA and session.has_packet
    session.answered(now=2)
    assert session.next_event() == CommandReceived(b"<b/>")


@given(st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=8), st.data())
def test_any_chunking_gives_the_same_commands(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    session = EcrSession(LIMITS, now=0)
    seen: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        if start == end:
            continue  # (no bytes is the end of input)
        session.receive_data(stream[start:end], now=0)
        while isinstance(event := session.next_event(), CommandReceived):
            seen.append(event.packet)
            session.answered(now=0)
    assert seen == payloads


def test_the_idle_timeout_closes() -> None:
    session = EcrSession(LIMITS, now=0)
    assert session.time_passed(59.9) is None
    assert session.time_passed(60) == Closed("idle") and session.state is State.CLOSED


def test_a_packet_must_be_complete_within_the_frame_timeout_of_its_first_byte() -> None:
    session = EcrSession(LIMITS, now=0)
    packet = frame(PING)
    for i, byte in enumerate(packet[:-1]):  # a byte every 2 s: slow-loris
        session.receive_data(bytes([byte]), now=100 + 2 * i)
        if session.deadline() <= 100 + 2 * i:
            break
    assert session.deadline() == 100 + LIMITS.frame_timeout
    event = session.time_passed(100 + LIMITS.frame_timeout)
    assert isinstance(event, ProtocolError) and "not completed within 10 s" in event.reason
    assert session.state is State.CLOSED


def test_the_length_alone_opens_a_packet() -> None:
    session = EcrSession(LIMITS, now=0)
    session.receive_data(b"\x00\x00\x00\x07", now=3)
    assert session.deadline() == 3 + LIMITS.frame_timeout


def test_bad_framing_is_a_protocol_error() -> None:
    session = EcrSession(LIMITS, now=0)
    session.receive_data(b"\x00\x00\x00\x00", now=0)
    event = session.next_event()
    assert isinstance(event, ProtocolError) and "zero length" in event.reason
    assert session.state is State.CLOSED


def test_end_of_input_while_idle_or_while_a_command_talks() -> None:
    idle = EcrSession(LIMITS, now=0)
    idle.receive_data(b"", now=1)
    assert idle.next_event() == Closed("end of input")
    talking = EcrSession(LIMITS, now=0)
    command(talking)
    talking.asked("display", now=1)
    talking.receive_data(b"", now=2)
    assert talking.next_event() == Cancel("cancelled", "client disconnected")
    talking.answered(now=3)  # the command ends; nothing is left to answer
    assert talking.state is State.CLOSED


def _asking(name: str = "display") -> EcrSession:
    session = EcrSession(LIMITS, now=0)
    command(session)
    session.asked(name, now=1)
    assert session.state is State.ASKING and session.deadline() == 1 + LIMITS.answer_timeout
    return session


@pytest.mark.parametrize(
    ("asked", "answer", "verdict"),
    [
        ("display", Message("display", {"status": "ok"}), None),
        ("display", Message("display", {"status": "notimplemented"}), None),
        ("display", Message("display", {"status": "cancelled"}), "cancelled"),
        ("display", Message("keepalive", {"status": "ok"}), "formaterror"),
        ("display", None, "formaterror"),
        ("keepalive", Message("keepalive", {"status": "ok"}), None),
        ("keepalive", Message("keepalive", {"status": "cancelled"}), "cancelled"),
        ("keepalive", Message("keepalive", {"status": "failed"}), None),
        ("keepalive", Message("keepalive", {"status": "notimplemented"}), None),
    ],
)
def test_answers_are_judged(asked: str, answer: Message | None, verdict: str | None) -> None:
    session = _asking(asked)
    session.receive_data(frame(b"<x/>"), now=2)
    assert session.next_event() == PacketReceived(b"<x/>")  # the caller decodes it
    outcome = session.answer(answer, now=2, problem="not XML")
    if verdict is None:
        assert outcome == Answered(answer)
    else:
        assert isinstance(outcome, Cancel) and outcome.status == verdict
    assert session.state is State.COMMAND


def test_a_missing_answer_cancels_with_timeout() -> None:
    session = _asking()
    assert session.time_passed(20.9) is None
    event = session.time_passed(21)
    assert isinstance(event, Cancel) and event.status == "timeout"
    assert "no answer to <display> within 20 s" in event.reason
    assert session.state is State.COMMAND


def test_keepalives_fall_due_every_interval_after_each_answer() -> None:
    session = EcrSession(LIMITS, now=0)
    command(session)
    session.keep_alive(every=5, first_after=5, now=0)
    assert session.time_passed(4.9) is None and session.deadline() == 5
    assert session.time_passed(5) == KeepaliveDue()
    assert session.deadline() == math.inf  # one at a time
    session.asked("keepalive", now=5)
    session.answer(Message("keepalive", {"status": "ok"}), now=6)
    assert session.deadline() == 11
    session.answered(now=7)
    assert session.deadline() == 7 + LIMITS.idle_timeout  # keepalives end with the command


def test_the_table_refuses_what_the_state_does_not_allow() -> None:
    session = EcrSession(LIMITS, now=0)
    with pytest.raises(ProtocolStateError):
        session.answered(now=0)  # no command runs
    with pytest.raises(ProtocolStateError):
        session.asked("display", now=0)
    assert (State.IDLE, Trigger.ANSWER) not in TRANSITIONS
    assert all((state, Trigger.CLOSE) in TRANSITIONS for state in STATES)
