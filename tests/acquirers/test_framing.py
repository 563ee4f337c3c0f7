"""2-byte length framing, request/response matching, STAN and RRN."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquirers.errors import FramingError, Iso8583Error, MessageBuildError
from acquirers.iso8583.codec import IsoMessage
from acquirers.iso8583.framing import Framer, frame
from acquirers.iso8583.matching import is_response_to, match_key, response_mti
from acquirers.iso8583.stan import MemoryStanSource, format_stan, is_rrn, make_rrn, next_stan

H = bytes.fromhex


# ---------------------------------------------------------------- framing
@pytest.mark.parametrize(
    ("payload", "framed"),
    [(b"\x08\x00", "00020800"), (b"A" * 300, "012C" + "41" * 300)],
)
def test_frame_case_table(payload: bytes, framed: str) -> None:
    assert frame(payload) == H(framed)
    framer = Framer()
    framer.feed(H(framed))
    assert framer.next_frame() == payload
    assert framer.next_frame() is None


def test_frame_refuses_empty_and_over_long_payloads() -> None:
    with pytest.raises(FramingError, match="empty"):
        frame(b"")
    with pytest.raises(FramingError, match="exceeds 100"):
        frame(b"x" * 101, max_size=100)
    with pytest.raises(FramingError):
        frame(b"x" * 65536)


def test_framer_refuses_over_long_frame_before_the_body() -> None:
    framer = Framer(max_size=1024)
    framer.feed(H("0401"))  # 1025: refused from the two length bytes alone
    with pytest.raises(FramingError, match="1025 bytes exceeds 1024"):
        framer.next_frame()
    with pytest.raises(FramingError):  # and stays broken
        framer.feed(b"more")


def test_framer_refuses_zero_length() -> None:
    framer = Framer()
    framer.feed(H("0000"))
    with pytest.raises(FramingError, match="empty"):
        framer.next_frame()


def test_framer_waits_for_partial_input() -> None:
    framer = Framer()
    framer.feed(H("00"))
    assert framer.next_frame() is None
    framer.feed(H("0341"))
    assert framer.next_frame() is None
    framer.feed(H("4243") + H("0001"))
    assert framer.next_frame() == b"ABC"
    assert framer.next_frame() is None
    assert framer.buffered == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=300), max_size=8),
    st.lists(st.integers(0, 2500), max_size=10),
)
def test_frames_survive_any_chunking(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(p) for p in payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    framer = Framer()
    out = []
    for start, end in itertools.pairwise(points):
        framer.feed(stream[start:end])
        while (got := framer.next_frame()) is not None:
            out.append(got)
    assert out == payloads


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 600))
def test_any_bytes_frame_or_raise_the_protocol_error(data: bytes, limit: int) -> None:
    framer = Framer(max_size=limit)
    try:
        framer.feed(data)
        while (got := framer.next_frame()) is not None:
            assert 1 <= len(got) <= limit
    except FramingError:
        return


# ---------------------------------------------------------------- matching
def _msg(mti: str, stan: str = "000123", tid: str = "29110001", **extra: str) -> IsoMessage:
    fields: dict[int, str | bytes] = {11: stan, 41: tid}
    fields.update({int(k[1:]): v for k, v in extra.items()})
    return IsoMessage(mti, fields)


@pytest.mark.parametrize(
    ("request_mti", "response"),
    [
        ("0200", "0210"),
        ("0220", "0230"),
        ("0221", "0230"),
        ("0400", "0410"),
        ("0401", "0410"),
        ("0500", "0510"),
        ("0320", "0330"),
        ("0800", "0810"),
        ("0100", "0110"),
    ],
)
def test_response_mti_table(request_mti: str, response: str) -> None:
    assert response_mti(request_mti) == response


@pytest.mark.parametrize("mti", ["0210", "0230", "0410", "0810"])
def test_response_mti_refuses_responses(mti: str) -> None:
    with pytest.raises(Iso8583Error):
        response_mti(mti)


@pytest.mark.parametrize(
    ("req", "response", "matches"),
    [
        (_msg("0200"), _msg("0210"), True),
        (_msg("0200"), _msg("0210", tid="29110001"), True),
        (_msg("0200", tid="T1"), _msg("0210", tid="T1      "), True),  # ans padding
        (_msg("0200"), _msg("0210", stan="000124"), False),
        (_msg("0200"), _msg("0210", tid="29110002"), False),
        (_msg("0200"), _msg("0410"), False),  # other class, same STAN
        (_msg("0200"), _msg("0230"), False),  # same class, not this function
        (_msg("0401"), _msg("0410"), True),  # repeat answered by 0410
        (_msg("0400"), _msg("0410"), True),
        (_msg("0800"), _msg("0810"), True),
        (_msg("0200"), _msg("0200"), False),
    ],
)
def test_matching_on_mti_class_stan_tid(
    req: IsoMessage, response: IsoMessage, matches: bool
) -> None:
    assert is_response_to(req, response) is matches
    if matches:
        assert match_key(req) == match_key(response)


# ---------------------------------------------------------------- STAN / RRN
@pytest.mark.parametrize(("prev", "nxt"), [(0, 1), (1, 2), (41, 42), (999_998, 999_999)])
def test_next_stan(prev: int, nxt: int) -> None:
    assert next_stan(prev) == nxt


def test_stan_wraps_and_skips_zero() -> None:
    assert next_stan(999_999) == 1
    source = MemoryStanSource(last=999_998)
    assert [source.next_stan() for _ in range(3)] == ["999999", "000001", "000002"]


@pytest.mark.parametrize("bad", [-1, 1_000_000])
def test_stan_range(bad: int) -> None:
    with pytest.raises(MessageBuildError):
        next_stan(bad)
    with pytest.raises(MessageBuildError):
        format_stan(bad if bad > 0 else 0)


def test_rrn_layout() -> None:
    rrn = make_rrn(datetime(2025, 2, 3, 14, 5), "000042")
    assert rrn == "5034" + "14" + "000042"
    assert is_rrn(rrn) and not is_rrn("12345") and not is_rrn("50341400004 ")
    with pytest.raises(MessageBuildError):
        make_rrn(datetime(2025, 2, 3), "42")
