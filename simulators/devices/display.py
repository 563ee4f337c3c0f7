# Strategy: a simulated cardholder display (issue 5). It keeps what it shows
# now and a bounded history, which tests, the simulator status and the
# virtual terminal page read; every change is counted in its `Changes`.
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import trio

from hal.interfaces import Display
from simulators.devices.changes import Changes

__all__ = ["Shown", "SimDisplay"]


@dataclass(frozen=True)
class Shown:
    message: int
    text: str
    amount: int | None = None
    currency: str = ""
    language: str = ""


class SimDisplay(Display):
    def __init__(self, history: int = 100, changes: Changes | None = None) -> None:
        self.current: Shown | None = None
        self.qr: str | None = None
        self.history: deque[Shown] = deque(maxlen=history)
        self.changes = changes if changes is not None else Changes()

    async def show(
        self,
        message: int,
        text: str,
        amount: int | None = None,
        currency: str = "",
        language: str = "",
    ) -> None:
        await trio.lowlevel.checkpoint()
        self.current = Shown(message, text, amount, currency, language)
        self.history.append(self.current)
        self.changes.changed()

    async def show_qr(self, payload: str | None) -> None:
        await trio.lowlevel.checkpoint()
        self.qr = payload
        self.changes.changed()

    def codes(self) -> list[str]:
        """The message identifiers shown, oldest first, as the ECR's hex codes."""
        return [f"{s.message:02X}" for s in self.history]
