# Strategy: packet framing of the ECR manual («Формат данных»): four binary
# length bytes, most significant first, then that many bytes of XML. Lengths of
# 0 or above the configured limit are refused as soon as the four length bytes
# are in, before any of the body is read or buffered
# (docs/protocol-decisions.md). Sans-I/O: feed bytes, take whole packets out.
from __future__ import annotations

import struct

from base.errors import CardcoreError

__all__ = [
    "ACTIVATOR_MAX_PACKET",
    "DEFAULT_MAX_PACKET",
    "FrameDecoder",
    "FramingError",
    "encode_frame",
    "encode_frame_signed_safe",
]

DEFAULT_MAX_PACKET = 64 * 1024
HEADER = 4


class FramingError(CardcoreError):
    """Bad packet length."""


def encode_frame(payload: bytes, max_packet: int = DEFAULT_MAX_PACKET) -> bytes:
    if not payload:
        raise FramingError("empty packet")
    if len(payload) > max_packet:
        raise FramingError(f"packet of {len(payload)} bytes exceeds the {max_packet}-byte limit")
    return _LENGTH(len(payload)) + payload


_HEAD = struct.Struct(">I")  # the 4-byte big-endian length
_LENGTH = _HEAD.pack
_READ_LENGTH = _HEAD.unpack_from


# The activator of a real management server reads the four length bytes as
# signed Java bytes and refuses lengths over 8096 (issue 8).
ACTIVATOR_MAX_PACKET = 8096


def encode_frame_signed_safe(payload: bytes, limit: int = ACTIVATOR_MAX_PACKET) -> bytes:
    """Frame ``payload`` for a peer that reads the length bytes as signed:
    trailing spaces (insignificant after the XML root) are added until no
    length byte is 0x80 or more; the packet stays under ``limit`` bytes."""
    length = len(payload)
    while any(b >= 0x80 for b in length.to_bytes(HEADER, "big")):
        length += 1
    if not payload or length >= limit:
        raise FramingError(f"packet of {len(payload)} bytes is too long for the activator")
    return length.to_bytes(HEADER, "big") + payload + b" " * (length - len(payload))


class FrameDecoder:
    """Accumulates stream bytes and yields complete packets.

    Never holds more than ``max_packet + 4`` bytes: a length outside 1..max_packet
    raises FramingError immediately and the decoder is then unusable.
    """

    def __init__(self, max_packet: int = DEFAULT_MAX_PACKET) -> None:
        self.max_packet = max_packet
        self._buffer = bytearray()
        self._expected: int | None = None
        self._broken = False

    @property
    def pending(self) -> int:
        """Bytes of an incomplete packet's body or length held."""
        return len(self._buffer)

    @property
    def expected(self) -> int | None:
        """The length of the packet being read, once its length bytes are in."""
        return self._expected

    @property
    def in_packet(self) -> bool:
        """A packet has begun and is not complete (its length alone counts)."""
        return self._expected is not None or bool(self._buffer)

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        if self._broken:
            raise FramingError("stream already failed framing")
        if self._expected is None and not self._buffer:
            # The common case: the chunk is exactly one whole packet.
            length = len(data) - HEADER
            if 0 < length <= self.max_packet and _READ_LENGTH(data)[0] == length:
                return [bytes(data[HEADER:])]
        packets: list[bytes] = []
        view = memoryview(data)
        while view:
            if self._expected is None:
                need = HEADER - len(self._buffer)
                self._buffer += view[:need]
                view = view[need:]
                if len(self._buffer) < HEADER:
                    break
                length = int.from_bytes(self._buffer, "big")
                self._buffer.clear()
                if length == 0 or length > self.max_packet:
                    self._broken = True
                    what = "zero length" if length == 0 else f"length {length}"
                    raise FramingError(
                        f"packet refused: {what} (allowed 1..{self.max_packet} bytes)"
                    )
                self._expected = length
            need = self._expected - len(self._buffer)
            self._buffer += view[:need]
            view = view[need:]
            if len(self._buffer) == self._expected:
                packets.append(bytes(self._buffer))
                self._buffer.clear()
                self._expected = None
        return packets
