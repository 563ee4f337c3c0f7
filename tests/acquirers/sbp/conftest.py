"""A running SBP agent simulator and a client configured for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import trio

from acquirers.sbp import SbpClient, SbpConfig
from simulators.sbp import SbpAgentSimulator, SbpLedger, SbpSimControl

MERCHANT = "MA0000000552"
TID_SBP = "123456789A2"


@dataclass
class RunningSim:
    sim: SbpAgentSimulator
    port: int
    scope: trio.CancelScope

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def control(self) -> SbpSimControl:
        return self.sim.control

    @property
    def ledger(self) -> SbpLedger:
        return self.sim.ledger

    def stop(self) -> None:
        self.scope.cancel()


async def start_sim(nursery: trio.Nursery, sim: SbpAgentSimulator) -> RunningSim:
    scope = trio.CancelScope()

    async def run(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await sim.serve(task_status=task_status)

    port: int = await nursery.start(run)
    return RunningSim(sim, port, scope)


def make_config(url: str, **overrides: Any) -> SbpConfig:
    values: dict[str, Any] = {
        "agent_url": url,
        "terminal_id": TID_SBP,
        "merchant_id": MERCHANT,
        "bank_name": "БАНК",
        "poll_interval": 1.0,
        "request_timeout": 5.0,
        "connect_timeout": 5.0,
    }
    values.update(overrides)
    return SbpConfig(**values)


@pytest.fixture
async def agent(nursery: trio.Nursery) -> RunningSim:
    sim = SbpAgentSimulator(SbpSimControl(pay_delay=3.0), merchant_id=MERCHANT)
    return await start_sim(nursery, sim)


@pytest.fixture
async def client(agent: RunningSim) -> AsyncIterator[SbpClient]:
    async with SbpClient(make_config(agent.url)) as sbp:
        yield sbp
