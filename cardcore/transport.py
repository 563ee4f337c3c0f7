# Strategy: the byte streams an ECR connection runs on
# (docs/architecture.md): any trio stream (in-memory pairs in tests), or a connected TCP
# socket driven on trio's I/O primitives directly. A read that finds end of
# input or a broken link returns no bytes; a send to a peer that is gone
# raises Disconnected. Nothing here knows the protocol.
from __future__ import annotations

import socket
from typing import Protocol

import trio

__all__ = ["RECEIVE_SIZE", "Disconnected", "SocketTransport", "StreamTransport", "Transport"]

RECEIVE_SIZE = 65536


class Disconnected(Exception):
    pass


class Transport(Protocol):
    async def receive(self) -> bytes | bytearray:
        """The next bytes; empty at end of input or when the link broke."""

    async def send_all(self, data: bytes) -> None:
        """Raises Disconnected when the peer is gone."""

    async def aclose(self) -> None: ...


class StreamTransport:
    """Any trio stream (in-memory streams in tests, a wrapped stream)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    async def receive(self) -> bytes | bytearray:
        try:
            return await self.stream.receive_some(RECEIVE_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    async def send_all(self, data: bytes) -> None:
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise Disconnected from exc

    async def aclose(self) -> None:
        await self.stream.aclose()


class SocketTransport:
    """A connected TCP socket driven on trio's I/O primitives directly.

    trio.SocketStream adds to every call conflict checks, error translation
    and a scheduling round even when the kernel had the data at once: more
    than the whole work of a small command. Here a read waits until the socket
    is readable, then reads: one yield per read, which also keeps a client
    that sends command after command from starving the others, and a
    cancelled wait has taken no bytes. (A cash register sends its next command
    after our answer, so a read tried first would almost always fail.) A send
    that the kernel takes whole returns at once.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()  # (trio asks an object for it on every wait)

    async def receive(self) -> bytes | bytearray:
        sock = self.sock
        while True:
            await trio.lowlevel.wait_readable(self.fd)
            try:
                return sock.recv(RECEIVE_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                return b""

    async def send_all(self, data: bytes) -> None:
        sock = self.sock
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise Disconnected from exc
        if sent == len(data):
            return
        with memoryview(data) as view:
            while sent < len(view):
                await trio.lowlevel.wait_writable(self.fd)
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    continue
                except OSError as exc:
                    raise Disconnected from exc

    async def aclose(self) -> None:
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()
        await trio.lowlevel.checkpoint()
