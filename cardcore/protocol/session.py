# Strategy: the rules of one connection of the ECR protocol (manual «Протокол
# обмена данными»: one command at a time; the terminal's messages, each
# answered under the same root; «Сообщение keepalive»;
# docs/protocol-decisions.md: idle and half-sent-packet timeouts) as a
# sans-I/O state machine in the manner of h11: bytes go in, events come
# out; the caller says what it sent; time is handed in, and the next
# deadline is handed back for the caller to sleep until. Nothing here does
# I/O, knows trio, or decodes XML: the caller decodes an answer and the
# session judges it.
#
#   idle     -- waiting for a command: the idle timeout runs; once a packet
#               has begun, the frame timeout runs from its first byte
#   command  -- a command runs and none of its messages is unanswered;
#               keepalives fall due every interval once started
#   asking   -- a message of the command is out; its answer is awaited until
#               the answer timeout
#   closed   -- end of input, a timeout, a protocol error or a close
#
# A packet that comes while a command runs waits for the command's end (a
# pipelined command); while a message is out, the first packet is its
# answer. The command is cancelled (a Cancel event) when the client answers
# `cancelled`, answers with another root or garbage, does not answer in
# time, or disconnects. One table holds the transitions; only `_move`
# assigns the state.
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import msgspec

from cardcore.protocol.framing import FrameDecoder, FramingError
from cardcore.protocol.status import Status
from cardcore.protocol.xmlcodec import Message

__all__ = [
    "NEED_DATA",
    "STATES",
    "TRANSITIONS",
    "Answered",
    "Cancel",
    "Closed",
    "CommandReceived",
    "EcrSession",
    "Event",
    "KeepaliveDue",
    "Limits",
    "PacketReceived",
    "ProtocolError",
    "State",
    "Trigger",
]


class State:
    """The session's states (plain strings: the table is looked up per packet)."""

    IDLE = "idle"
    COMMAND = "command"
    ASKING = "asking"
    CLOSED = "closed"


class Trigger:
    COMMAND = "command"  # a command packet was taken
    ASK = "ask"  # a message of the command was sent
    ANSWER = "answer"  # its answer was taken (judged by `answer`)
    NO_ANSWER = "no-answer"  # the answer did not come in time
    DONE = "done"  # the command's answer was sent
    CLOSE = "close"  # end of input, a timeout, a protocol error, a close


STATES = (State.IDLE, State.COMMAND, State.ASKING, State.CLOSED)
S, T = State, Trigger

TRANSITIONS: dict[tuple[str, str], str] = {
    (S.IDLE, T.COMMAND): S.COMMAND,
    (S.COMMAND, T.ASK): S.ASKING,
    (S.ASKING, T.ANSWER): S.COMMAND,
    (S.ASKING, T.NO_ANSWER): S.COMMAND,
    (S.COMMAND, T.DONE): S.IDLE,
    **{(state, T.CLOSE): S.CLOSED for state in STATES},
    # A command whose client left is still finished (and not answered).
    (S.CLOSED, T.DONE): S.CLOSED,
}


class ProtocolStateError(Exception):
    """The caller did what the current state does not allow (a bug)."""


# --- events ----------------------------------------------------------------------
class CommandReceived(msgspec.Struct, frozen=True):
    """A command packet (idle -> command)."""

    packet: bytes


class PacketReceived(msgspec.Struct, frozen=True):
    """A packet while a message is out: the candidate answer, for the caller
    to decode and hand to `answer`."""

    packet: bytes


class ProtocolError(msgspec.Struct, frozen=True):
    """Bad framing or a half-sent packet that timed out: answer
    <error><status>formaterror</status> with ``reason``, then close."""

    reason: str


class Closed(msgspec.Struct, frozen=True):
    """The connection is over: ``reason`` is "end of input" or "idle"."""

    reason: str


class Cancel(msgspec.Struct, frozen=True):
    """The running command must stop; the client is answered with ``status``
    and ``reason`` (cardcore.errors maps them), unless it is gone."""

    status: str
    reason: str


class KeepaliveDue(msgspec.Struct, frozen=True):
    """Time to send the command's next keepalive."""


class Answered(msgspec.Struct, frozen=True):
    """A message's answer that lets the command go on."""

    message: Message


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()
Event = CommandReceived | PacketReceived | ProtocolError | Closed | Cancel | _NeedData


@dataclass(frozen=True)
class Limits:
    """Seconds and bytes (cardcore.config.ServerConfig)."""

    max_packet: int
    idle_timeout: float
    frame_timeout: float
    answer_timeout: float


class EcrSession:
    def __init__(self, limits: Limits, now: float) -> None:
        self.limits = limits
        self.state: str = State.IDLE
        self._decoder = FrameDecoder(limits.max_packet)
        self._packets: deque[bytes] = deque()
        self._ended = False  # end of input seen
        self._error: str | None = None  # a framing error waiting to be reported
        self._idle_since = now
        self._packet_deadline = math.inf  # the packet under way must be complete by then
        self._asked: str | None = None  # the root of the message out
        self._answer_deadline = math.inf
        self._answer_wait = limits.answer_timeout
        self._keepalive_every = math.inf
        self._keepalive_at = math.inf
        self._keepalive_out = False  # the message out is a keepalive

    def _move(self, trigger: str) -> None:
        try:
            self.state = TRANSITIONS[(self.state, trigger)]
        except KeyError:
            raise ProtocolStateError(f"{trigger} in state {self.state}") from None

    # --- bytes in ------------------------------------------------------------
    def receive_data(self, data: bytes | bytearray, now: float) -> None:
        """Bytes from the client; empty at end of input."""
        if not data:
            self._ended = True
            return
        if self._error is not None or self.state is State.CLOSED:
            return
        complete = len(self._packets)
        try:
            self._packets.extend(self._decoder.feed(data))
        except FramingError as exc:
            self._error = exc.message
            return
        if not self._decoder.in_packet:
            self._packet_deadline = math.inf
        elif len(self._packets) > complete or self._packet_deadline == math.inf:
            # A packet began in this chunk: all of it must be in within
            # frame_timeout of its first byte, however slowly it drips.
            self._packet_deadline = now + self.limits.frame_timeout

    def next_event(self) -> Event:
        """What the bytes received so far mean, one event at a time."""
        state = self.state
        if state is State.CLOSED:
            return Closed("closed")
        if self._packets and state is not State.COMMAND:
            packet = self._packets.popleft()
            if state is State.IDLE:
                self._move(Trigger.COMMAND)
                return CommandReceived(packet)
            return PacketReceived(packet)
        if self._error is not None:
            reason, self._error = self._error, None
            return self._fail(reason)
        if self._ended and not (self._packets and state is State.COMMAND):
            if state is State.IDLE:
                self._move(Trigger.CLOSE)
                return Closed("end of input")
            # A command that talks to the client cannot go on without it; one
            # that only answers finishes, and its answer goes if it can.
            self._move(Trigger.CLOSE)
            return Cancel(Status.CANCELLED, "client disconnected")
        return NEED_DATA

    @property
    def has_packet(self) -> bool:
        """A whole packet is waiting (a pipelined command while one runs)."""
        return bool(self._packets)

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def in_packet(self) -> bool:
        """A packet has begun and is not complete: the frame timeout runs."""
        return self._decoder.in_packet

    def _fail(self, reason: str) -> ProtocolError:
        self._move(Trigger.CLOSE)
        return ProtocolError(reason)

    # --- what the caller sent ------------------------------------------------
    def answered(self, now: float) -> None:
        """The command's answer went out (command -> idle)."""
        self._move(Trigger.DONE)
        self._idle_since = now
        self._keepalive_every = self._keepalive_at = math.inf

    def asked(self, name: str, now: float, timeout: float | None = None) -> None:
        """A message of the command went out; its answer is due within
        ``timeout`` (default: the answer timeout)."""
        self._move(Trigger.ASK)
        self._asked = name
        self._keepalive_out = name == "keepalive"
        self._answer_wait = self.limits.answer_timeout if timeout is None else timeout
        self._answer_deadline = now + self._answer_wait

    def answer(self, message: Message | None, now: float, problem: str = "") -> Answered | Cancel:
        """Judge the answer to the message out: ``message`` decoded (None:
        it could not be, ``problem`` says why)."""
        self._move(Trigger.ANSWER)
        asked, keepalive = self._asked, self._keepalive_out
        self._asked, self._answer_deadline = None, math.inf
        if keepalive:  # the next one is due an interval after this answer
            self._keepalive_at = now + self._keepalive_every
        if message is None:
            return Cancel(Status.FORMAT_ERROR, f"bad answer to <{asked}>: {problem}")
        if message.name != asked:
            return Cancel(
                Status.FORMAT_ERROR, f"expected an answer to <{asked}>, got <{message.name}>"
            )
        if message.status == Status.CANCELLED:
            # The manual defines it for keepalive («Сообщение keepalive»: cancelled
            # interrupts the transaction); a register that answers any message
            # `cancelled` wants the operation stopped. Any other status
            # (notimplemented, failed, ...) lets the operation go on.
            return Cancel(Status.CANCELLED, f"cancelled by the cash register (<{asked}>)")
        return Answered(message)

    def keep_alive(self, every: float, first_after: float, now: float) -> None:
        """Keepalives every ``every`` seconds while the command runs, the
        first ``first_after`` from now."""
        self._keepalive_every = every
        self._keepalive_at = now + first_after

    def close(self) -> None:
        if self.state is not State.CLOSED:
            self._move(Trigger.CLOSE)

    # --- time ---------------------------------------------------------------
    def deadline(self) -> float:
        """When `time_passed` has something to say next."""
        state = self.state
        if state is State.CLOSED:
            return math.inf
        # A packet under way, whatever the state (an answer dripped in too).
        packet = self._packet_deadline if self._decoder.in_packet else math.inf
        if state is State.IDLE:
            if packet < math.inf:
                return packet
            return self._idle_since + self.limits.idle_timeout
        if state is State.ASKING:
            return min(packet, self._answer_deadline)
        return min(packet, self._keepalive_at)

    def time_passed(self, now: float) -> Event | KeepaliveDue | None:
        """What the clock means now, if anything."""
        if now < self.deadline():
            return None
        state = self.state
        if self._decoder.in_packet and now >= self._packet_deadline:
            return self._fail(f"packet not completed within {self.limits.frame_timeout:g} s")
        if state is State.IDLE:
            self._move(Trigger.CLOSE)
            return Closed("idle")
        if state is State.ASKING:
            asked, self._asked = self._asked, None
            self._move(Trigger.NO_ANSWER)
            self._answer_deadline = math.inf
            return Cancel(
                Status.TIMEOUT,
                f"no answer to <{asked}> within {self._answer_wait:g} s; operation cancelled",
            )
        if state is State.COMMAND:
            self._keepalive_at = math.inf
            return KeepaliveDue()
        return None
