"""Test helpers: a raw ECR peer over any trio stream, independent of cardcore.client."""

from __future__ import annotations

import struct

import trio

from cardcore.protocol.xmlcodec import Message, decode_message, encode_message


class RawPeer:
    """Writes and reads length-prefixed packets exactly as the manual describes."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._buffer = b""

    async def send_bytes(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send_xml(self, xml: bytes) -> None:
        await self.stream.send_all(struct.pack(">I", len(xml)) + xml)

    async def send(self, message: Message) -> None:
        await self.send_xml(encode_message(message))

    async def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            try:
                chunk = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                chunk = b""
            if not chunk:
                return False
            self._buffer += chunk
        return True

    async def read_packet(self) -> bytes | None:
        """The next packet's body, or None at end of stream."""
        if not await self._fill(4):
            return None
        (length,) = struct.unpack(">I", self._buffer[:4])
        if not await self._fill(4 + length):
            return None
        body, self._buffer = self._buffer[4 : 4 + length], self._buffer[4 + length :]
        return body

    async def read(self) -> Message:
        packet = await self.read_packet()
        assert packet is not None, "connection closed"
        return decode_message(packet)

    async def at_eof(self) -> bool:
        return await self.read_packet() is None

    async def command(self, message: Message) -> Message:
        await self.send(message)
        return await self.read()
