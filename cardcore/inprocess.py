# Strategy: a terminal in simulator mode inside the calling process: the
# wiring of `cardcore serve --simulator` (host simulator on loopback TCP,
# virtual card slot, PIN pad, store-and-forward) with the ECR side over
# in-memory streams, so a caller can reach into the parts (the tests, and the
# benchmarks that time the parts of a transaction). Short timeouts and a cheap
# password hash by default: nobody waits on a person here.
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
import trio.testing

from cardcore.app import ServeOptions, build_commands, build_terminal
from cardcore.client import EcrConnection, Session, default_message_answer
from cardcore.config import build_config
from cardcore.engine.engine import TransactionEngine
from cardcore.protocol.xmlcodec import Body, Message
from cardcore.server import EcrServer
from cardcore.terminal import Terminal
from simulators.simulator import Simulator, simulator_config

__all__ = ["BASE", "Harness", "simulated_terminal"]

BASE: dict[str, Any] = {
    "admin": {"scrypt-n": 1024},
    "server": {"keepalive-interval": 0.2},
    "transaction": {"detection-timeout": 2},
    "acquirer": {
        "response-timeout": 0.5,
        "connect-timeout": 0.5,
        "retry-initial": 0.1,
        "retry-max": 0.5,
    },
}


@dataclass
class Harness:
    terminal: Terminal
    sim: Simulator
    server: EcrServer
    nursery: trio.Nursery

    def connect(
        self, on_message: Callable[[Message], Body] = default_message_answer
    ) -> EcrConnection:
        client, server_side = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self.server.handle_stream, server_side, "harness")
        return EcrConnection(client, Session(), on_message, timeout=60)

    async def transaction(
        self, on_message: Callable[[Message], Body] = default_message_answer, **params: str
    ) -> Message:
        body = {k.replace("_", "-"): v for k, v in params.items()}
        connection = self.connect(on_message)
        try:
            return await connection.command("transaction", body)
        finally:
            await connection.aclose()

    async def settle_pending(self, timeout: float = 20) -> None:
        """Host approving: wait until store-and-forward delivered everything."""
        assert self.sim.host is not None
        with trio.fail_after(timeout):
            while await self.terminal.journal.count_pending():
                self.terminal.host.poke()
                await trio.sleep(0.02)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in extra.items():
        out.setdefault(section, {}).update(values)
    return out


@asynccontextmanager
async def simulated_terminal(
    data_dir: Path, config: dict[str, Any] | None = None
) -> AsyncIterator[Harness]:
    options = ServeOptions(build_config(_merge(BASE, config or {})), data_dir, simulator=True)
    terminal = build_terminal(options)
    await terminal.start()
    terminal.start_host()
    try:
        async with trio.open_nursery() as nursery:
            sim = terminal.sim = Simulator()
            sim.seed_keys(terminal)
            sim.install_devices(terminal)
            port = await sim.start_host(nursery, terminal)
            sbp_port = await sim.start_sbp(nursery)
            terminal.reconfigure(simulator_config(terminal.config, port, sbp_port))
            engine = TransactionEngine(terminal)
            engine.register_senders()
            await engine.recover()
            await nursery.start(terminal.host.run)
            server = EcrServer(terminal.config.server, build_commands(terminal), terminal.keyring)
            yield Harness(terminal, sim, server, nursery)
            nursery.cancel_scope.cancel()
    finally:
        terminal.close()
