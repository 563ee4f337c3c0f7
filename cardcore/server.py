# Strategy: the ECR protocol server (manual: «Протокол обмена данными»;
# docs/architecture.md): listeners, the connection table
# (cardcore.connections: who may connect, who makes room for a newcomer), and
# one cardcore.connection.Connection per client, which runs the commands of a
# dispatch table. Device operations are exclusive: a second one is refused at
# once with `failed` and "terminal busy" (the device lock lives here, shared by
# every connection).
from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Mapping

import trio

from cardcore.config import ServerConfig
from cardcore.connection import Command, Connection
from cardcore.connections import ConnectionTable, Slot, peer_address
from cardcore.errors import ListenError
from cardcore.protocol.secure import KeyRing
from cardcore.transport import SocketTransport, StreamTransport, Transport

__all__ = ["EcrServer", "open_listeners"]

log = logging.getLogger(__name__)

# Connections accepted per wake-up of the accept loop before it yields.
ACCEPT_BATCH = 64
_INET = (socket.AF_INET, socket.AF_INET6)


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
                        transport = SocketTransport(sock)
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
        """A socket stream's socket leaves its wrapper (see SocketTransport)."""
        transport: Transport
        if isinstance(stream, trio.SocketStream):
            transport = SocketTransport(socket.socket(fileno=stream.socket.detach()))
        else:
            transport = StreamTransport(stream)
        await self._run_transport(transport, peer, slot)

    async def _run_transport(self, transport: Transport, peer: str, slot: Slot) -> None:
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
