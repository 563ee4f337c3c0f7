"""Packet framing (manual «Формат данных»; docs/protocol-decisions.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardcore.protocol.framing import FrameDecoder, FramingError, encode_frame
from cardcore.protocol.status import status_of


def test_encode_is_big_endian_length_then_body() -> None:
    assert encode_frame(b"<a/>") == b"\x00\x00\x00\x04<a/>"
    assert encode_frame(b"x" * 0x0102)[:4] == b"\x00\x00\x01\x02"


@pytest.mark.parametrize("size", [0, 65537])
def test_encode_refuses_empty_and_oversized(size: int) -> None:
    with pytest.raises(FramingError):
        encode_frame(b"x" * size, max_packet=65536)


def test_decode_byte_by_byte_and_several_per_chunk() -> None:
    stream = encode_frame(b"<a/>") + encode_frame(b"<bb/>") + encode_frame(b"<c/>")
    decoder = FrameDecoder()
    out: list[bytes] = []
    for i in range(len(stream)):
        out += decoder.feed(stream[i : i + 1])
    assert out == [b"<a/>", b"<bb/>", b"<c/>"]
    assert FrameDecoder().feed(stream) == out


@pytest.mark.parametrize(
    "header", [b"\x00\x00\x00\x00", b"\xff\xff\xff\xf0", b"\x00\x01\x00\x01", b"\x80\x00\x00\x00"]
)
def test_bad_lengths_refused_before_any_body_is_buffered(header: bytes) -> None:
    decoder = FrameDecoder(max_packet=65536)
    with pytest.raises(FramingError) as info:
        decoder.feed(header)
    assert status_of(info.value) == "formaterror"
    assert decoder.pending == 0
    with pytest.raises(FramingError):
        decoder.feed(b"<a/>")


def test_limit_is_inclusive() -> None:
    assert FrameDecoder(max_packet=5).feed(b"\x00\x00\x00\x05hello") == [b"hello"]
    with pytest.raises(FramingError):  # a whole packet in one chunk is checked alike
        FrameDecoder(max_packet=5).feed(b"\x00\x00\x00\x06hello!")


def test_partial_packet_is_pending() -> None:
    decoder = FrameDecoder()
    assert not decoder.in_packet
    assert decoder.feed(b"\x00") == [] and decoder.in_packet and decoder.expected is None
    assert decoder.feed(b"\x00\x00\x05") == [] and decoder.in_packet  # the length alone
    assert decoder.feed(b"he") == []
    assert decoder.pending == 2 and decoder.in_packet and decoder.expected == 5
    assert decoder.feed(b"llo") == [b"hello"]
    assert decoder.pending == 0 and not decoder.in_packet and decoder.expected is None


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=10), st.integers(1, 50))
def test_roundtrip_any_chunking(payloads: list[bytes], chunk: int) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    out: list[bytes] = []
    for i in range(0, len(stream), chunk):
        out += decoder.feed(stream[i : i + chunk])
    assert out == payloads


@given(st.binary(max_size=400))
def test_garbage_decodes_or_raises_framing_error(data: bytes) -> None:
    decoder = FrameDecoder(max_packet=1000)
    try:
        for packet in decoder.feed(data):
            assert 1 <= len(packet) <= 1000
    except FramingError:
        pass
    assert decoder.pending <= 1004
