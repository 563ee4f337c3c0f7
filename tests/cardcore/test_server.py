"""The ECR server core with test commands, over in-memory streams and trio's
virtual clock: dispatch, bad input, messages and their answers, keepalive,
cancellation, disconnects, exclusive device operations, the secure channel."""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.lowlevel
import trio.testing

from cardcore.config import ConfigError, ServerConfig, build_config
from cardcore.connection import Answer, Command, CommandContext, Connection
from cardcore.errors import InvalidArguments
from cardcore.protocol.framing import encode_frame
from cardcore.protocol.secure import (
    KeyRing,
    SecureChannelError,
    open_message,
    seal,
    seal_message,
)
from cardcore.protocol.xmlcodec import Message, XmlWriter, decode_error_stack, encode_message
from cardcore.server import EcrServer
from cardcore.transport import StreamTransport
from tests.cardcore.ecr import RawPeer

CONFIG = ServerConfig(
    idle_timeout=60, frame_timeout=10, answer_timeout=20, keepalive_interval=5, max_packet=1024
)


class Probe:
    """Records what handlers saw, so tests can check clean-up ran."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.release = trio.Event()
        self.started = trio.Event()
        self.waiting = 0  # wait_long handlers running


def make_commands(probe: Probe) -> dict[str, Command]:
    async def ping(ctx: CommandContext) -> Answer:
        probe.events.append(f"ping {ctx.params().get('value', '')}")
        return Answer({"pong": ctx.params().get("value", "")})

    async def ask_display(ctx: CommandContext) -> Answer:
        try:
            answer = await ctx.ask("display", {"code": "03"})
            probe.events.append(f"answered {answer.status}")
            return Answer({"client-said": answer.status or ""})
        finally:
            with trio.CancelScope(shield=True):
                await trio.lowlevel.checkpoint()
                probe.events.append("cleanup")

    async def wait_long(ctx: CommandContext) -> Answer:
        ctx.start_keepalive()
        probe.started.set()
        probe.waiting += 1
        try:
            await probe.release.wait()
        finally:
            probe.events.append("wait_long finished")
        return Answer()

    async def device_op(ctx: CommandContext) -> Answer:
        probe.started.set()
        await probe.release.wait()
        return Answer()

    async def bad_args(ctx: CommandContext) -> Answer:
        raise InvalidArguments("amount must be 12 digits")

    async def crash(ctx: CommandContext) -> Answer:
        raise RuntimeError("bug")

    return {
        "ping": Command(ping),
        "askdisplay": Command(ask_display),
        "waitlong": Command(wait_long),
        "deviceop": Command(device_op, exclusive=True),
        "badargs": Command(bad_args),
        "crash": Command(crash),
    }


# Every test runs over both kinds of link the server drives: a trio stream
# (here in memory) and a connected socket, which the server reads and writes
# directly (a Unix socket pair: delivery is immediate, as the virtual clock
# of the timeout tests needs).
LINK = "memory"


@pytest.fixture(autouse=True, params=["memory", "socket"])
def link(request: pytest.FixtureRequest) -> Iterator[str]:
    global LINK
    LINK = request.param
    yield LINK
    LINK = "memory"


def stream_pair() -> tuple[trio.abc.Stream, trio.abc.Stream]:
    if LINK == "memory":
        return trio.testing.memory_stream_pair()
    ours, theirs = trio.socket.socketpair()
    return trio.SocketStream(ours), trio.SocketStream(theirs)


@asynccontextmanager
async def serving(
    config: ServerConfig = CONFIG, keyring: KeyRing | None = None
) -> AsyncIterator[tuple[Callable[[], Awaitable[RawPeer]], Probe, EcrServer]]:
    probe = Probe()
    server = EcrServer(config, make_commands(probe), keyring)
    async with trio.open_nursery() as nursery:

        async def connect() -> RawPeer:
            client, server_side = stream_pair()
            nursery.start_soon(server.handle_stream, server_side, "test-peer")
            return RawPeer(client)

        yield connect, probe, server
        nursery.cancel_scope.cancel()


async def test_several_commands_on_one_connection() -> None:
    async with serving() as (connect, _, _):
        peer = await connect()
        for value in ("1", "2"):
            answer = await peer.command(Message("ping", {"value": value}))
            assert answer == Message("ping", {"status": "ok", "pong": value})


async def test_parameters_as_root_attributes() -> None:
    async with serving() as (connect, _, _):
        peer = await connect()
        answer = await peer.command(Message("ping", {}, {"value": "7"}))
        assert answer.body["pong"] == "7"


async def test_unknown_command_is_notimplemented_and_connection_stays() -> None:
    async with serving() as (connect, _, _):
        peer = await connect()
        answer = await peer.command(Message("frobnicate"))
        assert answer.name == "frobnicate" and answer.status == "notimplemented"
        assert decode_error_stack(answer.body["error-stack"]) == ["unknown command <frobnicate>"]
        assert (await peer.command(Message("ping"))).status == "ok"


async def test_handler_error_maps_to_its_status() -> None:
    async with serving() as (connect, _, _):
        peer = await connect()
        answer = await peer.command(Message("badargs"))
        assert answer.status == "invalidarguments"
        assert decode_error_stack(answer.body["error-stack"]) == ["amount must be 12 digits"]


async def test_unexpected_exception_is_systemerror_and_server_lives() -> None:
    async with serving() as (connect, _, _):
        peer = await connect()
        answer = await peer.command(Message("crash"))
        assert answer.status == "systemerror"
        assert "bug" not in " ".join(decode_error_stack(answer.body["error-stack"]))
        assert (await (await connect()).command(Message("ping"))).status == "ok"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x00\x00\x00\x05<a/>x", "malformed XML"),
        (b"\x00\x00\x00\x00", "zero length"),
        (b"\xff\xff\xff\xf0", "length 4294967280"),
        (b"\x00\x00\x04\x01", "length 1025"),
        (b"\x00\x00\x00\x0anot xml at", "malformed XML"),
    ],
)
async def test_bad_packets_get_formaterror_and_close(raw: bytes, reason: str) -> None:
    async with serving() as (connect, _, _):
        peer = await connect()
        await peer.send_bytes(raw)
        answer = await peer.read()
        assert answer.name == "error" and answer.status == "formaterror"
        assert reason in decode_error_stack(answer.body["error-stack"])[0]
        assert await peer.at_eof()
        assert (await (await connect()).command(Message("ping"))).status == "ok"


async def test_truncated_packet_then_eof(autojump_clock: trio.testing.MockClock) -> None:
    async with serving() as (connect, _, server):
        peer = await connect()
        await peer.send_bytes(b"\x00\x00\x00\x20<ping>")
        await peer.stream.aclose()
        await trio.sleep(1)
        assert server.connections == 0
        assert (await (await connect()).command(Message("ping"))).status == "ok"


async def test_half_sent_packet_times_out(autojump_clock: trio.testing.MockClock) -> None:
    async with serving() as (connect, _, _):
        peer = await connect()
        await peer.send_bytes(b"\x00\x00\x00\x20<pi")
        start = trio.current_time()
        answer = await peer.read()
        assert answer.status == "formaterror"
        assert "not completed" in decode_error_stack(answer.body["error-stack"])[0]
        assert await peer.at_eof()
        assert trio.current_time() - start == pytest.approx(CONFIG.frame_timeout)


@pytest.mark.parametrize("header_first", [True, False])
async def test_a_dripped_packet_is_refused_from_its_first_byte(
    autojump_clock: trio.testing.MockClock, header_first: bool
) -> None:
    """The frame timeout is a deadline for the whole packet: a byte every few
    seconds does not keep restarting it (slow-loris)."""
    packet = encode_frame(encode_message(Message("ping")))
    async with serving() as (connect, probe, _):
        peer = await connect()
        start = trio.current_time()
        # The length alone opens the packet, as does its first byte.
        opening = 4 if header_first else 1
        await peer.send_bytes(packet[:opening])
        drip = packet[opening:]
        answer: list[Message] = []
        answered_at: list[float] = []

        async def read() -> None:
            answer.append(await peer.read())
            answered_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            for byte in drip:
                await trio.sleep(CONFIG.frame_timeout / 4)
                if answer:
                    break
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await peer.send_bytes(bytes([byte]))
        assert answer[0].status == "formaterror" and probe.events == []
        assert answered_at[0] - start == pytest.approx(CONFIG.frame_timeout, abs=1e-6)


async def test_packets_back_to_back_each_get_their_own_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    packet = encode_frame(encode_message(Message("ping")))
    async with serving() as (connect, _, _):
        peer = await connect()
        # Each chunk completes one packet and begins the next.
        await peer.send_bytes(packet[:5])
        for _ in range(4):
            await trio.sleep(CONFIG.frame_timeout * 0.75)
            await peer.send_bytes(packet[5:] + packet[:5])
            assert (await peer.read()).status == "ok"


async def test_idle_connection_is_closed(autojump_clock: trio.testing.MockClock) -> None:
    async with serving() as (connect, _, server):
        peer = await connect()
        assert (await peer.command(Message("ping"))).status == "ok"
        start = trio.current_time()
        assert await peer.at_eof()
        assert trio.current_time() - start == pytest.approx(CONFIG.idle_timeout)
        await trio.testing.wait_all_tasks_blocked()
        assert server.connections == 0


async def test_a_command_longer_than_the_idle_timeout_is_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The idle timeout counts only while the connection waits for a command."""
    async with serving() as (connect, probe, _):
        peer = await connect()
        await peer.send(Message("deviceop"))
        await probe.started.wait()
        await trio.sleep(CONFIG.idle_timeout * 3)
        probe.release.set()
        assert (await peer.read()).status == "ok"
        assert (await peer.command(Message("ping"))).status == "ok"
        start = trio.current_time()
        assert await peer.at_eof()  # and then idle as usual
        assert trio.current_time() - start == pytest.approx(CONFIG.idle_timeout)


async def test_message_answered() -> None:
    async with serving() as (connect, probe, _):
        peer = await connect()
        await peer.send(Message("askdisplay"))
        message = await peer.read()
        assert message == Message("display", {"code": "03"})
        await peer.send(Message("display", {"status": "ok"}))
        answer = await peer.read()
        assert answer == Message("askdisplay", {"status": "ok", "client-said": "ok"})
        assert probe.events == ["answered ok", "cleanup"]


async def test_message_never_answered_times_out(autojump_clock: trio.testing.MockClock) -> None:
    async with serving() as (connect, probe, _):
        peer = await connect()
        await peer.send(Message("askdisplay"))
        assert (await peer.read()).name == "display"
        answer = await peer.read()  # the client stays silent
        assert answer.name == "askdisplay" and answer.status == "timeout"
        assert probe.events == ["cleanup"]
        assert (await peer.command(Message("ping"))).status == "ok"


async def test_message_answered_with_wrong_root() -> None:
    async with serving() as (connect, probe, _):
        peer = await connect()
        await peer.send(Message("askdisplay"))
        await peer.read()
        await peer.send(Message("keepalive", {"status": "ok"}))
        answer = await peer.read()
        assert answer.status == "formaterror"
        assert (
            "expected an answer to <display>" in decode_error_stack(answer.body["error-stack"])[0]
        )
        assert probe.events == ["cleanup"]


async def test_message_answered_with_garbage() -> None:
    async with serving() as (connect, probe, _):
        peer = await connect()
        await peer.send(Message("askdisplay"))
        await peer.read()
        await peer.send_xml(b"<display><unclosed></display>")
        answer = await peer.read()
        assert answer.status == "formaterror"
        assert probe.events == ["cleanup"]


async def test_disconnect_while_waiting_for_answer_cancels_cleanly() -> None:
    async with serving() as (connect, probe, server):
        peer = await connect()
        await peer.send(Message("askdisplay"))
        await peer.read()
        await peer.stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert server.connections == 0
        assert probe.events == ["cleanup"]


async def test_keepalive_cancelled_by_client(autojump_clock: trio.testing.MockClock) -> None:
    async with serving() as (connect, probe, _):
        peer = await connect()
        await peer.send(Message("waitlong"))
        for _ in range(2):
            assert await peer.read() == Message("keepalive")
            await peer.send(Message("keepalive", {"status": "ok"}))
        assert await peer.read() == Message("keepalive")
        await peer.send(Message("keepalive", {"status": "cancelled"}))
        answer = await peer.read()
        assert answer.status == "cancelled"
        assert probe.events == ["wait_long finished"]


async def test_keepalive_unanswered_cancels(autojump_clock: trio.testing.MockClock) -> None:
    async with serving() as (connect, probe, _):
        peer = await connect()
        await peer.send(Message("waitlong"))
        assert await peer.read() == Message("keepalive")
        answer = await peer.read()
        assert answer.status == "timeout"
        assert probe.events == ["wait_long finished"]


async def test_disconnect_during_keepalive_wait(autojump_clock: trio.testing.MockClock) -> None:
    async with serving() as (connect, probe, server):
        peer = await connect()
        await peer.send(Message("waitlong"))
        await probe.started.wait()
        await peer.stream.aclose()
        await trio.sleep(1)
        assert probe.events == ["wait_long finished"]
        assert server.connections == 0


async def test_device_operations_are_exclusive() -> None:
    async with serving() as (connect, probe, _):
        first = await connect()
        await first.send(Message("deviceop"))
        await probe.started.wait()
        second = await connect()
        answer = await second.command(Message("deviceop"))
        assert answer.status == "failed"
        assert decode_error_stack(answer.body["error-stack"]) == ["terminal busy"]
        # read-only commands still run while the device is busy
        assert (await second.command(Message("ping"))).status == "ok"
        probe.release.set()
        assert (await first.read()).status == "ok"
        probe.started = trio.Event()
        assert (await second.command(Message("deviceop"))).status == "ok"


async def test_many_idle_connections_do_not_block_others() -> None:
    async with serving() as (connect, _, server):
        idle = [await connect() for _ in range(200)]
        await idle[0].send_bytes(b"\x00\x00")  # and one half-sent header
        peer = await connect()
        assert (await peer.command(Message("ping"))).status == "ok"
        assert server.connections == 201


async def test_a_client_sending_many_commands_at_once_does_not_hold_up_others() -> None:
    def frame(message: Message) -> bytes:
        xml = encode_message(message)
        return struct.pack(">I", len(xml)) + xml

    async with serving() as (connect, probe, _):
        busy, other = await connect(), await connect()
        pings = [Message("ping", {"value": f"a{i}"}) for i in range(50)]
        await busy.send_bytes(b"".join(frame(m) for m in [Message("deviceop"), *pings]))
        await probe.started.wait()  # the pings wait in the server, read
        probe.release.set()
        await other.send(Message("ping", {"value": "b"}))
        assert (await other.read()).body["pong"] == "b"
        assert (await busy.read()).status == "ok"
        for i in range(50):
            assert (await busy.read()).body["pong"] == f"a{i}"
        # The other client's command ran while the first client's were queued.
        assert probe.events.index("ping b") < probe.events.index("ping a49")


async def test_encrypted_command_without_key_is_refused_in_clear() -> None:
    async with serving() as (connect, _, _):
        peer = await connect()
        sealed = seal_message(Message("ping", {"value": "x"}), os.urandom(32))
        answer = await peer.command(sealed)
        assert answer.name == "ping" and answer.status == "verificationfailed"
        assert "encrypted" not in answer.body


async def test_encrypted_command_messages_and_answer_are_sealed() -> None:
    ring = KeyRing()
    key = os.urandom(32)
    ring.add(key, "token")
    async with serving(keyring=ring) as (connect, _, _):
        peer = await connect()
        await peer.send(seal_message(Message("askdisplay"), key))
        message = await peer.read()
        assert list(message.body) == ["encrypted"]
        assert open_message(message, key) == Message("display", {"code": "03"})
        await peer.send(seal_message(Message("display", {"status": "ok"}), key))
        answer = await peer.read()
        assert list(answer.body) == ["encrypted"]
        assert open_message(answer, key).body == {"status": "ok", "client-said": "ok"}


async def test_a_replayed_sealed_command_is_refused() -> None:
    """The same sealed bytes on a new connection decrypt like the first time:
    only their IV tells the replay, and it is refused for the key's life."""
    ring = KeyRing()
    key = os.urandom(32)
    ring.add(key, "token")
    async with serving(keyring=ring) as (connect, probe, _):
        sealed = seal_message(Message("ping", {"value": "once"}), key)
        first = await (await connect()).command(sealed)
        assert open_message(first, key).body == {"status": "ok", "pong": "once"}
        for _ in range(2):
            again = await (await connect()).command(sealed)
            assert again.status == "verificationfailed" and "encrypted" not in again.body
            assert "replay" in decode_error_stack(again.body["error-stack"])[0]
        # The terminal's own sealed answer sent back as a command is a replay too.
        reflected = await (await connect()).command(Message("ping", first.body))
        assert reflected.status == "verificationfailed"
        assert probe.events == ["ping once"]
        fresh = await (await connect()).command(seal_message(Message("ping"), key))
        assert open_message(fresh, key).status == "ok"


async def test_a_sealed_command_that_is_not_xml_is_answered_sealed() -> None:
    ring = KeyRing()
    key = os.urandom(32)
    ring.add(key, "token")
    async with serving(keyring=ring) as (connect, _, _):
        peer = await connect()
        for plaintext in (b"<encrypted-data><value>x</encrypted-data>", b"<oops/>"):
            block = seal(key, plaintext)
            answer = await peer.command(Message("ping", {"encrypted": block}))
            assert list(answer.body) == ["encrypted"]
            inner = open_message(answer, key)
            assert inner.status == "formaterror" and inner.body["error-stack"]


def test_a_key_carries_a_bounded_number_of_packets() -> None:
    ring = KeyRing(packets=3)
    key = os.urandom(32)
    ring.add(key, "token")
    for i in range(3):
        ring.open(seal_message(Message("ping", {"value": str(i)}), key))
    with pytest.raises(SecureChannelError, match="log in"):
        ring.open(seal_message(Message("ping"), key))
    assert len(ring) == 0  # retired: nothing opens under it any more


@asynccontextmanager
async def listening(config: ServerConfig) -> AsyncIterator[tuple[EcrServer, int, Probe]]:
    probe = Probe()
    server = EcrServer(config, make_commands(probe))
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(server.serve, "127.0.0.1", 0)
        yield server, listeners[0].socket.getsockname()[1], probe
        nursery.cancel_scope.cancel()


async def dial(port: int, source: str = "127.0.0.1") -> RawPeer:
    return RawPeer(await trio.open_tcp_stream("127.0.0.1", port, local_address=source))


async def until(condition: Callable[[], bool]) -> None:
    with trio.fail_after(5):
        while not condition():  # noqa: ASYNC110 - real sockets: poll the server's table
            await trio.sleep(0.01)


async def test_a_full_table_makes_room_for_a_new_peer() -> None:
    """The oldest idle connection of the address holding the most makes room
    for a new address; an address that holds as much as the others does not
    push them out (no endless chain of evictions among attackers)."""
    config = ServerConfig(max_connections=3, max_connections_per_peer=3)
    async with listening(config) as (server, port, _):
        oldest, newer = await dial(port, "127.0.0.2"), await dial(port, "127.0.0.2")
        other = await dial(port, "127.0.0.3")
        await until(lambda: server.connections == 3)
        newcomer = await dial(port, "127.0.0.1")
        assert (await newcomer.command(Message("ping"))).status == "ok"
        assert await oldest.at_eof()  # closed to make room
        for peer in (newer, other):
            assert (await peer.command(Message("ping"))).status == "ok"
        # 127.0.0.3 would hold 2 against 127.0.0.2's 1: refused.
        greedy = await dial(port, "127.0.0.3")
        with contextlib.suppress(trio.BrokenResourceError):
            await greedy.send(Message("ping"))
        assert await greedy.at_eof()
        assert server.connections == 3


async def test_busy_connections_are_never_closed_to_make_room() -> None:
    async with listening(ServerConfig(max_connections=2)) as (_, port, probe):
        busy = [await dial(port), await dial(port)]
        for peer in busy:
            await peer.send(Message("waitlong"))
        await until(lambda: probe.waiting == 2)
        refused = await dial(port)
        with contextlib.suppress(trio.BrokenResourceError):
            await refused.send(Message("ping"))
        assert await refused.at_eof()  # closed unanswered
        probe.release.set()
        for peer in busy:
            assert (await peer.read()).status == "ok"


async def test_one_address_cannot_take_the_table() -> None:
    """A flood from one address gets its share and no more; another address
    is served at once."""
    config = ServerConfig(max_connections=64, max_connections_per_peer=8)
    async with listening(config) as (server, port, _):
        flood = [await dial(port, "127.0.0.2") for _ in range(40)]
        for peer in flood[8:]:
            assert await peer.at_eof()  # refused
        assert server.table.held_by("127.0.0.2") == 8
        register = await dial(port, "127.0.0.1")
        assert (await register.command(Message("ping"))).status == "ok"


async def test_allowed_clients_are_the_only_ones_served() -> None:
    config = ServerConfig(allowed_clients=["127.0.0.2/32", "10.0.0.0/8"])
    async with listening(config) as (server, port, _):
        stranger = await dial(port, "127.0.0.1")
        with contextlib.suppress(trio.BrokenResourceError):
            await stranger.send(Message("ping"))
        assert await stranger.at_eof()  # closed unanswered
        allowed = await dial(port, "127.0.0.2")
        assert (await allowed.command(Message("ping"))).status == "ok"
        assert server.connections == 1


def test_allowed_clients_must_be_addresses_or_networks() -> None:
    with pytest.raises(ConfigError, match="allowed-clients"):
        build_config({"server": {"allowed-clients": ["10.0.0.0/8", "cashier-pc"]}})


@pytest.mark.parametrize("key", ["idle-timeout", "frame-timeout", "answer-timeout"])
@pytest.mark.parametrize("value", [0, -1])
def test_a_timeout_must_be_positive(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"server.{key}"):
        build_config({"server": {key: value}})
    assert build_config({"server": {key: 0.25}}).server is not None


async def test_a_streamed_answer_is_written_while_the_device_is_held() -> None:
    held: list[bool] = []

    async def report(ctx: CommandContext) -> Answer:
        def lines(writer: XmlWriter) -> None:
            held.append(server.device_lock.locked())
            writer.element("line", "1")

        return Answer({"n": "1"}, stream=lines)

    server = EcrServer(CONFIG, {"report": Command(report, exclusive=True)})
    async with trio.open_nursery() as nursery:
        ours, theirs = stream_pair()
        nursery.start_soon(server.handle_stream, theirs, "test-peer")
        answer = await RawPeer(ours).command(Message("report"))
        assert answer.body == {"status": "ok", "n": "1", "line": "1"}
        assert held == [True]
        assert not server.device_lock.locked()
        nursery.cancel_scope.cancel()


class _SlowStream(trio.abc.Stream):
    """Takes each write in two parts with a yield between them, as a socket
    whose buffer is full does; records whether two writes overlapped."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.busy = False
        self.overlapped = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.overlapped |= self.busy
        self.busy = True
        self.written.append(bytes(data[:3]))
        await trio.lowlevel.checkpoint()
        self.written.append(bytes(data[3:]))
        self.busy = False

    async def wait_send_all_might_not_block(self) -> None:
        pass

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.sleep_forever()
        raise AssertionError

    async def aclose(self) -> None:
        pass


async def test_packets_sent_from_two_tasks_go_out_whole() -> None:
    stream = _SlowStream()
    connection = Connection(EcrServer(CONFIG, {}), StreamTransport(stream), "test-peer")
    async with trio.open_nursery() as nursery:
        for value in ("1", "2", "3"):
            nursery.start_soon(connection.send, Message("keepalive", {"n": value}))
    assert not stream.overlapped
    data = b"".join(stream.written)
    packets = []
    while data:
        length = int.from_bytes(data[:4], "big")
        packets.append(data[4 : 4 + length])
        data = data[4 + length :]
    assert sorted(packets) == [encode_message(Message("keepalive", {"n": v})) for v in "123"]
