# Strategy: one cash register's connection (manual «Протокол обмена данными»,
# «Команды»; docs/protocol-decisions.md) as a thin trio adapter
# around the sans-I/O session (cardcore.protocol.session), which holds the
# rules: what a packet is (a command, an answer to a message), which deadline
# runs, when the command must be cancelled. The adapter moves bytes, runs the
# handler, sleeps until the session's next deadline and does what the session
# says.
# - Commands run under a cancel scope they share until one of them is
#   cancelled (a cancelled scope cannot be used again; the cancelled command is
#   answered after it, under no scope that anything may cancel). Between
#   commands the command loop reads the stream itself: a command that only
#   answers needs no other task.
# - Once a command talks to the client (`CommandContext.ask`, keepalive) a
#   reader task feeds the session, so that an answer, a disconnect or garbage
#   is seen at once; the session's Cancel ends the command, answered with the
#   reason (cancelled, timeout, formaterror) unless the client is gone.
# - A timer task sleeps until the session's deadline: idle and half-sent
#   packets close the connection, a message's missing answer cancels the
#   command, a keepalive falls due.
# - Garbage never kills the server: bad framing or XML is answered
#   `<error><status>formaterror</status>...` and the connection closed; an
#   unexpected exception in a handler becomes `systemerror`.
# - An answer too large to hold (a full X-report of a big batch) is spooled
#   and sent in chunks (cardcore.spool): memory stays flat.
from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

import msgspec
import trio

from cardcore.connections import Slot
from cardcore.errors import (
    Busy,
    CardcoreError,
    ClientAnswerError,
    ClientTimeout,
    NotImplementedCommand,
    OperationCancelled,
    SystemFailure,
)
from cardcore.protocol.framing import FramingError, encode_frame, encode_frame_signed_safe
from cardcore.protocol.secure import (
    ENCRYPTED,
    SecureChannelError,
    clear_message,
    decode_packet,
    is_encrypted,
)
from cardcore.protocol.session import (
    NEED_DATA,
    Answered,
    Cancel,
    Closed,
    CommandReceived,
    EcrSession,
    KeepaliveDue,
    Limits,
    PacketReceived,
    ProtocolError,
    State,
)
from cardcore.protocol.status import Status, status_of
from cardcore.protocol.xmlcodec import (
    Body,
    Message,
    XmlError,
    XmlWriter,
    encode_error_stack,
    encode_message,
)
from cardcore.spool import SEND_CHUNK, spool_answer
from cardcore.transport import Disconnected, Transport

if TYPE_CHECKING:
    from cardcore.config import ServerConfig
    from cardcore.connections import ConnectionTable
    from cardcore.protocol.secure import KeyRing


class Server(Protocol):
    """What a connection uses of the server that accepted it (cardcore.server)."""

    config: ServerConfig
    commands: dict[str, Command]
    keyring: KeyRing
    device_lock: trio.Lock
    ready: trio.Event | None
    table: ConnectionTable


__all__ = ["Answer", "Command", "CommandContext", "Connection", "error_answer"]

log = logging.getLogger("cardcore.server")

ERROR_ROOT = "error"
_OK: str = Status.OK.value

# The session's reasons to cancel a command, as the errors it is answered with.
CANCEL_ERRORS: dict[str, type[CardcoreError]] = {
    Status.CANCELLED: OperationCancelled,
    Status.TIMEOUT: ClientTimeout,
    Status.FORMAT_ERROR: ClientAnswerError,
}


class Answer(msgspec.Struct):
    """What a handler returns: the body (``status`` defaults to ok), root
    attributes, and optionally the key to seal the answer with when it differs
    from the command's (login with client-handshake)."""

    body: Body = msgspec.field(default_factory=dict)
    attrs: dict[str, str] = msgspec.field(default_factory=dict)
    seal_with: bytes | None = None
    # Children written after `body`'s by a blocking callback run in a worker
    # thread, for answers too large to hold (see Connection._stream).
    stream: Callable[[XmlWriter], None] | None = None


Handler = Callable[["CommandContext"], Awaitable[Answer]]


@dataclass(frozen=True)
class Command:
    handler: Handler
    exclusive: bool = False  # a device operation (docs/protocol-decisions.md)
    # Commands that change or reveal state are logged at INFO; read-only polls
    # (getparameters) only when they fail, to keep the log useful.
    audit: bool = True


def error_answer(name: str, status: str, errors: list[str]) -> Message:
    body: Body = {"status": status}
    if errors:
        body["error-stack"] = encode_error_stack(errors)
    return Message(name, body)


class _Job(msgspec.Struct, eq=False):
    """A command between its start and its answer."""

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
    """One client connection: the session's bytes, the command loop, the
    reader and timer tasks."""

    def __init__(
        self, server: Server, transport: Transport, peer: str, slot: Slot | None = None
    ) -> None:
        self.server = server
        self.transport = transport
        self.peer = peer
        # Its place in the server's table: idle while it waits for a command.
        self.slot = slot if slot is not None else Slot(None)
        self.config = config = server.config
        self._clock = trio.lowlevel.current_clock()
        limits = Limits(
            config.max_packet, config.idle_timeout, config.frame_timeout, config.answer_timeout
        )
        self.session = EcrSession(limits, self._clock.current_time())
        self.nursery: trio.Nursery
        self.current: CommandContext | None = None  # the command whose handler runs
        self.disconnected = False  # the client is gone (input ended, or a send failed)
        # One packet goes out whole before the next (a keepalive and an answer
        # may be sent from two tasks).
        self._sending = False
        self._send_turn = trio.lowlevel.ParkingLot()
        # The scope the commands run under (see _serve), whether it was
        # cancelled, the command it ended, and why the timer ended the wait.
        self._scope = trio.CancelScope()
        self._interrupted = False
        self._job: _Job | None = None
        self._busy = False  # a command is between its packet and its answer
        # The secure-channel key that opened this connection's last packet:
        # tried first on the next (a register keeps its key).
        self._last_key: bytes | None = None
        self._ended_by: ProtocolError | Closed | None = None
        # The timer task's sleep and when it wakes.
        self._watch: trio.CancelScope | None = None
        self._watch_at = -math.inf
        # Interactive commands: the reader task, the answer it hands over,
        # and the keepalive the timer says is due.
        self._reader_scope: trio.CancelScope | None = None
        self._reader_done = trio.Event()
        self._answer: Answered | Cancel | None = None
        self._asking_key: bytes | None = None  # the key the message out was sealed with
        self._answer_lot = trio.lowlevel.ParkingLot()
        self._asked_lot = trio.lowlevel.ParkingLot()
        self._keepalive_due = trio.Event()

    # --- sending --------------------------------------------------------
    async def _wait_send_turn(self) -> None:
        # Callers check _sending first: uncontended, nothing is awaited.
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
        except Disconnected:
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
            except Disconnected:
                self.disconnected = True
                raise
            finally:
                self._end_send_turn()
            return length
        finally:
            spool.close()

    async def _refuse(self, reason: str) -> None:
        """Answer a protocol violation with formaterror (the session has
        closed the connection)."""
        # A hostile peer can make these by the thousand: counted, not each logged.
        self.server.table.notice("closed", f"{self.peer}: {reason}")
        with trio.move_on_after(1), contextlib.suppress(Disconnected):
            await self.send(error_answer(ERROR_ROOT, Status.FORMAT_ERROR, [reason]))

    # --- receiving ------------------------------------------------------
    async def _read(self) -> None:
        """Read one chunk into the session (no bytes: end of input)."""
        data = await self.transport.receive()
        if not data:
            self.disconnected = True
        session = self.session
        session.receive_data(data, self._clock.current_time())
        if session.in_packet:  # only a packet begun brings a deadline forward
            self._rearm()

    def _rearm(self) -> None:
        """Wake the timer sooner when the session's deadline moved earlier."""
        deadline = self.session.deadline()
        if deadline < self._watch_at:
            self._watch_at = deadline
            if self._watch is not None:
                self._watch.deadline = deadline

    async def _timer(self) -> None:
        """Sleep until the session's deadline and do what it then says."""
        session = self.session
        while True:
            event = session.time_passed(self._clock.current_time())
            if isinstance(event, KeepaliveDue):
                self._keepalive_due.set()
            elif isinstance(event, Cancel):
                self._deliver(event)  # a message's answer did not come
            elif event is not None:
                await self._end(event)  # idle, or a half-sent packet
                return
            self._watch_at = session.deadline()
            with trio.CancelScope(deadline=self._watch_at) as self._watch:
                await trio.sleep_forever()

    async def _end(self, event: Any) -> None:
        """The session closed the connection on its own (a timeout or bad
        framing): while waiting for a command, the command loop ends; while
        a command talks to the client, the command is abandoned, as when the
        client disconnects."""
        if not self._busy:
            self._ended_by = event
            self.interrupt()
            return
        self.disconnected = True
        if isinstance(event, ProtocolError):
            await self._refuse(event.reason)
        self._deliver(Cancel(Status.CANCELLED, "client disconnected"))
        if self.current is not None:
            self.current.cancel(OperationCancelled("client disconnected"))

    def _deliver(self, outcome: Answered | Cancel) -> None:
        """Hand an answer (or the reason there is none) to the asking task."""
        self._answer = outcome
        self._answer_lot.unpark_all()

    async def wait_answer(self) -> Answered | Cancel:
        while self._answer is None:
            await self._answer_lot.park()
        outcome, self._answer = self._answer, None
        return outcome

    def asked(self, name: str, timeout: float | None, key: bytes | None) -> None:
        """A message went out (sealed under ``key``, if any): its answer is
        now the session's business."""
        self._answer = None
        self._asking_key = key
        self.session.asked(name, self._clock.current_time(), timeout)
        self._rearm()
        self._asked_lot.unpark_all()

    def _judge(self, packet: bytes) -> Answered | Cancel:
        """The session's verdict on a packet that came while a message was out."""
        now, key = self._clock.current_time(), self._asking_key
        try:
            answer = decode_packet(packet)
            if is_encrypted(answer):
                if key is None:
                    raise SecureChannelError("encrypted answer to a clear message")
                answer, _, _ = self.server.keyring.open(answer, key)
        except CardcoreError as exc:
            return self.session.answer(None, now, exc.message)
        return self.session.answer(answer, now)

    def watch(self) -> None:
        """Start the reader task of an interactive command: it feeds the
        session, hands answers over and notices a disconnect at once."""
        if self._reader_scope is not None or self.disconnected:
            return
        scope = self._reader_scope = trio.CancelScope()
        self._reader_done = done = trio.Event()
        session = self.session

        async def reader() -> None:
            try:
                with scope:
                    while True:
                        event = session.next_event()
                        if isinstance(event, PacketReceived):
                            self._deliver(self._judge(event.packet))
                            self._rearm()  # (the next keepalive, say)
                        elif event is NEED_DATA:
                            if session.state is State.COMMAND and session.has_packet:
                                # A pipelined command: it waits for this one's end.
                                await self._asked_lot.park()
                            else:
                                await self._read()
                        else:
                            # End of input or bad framing: the command cannot go on.
                            await self._end(event)
                            return
            finally:
                done.set()

        self.nursery.start_soon(reader)

    async def unwatch(self) -> None:
        """Stop the reader task; cancelling a read loses no data."""
        if self._reader_scope is not None:
            self._reader_scope.cancel()
            await self._reader_done.wait()
            self._reader_scope = None

    # --- commands -------------------------------------------------------
    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._timer)
            try:
                while self.session.state is not State.CLOSED:
                    await self._serve()
            except Disconnected:
                pass  # a send found the client gone
            finally:
                nursery.cancel_scope.cancel()

    async def _serve(self) -> None:
        """Run commands under one cancel scope until the connection closes or
        the scope is cancelled: by a command's cancel (ctx.cancel), or by the
        timer when the wait for a packet outlasts its timeout. A cancelled
        command is answered after its scope has ended, and a new scope serves
        the next commands (a trio cancel scope cannot be used again)."""
        session, slot = self.session, self.slot
        with trio.CancelScope() as scope:
            self._scope, self._interrupted = scope, False
            read = True
            while not self._interrupted:
                event = session.next_event()
                if event is NEED_DATA:
                    slot.idle = True
                    await self._read()
                    read = True
                    continue
                if isinstance(event, CommandReceived):
                    if not read:
                        # It came with an earlier one: yield once, as a read
                        # would, so that a client that sends many commands at
                        # once cannot hold others up.
                        await trio.lowlevel.cancel_shielded_checkpoint()
                    slot.idle = read = False
                    if not await self._process(event.packet):
                        session.close()
                    continue
                if isinstance(event, ProtocolError):
                    await self._refuse(event.reason)
                return  # closed (end of input)
        job, self._job = self._job, None
        if job is not None:
            if not await self._finish(job):
                session.close()
        elif isinstance(self._ended_by, ProtocolError):
            await self._refuse(self._ended_by.reason)
        elif isinstance(self._ended_by, Closed):
            self.server.table.notice(
                "idle", f"{self.peer}: idle for {self.config.idle_timeout:g} s", level=logging.INFO
            )

    def interrupt(self) -> None:
        """Cancel what runs under the commands' scope (see _serve)."""
        self._interrupted = True
        self._scope.cancel()

    async def _process(self, packet: bytes) -> bool:
        """Handle one command packet; False closes the connection."""
        self._busy = True
        try:
            message = decode_packet(packet)
        except XmlError as exc:
            log.info("%s: %s", self.peer, exc)
            await self._answer_now(error_answer(ERROR_ROOT, Status.FORMAT_ERROR, [exc.message]))
            return False
        name = message.name
        key: bytes | None = None
        if ENCRYPTED in message.body:  # (is_encrypted, inline)
            try:
                plaintext, key, _ = self.server.keyring.unseal(message, self._last_key)
                self._last_key = key
            except SecureChannelError as exc:
                # No key opens it (or a replay): nothing to seal the answer with.
                log.info("%s: <%s> %s", self.peer, name, exc)
                return await self._answer_now(error_answer(name, status_of(exc), [exc.message]))
            try:
                message = clear_message(message, plaintext)
            except XmlError as exc:
                # It decrypted: the answer is sealed like any other, errors included.
                log.info("%s: <%s> %s", self.peer, name, exc)
                return await self._answer_now(
                    error_answer(name, status_of(exc), [exc.message]), key
                )
        command = self.server.commands.get(name)
        if command is None:
            unknown = NotImplementedCommand(f"unknown command <{name}>")
            log.info("%s: %s", self.peer, unknown.message)
            return await self._answer_now(
                error_answer(name, status_of(unknown), [unknown.message]), key
            )
        start = time.monotonic()  # for the log only
        lock: trio.Lock | None = None
        if command.exclusive:
            lock = self.server.device_lock
            try:
                lock.acquire_nowait()
            except trio.WouldBlock:
                log.info("%s: <%s> refused: terminal busy", self.peer, name)
                busy = Busy("terminal busy")
                return await self._answer_now(
                    error_answer(name, status_of(busy), [busy.message]), key
                )
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

    async def _answer_now(self, reply: Message, key: bytes | None = None) -> bool:
        """A command refused before its handler ran."""
        try:
            await self.send(reply, key)
        finally:
            self._answered()
        return True

    def _answered(self) -> None:
        self._busy = False
        self.session.answered(self._clock.current_time())
        if self._watch_at == math.inf:
            # The timer sleeps for good (a command without keepalive ran):
            # the idle timeout must wake it. Otherwise it wakes at an earlier
            # idle deadline and sleeps on to the new one.
            self._rearm()

    async def _finish(self, job: _Job) -> bool:
        """Answer a command whose handler ended; False closes the connection.
        A device operation holds the device until its answer is ready (a
        streamed one is written from the journal meanwhile), not while it is
        sent."""
        ctx, outcome = job.ctx, job.outcome
        message = ctx.message
        try:
            # Helpers (keepalive) stop before the answer goes out, so that no
            # message of this command is left half-answered on the wire.
            if ctx.interactive:
                await ctx.stop_helpers()
            if self._reader_scope is not None:
                await self.unwatch()
            if outcome is None:
                if self.disconnected:
                    return self._done(job, None)
                outcome = ctx.cancel_reason or OperationCancelled("operation cancelled")
            if isinstance(outcome, CardcoreError):
                reply = self._failed(message.name, outcome)
                seal_key = ctx.key
            else:
                # The status leads; a handler's own status keeps that place.
                reply = Message(message.name, {"status": _OK, **outcome.body}, outcome.attrs)
                seal_key = outcome.seal_with or ctx.key
                if outcome.stream is not None:
                    return self._done(job, await self._stream(job, outcome, reply, seal_key))
            job.release()
            try:
                await self.send(reply, seal_key, pad=ctx.signed_length_peer)
            except Disconnected:
                return self._done(job, None)
            except FramingError as exc:
                log.warning("%s: <%s> answer not sent: %s", self.peer, message.name, exc.message)
                return self._done(job, None)
        finally:
            job.release()
        return self._done(job, reply)

    def _done(self, job: _Job, reply: Message | None) -> bool:
        """Log an answered command (None: not answered); False closes the connection."""
        self._answered()
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
                spool_answer, name, reply.body, outcome.attrs, outcome.stream, seal_key, iv
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
        except Disconnected:
            return None
        except FramingError as exc:
            log.warning("%s: <%s> answer not sent: %s", self.peer, name, exc.message)
            return None

    @staticmethod
    def _failed(name: str, error: CardcoreError) -> Message:
        return error_answer(name, status_of(error), [error.message])


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

        The session judges the answer (cardcore.protocol.session): a missing
        one (timeout), a wrong one (formaterror), `cancelled`, or a disconnect
        cancel the command. Messages of an encrypted command travel encrypted.
        """
        conn = self.connection
        ask_lock, _ = self._become_interactive()
        async with ask_lock:
            if self.cancel_reason is not None:
                # The command is already being cancelled: ask nothing more.
                raise self.cancel_reason
            if conn.disconnected:
                raise self._cancelled(Cancel(Status.CANCELLED, "client disconnected"))
            try:
                await conn.send(Message(name, body or {}), self.key, pad=self.signed_length_peer)
            except Disconnected:
                raise self._cancelled(Cancel(Status.CANCELLED, "client disconnected")) from None
            conn.asked(name, timeout, self.key)
            # Once the message is out its answer is awaited even if the asking
            # task is cancelled meanwhile (the session's answer deadline bounds
            # it): an answer left on the wire would be taken for the next one.
            with trio.CancelScope(shield=True):
                outcome = await conn.wait_answer()
            if isinstance(outcome, Cancel):
                raise self._cancelled(outcome)
            return outcome.message

    def _cancelled(self, why: Cancel) -> CardcoreError:
        """The command is cancelled for ``why``; the error to raise."""
        error = CANCEL_ERRORS.get(why.status, OperationCancelled)(why.reason)
        self.cancel(error)
        return error

    def start_keepalive(
        self,
        interval: float | None = None,
        body: Callable[[], Body] | None = None,
        first_after: float | None = None,
    ) -> None:
        """Ping the client with <keepalive/> until the command ends (manual:
        «Сообщение keepalive»; the session says when one is due and what its
        answer means). ``body`` gives the children of each keepalive
        (runreset's reset-connected-indicator); ``first_after`` delays the
        first one (default: one interval)."""
        conn = self.connection
        every = conn.config.keepalive_interval if interval is None else interval
        first = every if first_after is None else first_after
        _, stopping = self._become_interactive()
        conn.session.keep_alive(every, first, conn._clock.current_time())
        conn._rearm()
        done = trio.Event()
        self._helpers += (done,)

        async def pinger() -> None:
            try:
                while True:
                    async with trio.open_nursery() as wait:  # the first of the two
                        for event in (stopping, conn._keepalive_due):
                            wait.start_soon(_wait_then_cancel, event, wait.cancel_scope)
                    if stopping.is_set():
                        return
                    conn._keepalive_due = trio.Event()
                    try:
                        await self.ask("keepalive", body() if body else None)
                    except CardcoreError:
                        return  # ask() has cancelled the command already
            finally:
                done.set()

        # The pinger lives in the connection's nursery, outside the command's
        # cancel scope: a keepalive in flight completes (or times out) even when
        # the command is cancelled, and the command waits for it.
        conn.nursery.start_soon(pinger)

    async def stop_helpers(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        for done in self._helpers:
            await done.wait()


async def _wait_then_cancel(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()
