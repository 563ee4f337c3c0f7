# Strategy: the transport frame of the acquirer link (docs/architecture.md:
# ISO 8583 over TCP with a 2-byte length header). Each message is preceded by
# its length as an unsigned 16-bit big-endian integer, header excluded. Sans-I/O
# like h11: `Framer.feed()` takes whatever bytes arrived, `next_frame()`
# yields complete payloads; a length of zero or over the configured limit is
# refused as soon as the two length bytes are seen, before the body is read,
# and the framer stays broken afterwards (the connection must be dropped).
from __future__ import annotations

from acquirers.errors import FramingError

__all__ = ["HEADER_SIZE", "MAX_FRAME", "Framer", "frame"]

HEADER_SIZE = 2
MAX_FRAME = 0xFFFF


def frame(payload: bytes, max_size: int = MAX_FRAME) -> bytes:
    """Prefix ``payload`` with its 2-byte big-endian length."""
    if not payload:
        raise FramingError("empty ISO 8583 frame")
    if len(payload) > min(max_size, MAX_FRAME):
        raise FramingError(
            f"ISO 8583 frame of {len(payload)} bytes exceeds {min(max_size, MAX_FRAME)}"
        )
    return len(payload).to_bytes(HEADER_SIZE, "big") + payload


class Framer:
    """Reassembles length-prefixed frames from a byte stream."""

    def __init__(self, max_size: int = MAX_FRAME) -> None:
        if not 1 <= max_size <= MAX_FRAME:
            raise ValueError("max_size must be 1..65535")
        self.max_size = max_size
        self._buffer = bytearray()
        self._error: FramingError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """The next complete payload, or None until more bytes are fed."""
        if self._error is not None:
            raise self._error
        if len(self._buffer) < HEADER_SIZE:
            return None
        length = int.from_bytes(self._buffer[:HEADER_SIZE], "big")
        if length == 0 or length > self.max_size:
            self._error = FramingError(
                "empty ISO 8583 frame"
                if length == 0
                else f"ISO 8583 frame of {length} bytes exceeds {self.max_size}"
            )
            self._buffer.clear()
            raise self._error
        if len(self._buffer) < HEADER_SIZE + length:
            return None
        payload = bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + length])
        del self._buffer[: HEADER_SIZE + length]
        return payload
