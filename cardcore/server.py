# Strategy: the ECR protocol server (manual: «Протокол обмена данными»,
# «Команды»; DESIGN.md: wire decisions, concurrency) as a thin trio adapter
# around the sans-I/O pieces of cardcore.protocol.
# - A connection carries commands one after another. Between commands the
#   connection task reads the stream itself; a connection with no command for
#   `idle_timeout` is closed, and a packet must be complete within
#   `frame_timeout` of its first byte, however slowly the rest drips in (a
#   watchdog task per connection enforces both).
# - Who may connect, and who makes room for a newcomer, is the connection
#   table's (cardcore.connections): allowed clients, per-address and total
#   limits, the oldest idle connection evicted rather than a newcomer refused.
# - Commands run under a cancel scope they share until one of them is
#   cancelled. Handlers may send messages to the client and await the answers
#   (`CommandContext.ask`) and keep the client informed with keepalive
#   messages. Once a command talks to the client, a reader task watches the
#   stream for it, so that the command is cancelled cleanly when the client
#   answers `cancelled`, answers wrongly, stays silent or disconnects.
#   Handlers that must stay consistent shield their clean-up.
# - The common path is short, because it is the cost of every command: a TCP
#   connection is driven on trio's I/O primitives directly (one yield per
#   packet, not several), commands that only answer need no extra task, and
#   no cancel scope or deadline is made or moved per command.
# - Device operations are exclusive: a second one is refused at once with
#   `failed` and "terminal busy".
# - Garbage never kills the server: bad framing or XML is answered
#   `<error><status>formaterror</status>...` and the connection closed; an
#   unexpected exception in a handler becomes `systemerror`.
# - An answer too large to hold (a full X-report of a big batch) is written
#   by the handler's `stream` callback into a spooled temporary file in a
#   worker thread (sealed there too when the command was encrypted), then
#   sent in chunks: memory stays flat whatever the size of the answer.
from __future__ import annotations

import contextlib
import logging
import math
import socket
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

import msgspec
import trio

from cardcore.config import ServerConfig
from cardcore.connections import ConnectionTable, Slot, peer_address
from cardcore.errors import (
    Busy,
    CardcoreError,
    ClientAnswerError,
    ClientTimeout,
    ListenError,
    NotImplementedCommand,
    OperationCancelled,
    SystemFailure,
)
from cardcore.protocol.framing import (
    FrameDecoder,
    FramingError,
    encode_frame,
    encode_frame_signed_safe,
)
from cardcore.protocol.secure import (
    ENCRYPTED,
    ENCRYPTED_DATA,
    KeyRing,
    SecureChannelError,
    clear_message,
    is_encrypted,
    seal_stream,
)
from cardcore.protocol.status import Status
from cardcore.protocol.xmlcodec import (
    Body,
    Message,
    XmlError,
    XmlWriter,
    decode_message,
    encode_error_stack,
    encode_message,
    open_tag,
)

__all__ = ["Answer", "Command", "CommandContext", "EcrServer", "error_answer", "open_listeners"]

log = logging.getLogger(__name__)

ERROR_ROOT = "error"
_OK: str = Status.OK.value


class Answer(msgspec.Struct):
    """What a handler returns: the body (``status`` defaults to ok), root
    attributes, and optionally the key to seal the answer with when it differs
    from the command's (login with client-handshake). (A msgspec struct: one
    is made in C for every command.)"""

    body: Body = msgspec.field(default_factory=dict)
    attrs: dict[str, str] = msgspec.field(default_factory=dict)
    seal_with: bytes | None = None
    # Children written after `body`'s by a blocking callback run in a worker
    # thread, for answers too large to hold (see Connection._stream).
    stream: Callable[[XmlWriter], None] | None = None


# In-memory part of a streamed answer; beyond it the spool is a temporary file.
SPOOL_MEMORY = 1 << 20
SEND_CHUNK = 1 << 18


def _spool_answer(
    name: str,
    body: Body,
    attrs: Mapping[str, str],
    stream: Callable[[XmlWriter], None],
    key: bytes | None,
    iv: bytes | None,
) -> IO[bytes]:
    """The encoded packet of a streamed answer (blocking: a worker thread)."""

    def children(out: IO[bytes]) -> None:
        writer = XmlWriter(out, depth=1)
        for child, value in body.items():
            writer.element(child, value)
        stream(writer)

    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - returned
    try:
        out.write(f"{open_tag(name, attrs)}\n".encode())
        if key is None:
            children(out)
        else:
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as plain:
                plain.write(f"<{ENCRYPTED_DATA}>\n".encode())
                children(plain)
                plain.write(f"</{ENCRYPTED_DATA}>".encode())
                plain.seek(0)
                out.write(f"  <{ENCRYPTED}>".encode())
                seal_stream(key, plain, out, iv)
                out.write(f"</{ENCRYPTED}>\n".encode())
        out.write(f"</{name}>".encode())
    except BaseException:
        out.close()
        raise
    return out


Handler = Callable[["CommandContext"], Awaitable[Answer]]


@dataclass(frozen=True)
class Command:
    handler: Handler
    exclusive: bool = False  # a device operation (DESIGN.md, concurrency)
    # Commands that change or reveal state are logged at INFO; read-only polls
    # (getparameters) only when they fail, to keep the log useful.
    audit: bool = True


def error_answer(name: str, status: str, errors: list[str]) -> Message:
    body: Body = {"status": status}
    if errors:
        body["error-stack"] = encode_error_stack(errors)
    return Message(name, body)


class _Disconnected(Exception):
    pass


RECEIVE_SIZE = 65536
# Connections accepted per wake-up of the accept loop before it yields.
ACCEPT_BATCH = 64
_INET = (socket.AF_INET, socket.AF_INET6)


class _Transport(Protocol):
    async def receive(self) -> bytes | bytearray:
        """The next bytes; empty at end of input or when the link broke."""

    async def send_all(self, data: bytes) -> None:
        """Raises _Disconnected when the peer is gone."""

    async def aclose(self) -> None: ...


class _StreamTransport:
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
            raise _Disconnected from exc

    async def aclose(self) -> None:
        await self.stream.aclose()


class _SocketTransport:
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
            raise _Disconnected from exc
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
                    raise _Disconnected from exc

    async def aclose(self) -> None:
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()
        await trio.lowlevel.checkpoint()


class _Job(msgspec.Struct, eq=False):
    """A command between its start and its answer. (A msgspec struct: made
    in C for every command.)"""

    ctx: CommandContext
    command: Command
    start: float
    lock: trio.Lock | None  # the device lock, held by a device operation
    outcome: Answer | CardcoreError | None = None  # None: the handler was cancelled

    def release(self) -> None:
        """A device operation ends when its answer is ready, before it is
        sent: a cash register that sends its next command the moment the
        answer arrives must not find the terminal busy. (Idempotent.)"""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


class Connection:
    """One client connection: packet reading, sending and the command loop."""

    def __init__(
        self, server: EcrServer, transport: _Transport, peer: str, slot: Slot | None = None
    ) -> None:
        self.server = server
        self.transport = transport
        self.peer = peer
        # Its place in the server's table: idle while it waits for a command.
        self.slot = slot if slot is not None else Slot(None)
        self.config = server.config
        self.nursery: trio.Nursery
        self.current: CommandContext | None = None
        self.disconnected = False
        self._sending = False
        self._send_turn = trio.lowlevel.ParkingLot()
        self._decoder = FrameDecoder(self.config.max_packet)
        self._ready: deque[bytes] = deque()
        # When the packet under way must be complete (inf between packets).
        self._packet_deadline = math.inf
        self._closed = False
        # The scope the commands run under (see _serve), the command whose
        # handler it ended, and the watchdog's view of the wait for a packet.
        self._scope = trio.CancelScope()
        self._interrupted = False  # _scope was cancelled (see interrupt)
        self._job: _Job | None = None
        self._wait_deadline = math.inf  # while waiting for a packet
        self._timed_out = False
        self._watch: trio.CancelScope | None = None
        self._watch_at = -math.inf  # when the watchdog wakes next
        # Set while a reader task owns the stream (interactive commands).
        self._reader_scope: trio.CancelScope | None = None
        self._reader_done = trio.Event()
        self._arrivals = trio.lowlevel.ParkingLot()
        # trio.current_time() without its look-up of the run (once per packet)
        self._clock = trio.lowlevel.current_clock()

    # --- sending --------------------------------------------------------
    async def _wait_send_turn(self) -> None:
        # A packet goes out whole before the next one starts (a keepalive
        # and an answer may be sent from two tasks). Callers check _sending
        # first: uncontended, as it nearly always is, nothing is awaited.
        while self._sending:
            await self._send_turn.park()

    def _end_send_turn(self) -> None:
        self._sending = False
        if self._send_turn:
            self._send_turn.unpark()

    async def send(self, message: Message, key: bytes | None = None, pad: bool = False) -> None:
        if key is None:
            packet = encode_message(message)
        else:
            packet = self.server.keyring.seal_packet(message, key)
        if pad:
            frame = encode_frame_signed_safe(packet)
        else:
            frame = encode_frame(packet, max_packet=2**31)
        if self._sending:
            await self._wait_send_turn()
        self._sending = True
        try:
            await self.transport.send_all(frame)
        except _Disconnected:
            self.disconnected = True
            raise
        finally:
            self._end_send_turn()

    async def send_spool(self, spool: IO[bytes]) -> int:
        """Send a streamed answer (Answer.stream) from its spool, which is
        closed; returns its length."""
        try:
            length = spool.tell()
            if not 0 < length < 2**32:
                raise FramingError(f"answer of {length} bytes cannot be framed")
            spool.seek(0)
            if self._sending:
                await self._wait_send_turn()
            self._sending = True
            try:
                await self.transport.send_all(length.to_bytes(4, "big"))
                while chunk := await trio.to_thread.run_sync(spool.read, SEND_CHUNK):
                    await self.transport.send_all(chunk)
            except _Disconnected:
                self.disconnected = True
                raise
            finally:
                self._end_send_turn()
            return length
        finally:
            spool.close()

    async def _refuse(self, reason: str) -> None:
        """Answer a protocol violation with formaterror; the connection closes."""
        self._closed = True
        # A hostile peer can make these by the thousand: counted, not each logged.
        self.server.table.notice("closed", f"{self.peer}: {reason}")
        with trio.move_on_after(1), contextlib.suppress(_Disconnected):
            await self.send(error_answer(ERROR_ROOT, Status.FORMAT_ERROR, [reason]))

    # --- receiving ------------------------------------------------------
    async def _fill(self, deadline: float = math.inf) -> bool:
        """Read one chunk from the stream into the packet queue; False when
        ``deadline`` passed first. One cancel scope serves both the caller's
        deadline and the half-sent-packet timeout."""
        frame_deadline = self._packet_deadline
        with trio.move_on_at(min(deadline, frame_deadline)) as scope:
            data = await self.transport.receive()
        if scope.cancelled_caught:
            if frame_deadline <= deadline:
                await self._refuse(f"packet not completed within {self.config.frame_timeout:g} s")
                raise _Disconnected
            return False
        await self._queue(data)
        return True

    async def _queue(self, data: bytes | bytearray) -> None:
        """Queue the packets ``data`` completes. End of input (no data) or a
        framing error ends the connection: _Disconnected."""
        error = self._take(data)
        if error is not None:
            await self._refuse(error)
            raise _Disconnected

    def _take(self, data: bytes | bytearray) -> str | None:
        """_queue without the answer to a framing error, which it returns."""
        if not data:
            self.disconnected = True
            raise _Disconnected
        ready = self._ready
        complete = len(ready)
        try:
            ready.extend(self._decoder.feed(data))
        except FramingError as exc:
            self.disconnected = True
            return exc.message
        if not self._decoder.in_packet:
            self._packet_deadline = math.inf
        elif len(ready) > complete or self._packet_deadline == math.inf:
            # A packet began in this chunk: all of it must be in within
            # frame_timeout of its first byte, however slowly it drips.
            self._packet_deadline = self._clock.current_time() + self.config.frame_timeout
        return None

    async def receive(self, timeout: float) -> bytes | None:
        """The next packet, or None on timeout. Raises _Disconnected at end of input."""
        deadline = trio.current_time() + timeout
        while not self._ready:
            if self.disconnected or self._closed:
                raise _Disconnected
            if self._reader_scope is not None:
                with trio.move_on_at(deadline):
                    await self._arrivals.park()
                if trio.current_time() >= deadline and not self._ready:
                    return None
            else:
                try:
                    if not await self._fill(deadline):
                        return None
                except _Disconnected:
                    self.disconnected = True
                    raise
        return self._ready.popleft()

    def watch(self) -> None:
        """Start a reader task for an interactive command: it notices a
        disconnect at once and hands packets to `receive`."""
        if self._reader_scope is not None or self.disconnected:
            return
        scope = self._reader_scope = trio.CancelScope()
        self._reader_done = done = trio.Event()

        async def reader() -> None:
            try:
                with scope:
                    while True:
                        await self._fill()
                        self._arrivals.unpark_all()
            except _Disconnected:
                # End of input: a command that talks to the client cannot go on.
                self.disconnected = True
                if self.current is not None:
                    self.current.cancel(OperationCancelled("client disconnected"))
            finally:
                self._arrivals.unpark_all()
                done.set()

        self.nursery.start_soon(reader)

    async def unwatch(self) -> None:
        """Stop the reader task; cancelling a receive loses no data."""
        if self._reader_scope is not None:
            self._reader_scope.cancel()
            await self._reader_done.wait()
            self._reader_scope = None

    # --- commands -------------------------------------------------------
    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._watchdog)
            try:
                while not self._closed:
                    await self._serve()
            except _Disconnected:
                pass
            finally:
                nursery.cancel_scope.cancel()

    async def _serve(self) -> None:
        """Run commands under one cancel scope until the connection closes or
        the scope is cancelled: by a command's cancel (ctx.cancel), or by the
        watchdog when a wait for a packet outlasts its timeout. A cancelled
        command is answered after its scope has ended, and a new scope serves
        the next commands (a trio cancel scope cannot be used again)."""
        ready, config, slot = self._ready, self.config, self.slot
        with trio.CancelScope() as scope:
            self._scope, self._interrupted = scope, False
            while not self._closed and not self._interrupted:
                # The next command packet (read here, not in a coroutine of
                # its own: one less for every packet to pass through).
                if ready:
                    # It came with an earlier one: yield once, as a read would,
                    # so that a client that sends many commands at once cannot
                    # hold others up.
                    await trio.lowlevel.cancel_shielded_checkpoint()
                slot.idle = not ready
                while not ready:
                    if self.disconnected or self._closed:
                        raise _Disconnected
                    if self._decoder.in_packet:
                        deadline = self._packet_deadline
                    else:
                        deadline = self._clock.current_time() + config.idle_timeout
                    self._wait_deadline = deadline
                    if deadline < self._watch_at and self._watch is not None:
                        self._watch_at = self._watch.deadline = deadline  # a half-sent packet's
                    data = await self.transport.receive()
                    self._wait_deadline = math.inf
                    error = self._take(data)
                    if error is not None:
                        await self._refuse(error)
                        raise _Disconnected
                slot.idle = False
                if not await self._process(ready.popleft()):
                    self._closed = True
        job, self._job = self._job, None
        if job is not None:
            if not await self._finish(job):
                self._closed = True
        elif self._timed_out:
            self._closed = True
            if self._decoder.in_packet:
                await self._refuse(f"packet not completed within {config.frame_timeout:g} s")
            else:
                self.server.table.notice(
                    "idle", f"{self.peer}: idle for {config.idle_timeout:g} s", level=logging.INFO
                )

    def interrupt(self) -> None:
        """Cancel what runs under the commands' scope (see _serve)."""
        self._interrupted = True
        self._scope.cancel()

    async def _watchdog(self) -> None:
        """End the wait for a packet that outlasts its timeout (idle, or the
        rest of a half-sent packet). It wakes when the current wait would
        expire, or every `poll` seconds while a command runs: not per packet."""
        poll = min(self.config.idle_timeout, self.config.frame_timeout)
        while True:
            now = trio.current_time()
            deadline = self._wait_deadline
            if now >= deadline:
                self._timed_out = True
                self.interrupt()
                return
            self._watch_at = min(deadline, now + poll)
            with trio.CancelScope(deadline=self._watch_at) as self._watch:
                await trio.sleep_forever()

    async def _process(self, packet: bytes) -> bool:
        """Handle one command packet; False closes the connection."""
        try:
            message = decode_message(packet)
        except XmlError as exc:
            log.info("%s: %s", self.peer, exc)
            await self.send(error_answer(ERROR_ROOT, Status.FORMAT_ERROR, [exc.message]))
            return False
        name = message.name
        key: bytes | None = None
        if ENCRYPTED in message.body:  # (is_encrypted, inline)
            try:
                plaintext, key, _ = self.server.keyring.unseal(message)
            except SecureChannelError as exc:
                # No key opens it (or a replay): nothing to seal the answer with.
                log.info("%s: <%s> %s", self.peer, name, exc)
                await self.send(error_answer(name, exc.status, [exc.message]))
                return True
            try:
                message = clear_message(message, plaintext)
            except XmlError as exc:
                # It decrypted: the answer is sealed like any other, errors included.
                log.info("%s: <%s> %s", self.peer, name, exc)
                await self.send(error_answer(name, exc.status, [exc.message]), key)
                return True
        command = self.server.commands.get(name)
        if command is None:
            unknown = NotImplementedCommand(f"unknown command <{name}>")
            log.info("%s: %s", self.peer, unknown.message)
            await self.send(error_answer(name, unknown.status, [unknown.message]), key)
            return True
        start = time.monotonic()  # for the log only
        lock: trio.Lock | None = None
        if command.exclusive:
            lock = self.server.device_lock
            try:
                lock.acquire_nowait()
            except trio.WouldBlock:
                await self.send(error_answer(name, Busy.status, [Busy().message]), key)
                log.info("%s: <%s> refused: terminal busy", self.peer, name)
                return True
        ctx = CommandContext(self, message, key)
        job = self._job = _Job(ctx, command, start, lock)
        try:
            if lock is not None and self.server.ready is not None:
                await self.server.ready.wait()
            ctx.running = True
            self.current = ctx
            try:
                job.outcome = await command.handler(ctx)
            except CardcoreError as exc:
                job.outcome = exc
            except Exception:
                log.exception("%s: <%s> failed unexpectedly", self.peer, name)
                job.outcome = SystemFailure("internal error; see the terminal log")
            finally:
                ctx.running = False  # a late cancel() only records its reason
                self.current = None
        except BaseException:
            job.release()  # cancelled: answered after the scope (_serve)
            raise
        if self._interrupted:
            # Cancelled, but the handler ended before it noticed: the answer
            # goes out after the scope (_serve), which nothing may cancel.
            return True
        self._job = None
        return await self._finish(job)

    async def _finish(self, job: _Job) -> bool:
        """Answer a command whose handler ended; False closes the connection.
        A device operation holds the device until its answer is ready (a
        streamed one is written from the journal meanwhile), not while it is
        sent."""
        ctx, outcome = job.ctx, job.outcome
        message = ctx.message
        try:
            # Helpers (keepalive) stop before the answer goes out, so that no
            # message of this command is left half-answered on the wire. (Most
            # commands never talk to the client: nothing to stop, nothing awaited.)
            if ctx.interactive:
                await ctx.stop_helpers()
            if self._reader_scope is not None:
                await self.unwatch()
            if outcome is None:
                if self.disconnected:
                    return self._done(job, None)
                outcome = ctx.cancel_reason or OperationCancelled()
            if isinstance(outcome, CardcoreError):
                reply = self._failed(message.name, outcome)
                seal_key = ctx.key
            else:
                # The status leads; a handler's own status keeps that place. It
                # goes as plain text: the encoder's fast path takes exact strings.
                reply = Message(message.name, {"status": _OK, **outcome.body}, outcome.attrs)
                seal_key = outcome.seal_with or ctx.key
                if outcome.stream is not None:
                    return self._done(job, await self._stream(job, outcome, reply, seal_key))
            job.release()
            try:
                await self.send(reply, seal_key, pad=ctx.signed_length_peer)
            except _Disconnected:
                return self._done(job, None)
            except FramingError as exc:
                log.warning("%s: <%s> answer not sent: %s", self.peer, message.name, exc.message)
                return self._done(job, None)
        finally:
            job.release()
        return self._done(job, reply)

    def _done(self, job: _Job, reply: Message | None) -> bool:
        """Log an answered command (None: not answered); False closes the connection."""
        if reply is None:
            log.info("%s: <%s> abandoned: client disconnected", self.peer, job.ctx.message.name)
            return False
        if job.command.audit or reply.body["status"] != _OK:
            log.info(
                "%s: <%s> -> %s (%.0f ms)",
                self.peer,
                job.ctx.message.name,
                reply.status,
                (time.monotonic() - job.start) * 1000,
            )
        return True

    async def _stream(
        self, job: _Job, outcome: Answer, reply: Message, seal_key: bytes | None
    ) -> Message | None:
        """Send an answer with a streamed part (Answer.stream). It is written
        (from the journal) while the operation still holds the device; a
        failure before anything was sent is the answer instead."""
        name = job.ctx.message.name
        assert outcome.stream is not None
        try:
            iv = None if seal_key is None else self.server.keyring.fresh_iv(seal_key)
            spool = await trio.to_thread.run_sync(
                _spool_answer, name, reply.body, outcome.attrs, outcome.stream, seal_key, iv
            )
        except CardcoreError as exc:
            spool, reply = None, self._failed(name, exc)
        except Exception:
            log.exception("%s: <%s> answer failed unexpectedly", self.peer, name)
            spool, reply = None, self._failed(name, SystemFailure("internal error; see the log"))
        job.release()
        try:
            if spool is None:
                await self.send(reply, seal_key, pad=job.ctx.signed_length_peer)
                return reply
            size = await self.send_spool(spool)
            log.info("%s: <%s> answer of %d bytes streamed", self.peer, name, size)
            return reply
        except _Disconnected:
            return None
        except FramingError as exc:
            log.warning("%s: <%s> answer not sent: %s", self.peer, name, exc.message)
            return None

    @staticmethod
    def _failed(name: str, error: CardcoreError) -> Message:
        return error_answer(name, error.status, [error.message])


class CommandContext:
    """What a handler sees of its command and connection."""

    # Until a command changes them (class defaults: most commands never do).
    running = False  # while the handler runs
    cancel_reason: CardcoreError | None = None
    interactive = False  # set once the command talks to the client
    # The peer reads packet lengths as signed bytes (the activator of a real
    # management server sends runreset): pad this command's packets.
    signed_length_peer = False
    # Created when the command first talks to the client.
    _ask_lock: trio.Lock | None = None
    _stopping: trio.Event | None = None
    _helpers: tuple[trio.Event, ...] = ()

    def __init__(self, connection: Connection, message: Message, key: bytes | None) -> None:
        self.connection = connection
        self.message = message
        self.key = key
        self.peer = connection.peer

    @property
    def secure(self) -> bool:
        return self.key is not None

    def params(self) -> dict[str, Any]:
        return self.message.params()

    def cancel(self, reason: CardcoreError) -> None:
        """Cancel the command; the client is answered with ``reason``."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self.running:
            self.connection.interrupt()

    def _become_interactive(self) -> tuple[trio.Lock, trio.Event]:
        if self._ask_lock is None or self._stopping is None:
            self.interactive = True
            self._ask_lock, self._stopping = trio.Lock(), trio.Event()
            self.connection.watch()
        return self._ask_lock, self._stopping

    async def ask(
        self, name: str, body: Body | None = None, timeout: float | None = None
    ) -> Message:
        """Send a message and return the client's answer to it.

        The answer must carry the same root. A missing answer (ClientTimeout),
        a wrong one (ClientAnswerError) or a disconnect cancel the command.
        Messages of an encrypted command travel encrypted.
        """
        conn = self.connection
        wait = conn.config.answer_timeout if timeout is None else timeout
        ask_lock, _ = self._become_interactive()
        async with ask_lock:
            if self.cancel_reason is not None:
                # The command is already being cancelled: ask nothing more.
                raise self.cancel_reason
            try:
                await conn.send(Message(name, body or {}), self.key, pad=self.signed_length_peer)
                # Once the message is out its answer is awaited even if the
                # asking task is cancelled meanwhile (bounded by `wait`): an
                # answer left on the wire would be taken for the next one.
                with trio.CancelScope(shield=True):
                    packet = await conn.receive(wait)
            except _Disconnected:
                self.cancel(OperationCancelled("client disconnected"))
                raise OperationCancelled("client disconnected") from None
            if packet is None:
                error: CardcoreError = ClientTimeout(
                    f"no answer to <{name}> within {wait:g} s; operation cancelled"
                )
                self.cancel(error)
                raise error
            try:
                answer = decode_message(packet)
                if is_encrypted(answer):
                    if self.key is None:
                        raise SecureChannelError("encrypted answer to a clear message")
                    answer, _, _ = conn.server.keyring.open(answer)
            except CardcoreError as exc:
                error = ClientAnswerError(f"bad answer to <{name}>: {exc.message}")
                self.cancel(error)
                raise error from None
            if answer.name != name:
                error = ClientAnswerError(f"expected an answer to <{name}>, got <{answer.name}>")
                self.cancel(error)
                raise error
            if answer.status == Status.CANCELLED:
                # The manual defines this for keepalive; a cash register that
                # answers any message `cancelled` wants the operation stopped.
                cancelled = OperationCancelled(f"cancelled by the cash register (<{name}>)")
                self.cancel(cancelled)
                raise cancelled
            return answer

    def start_keepalive(
        self,
        interval: float | None = None,
        body: Callable[[], Body] | None = None,
        first_after: float | None = None,
    ) -> None:
        """Ping the client with <keepalive/> until the command ends. An answer
        other than ok cancels the command (manual: «Сообщение keepalive»).
        ``body`` gives the children of each keepalive (runreset's
        reset-connected-indicator); ``first_after`` delays the first one
        (default: one interval)."""
        every = self.connection.config.keepalive_interval if interval is None else interval
        first = every if first_after is None else first_after
        _, stopping = self._become_interactive()
        done = trio.Event()
        self._helpers += (done,)

        async def pinger() -> None:
            try:
                wait = first
                while True:
                    with trio.move_on_after(wait):
                        await stopping.wait()  # the command ended
                    wait = every
                    if stopping.is_set():
                        return
                    try:
                        answer = await self.ask("keepalive", body() if body else None)
                    except CardcoreError:
                        return  # ask() has cancelled the command already
                    if answer.status != Status.OK:
                        self.cancel(
                            OperationCancelled(
                                f"cancelled by the cash register (keepalive: {answer.status})"
                            )
                        )
                        return
            finally:
                done.set()

        # The pinger lives in the connection's nursery, outside the command's
        # cancel scope: a keepalive in flight completes (or times out) even when
        # the command is cancelled, and the command waits for it.
        self.connection.nursery.start_soon(pinger)

    async def stop_helpers(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        for done in self._helpers:
            await done.wait()


async def open_listeners(host: str, port: int, what: str) -> list[trio.SocketListener]:
    """trio's TCP listeners on ``host``; an address that cannot be bound (in
    use, not this machine's, unknown) is a ListenError naming it."""
    try:
        return await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        shown = f"[{host}]" if ":" in host else host
        raise ListenError(f"{what} {shown}:{port}: {exc.strerror or exc}") from None


class EcrServer:
    """Listens for cash registers and runs commands from a dispatch table."""

    def __init__(
        self,
        config: ServerConfig,
        commands: Mapping[str, Command],
        keyring: KeyRing | None = None,
    ) -> None:
        self.config = config
        self.commands = dict(commands)
        self.keyring = keyring if keyring is not None else KeyRing(config.secure_keys)
        self.device_lock = trio.Lock()
        # Device operations wait for this (the application opens the listener
        # before its slower parts are up); None: always ready.
        self.ready: trio.Event | None = None
        self.table = ConnectionTable(
            config.max_connections, config.max_connections_per_peer, config.allowed_clients
        )

    async def serve(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        listeners = await open_listeners(
            self.config.listen if host is None else host,
            self.config.port if port is None else port,
            "ECR listener",
        )
        await self.serve_listeners(listeners, task_status=task_status)

    async def serve_listeners(
        self,
        listeners: list[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(self._accept_loop, listener, nursery)
            task_status.started(listeners)

    @property
    def connections(self) -> int:
        return self.table.count

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        """Accept on the listening socket directly, up to ACCEPT_BATCH
        connections per wake-up: a flood of connections the table refuses
        costs an accept and a close each, so the queue a cash register's
        connection waits in drains quickly (slow-loris reconnecting at once)."""
        async with listener:
            # The trio listener keeps the descriptor; this object only uses it.
            raw = socket.socket(fileno=listener.socket.fileno())
            try:
                while True:
                    await trio.lowlevel.wait_readable(raw)
                    for _ in range(ACCEPT_BATCH):
                        try:
                            sock, address = raw.accept()
                        except BlockingIOError:
                            break
                        except OSError as exc:  # e.g. EMFILE: back off instead of spinning
                            log.warning("accept failed: %s", exc)
                            await trio.sleep(0.1)
                            break
                        slot = self.table.admit(peer_address(address[0]))
                        if slot is None:
                            sock.close()
                            continue
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        transport = _SocketTransport(sock)
                        peer = f"{address[0]}:{address[1]}"
                        nursery.start_soon(self._run_transport, transport, peer, slot)
            finally:
                raw.detach()

    async def handle_stream(self, stream: trio.abc.Stream, peer: str) -> None:
        """Serve one connected client until it leaves; never raises. ``peer``
        names it in the log; a stream that is not a socket counts only
        toward the total of connections."""
        address = None
        if isinstance(stream, trio.SocketStream) and stream.socket.family in _INET:
            with contextlib.suppress(OSError):
                address = peer_address(stream.socket.getpeername()[0])
        slot = self.table.admit(address)
        if slot is None:
            await stream.aclose()
            return
        await self._run_slot(stream, peer, slot)

    async def _run_slot(self, stream: trio.abc.Stream, peer: str, slot: Slot) -> None:
        """A socket stream's socket leaves its wrapper (see _SocketTransport)."""
        transport: _Transport
        if isinstance(stream, trio.SocketStream):
            transport = _SocketTransport(socket.socket(fileno=stream.socket.detach()))
        else:
            transport = _StreamTransport(stream)
        await self._run_transport(transport, peer, slot)

    async def _run_transport(self, transport: _Transport, peer: str, slot: Slot) -> None:
        try:
            try:
                with slot.scope:  # cancelled when the table evicts it
                    await Connection(self, transport, peer, slot).run()
            finally:
                with trio.CancelScope(shield=True):
                    await transport.aclose()
            if slot.scope.cancelled_caught:
                log.debug("%s: idle connection closed to make room", peer)
        except Exception:  # never let one connection take the listener down
            log.exception("%s: connection handler failed", peer)
        finally:
            self.table.release(slot)
