# Strategy: a simulated cardholder display (issue 5). It keeps what it shows
# now and a bounded history, which tests and the simulator status read.
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import trio

from hal.interfaces import Display

__all__ = ["Shown", "SimDisplay"]


@dataclass(frozen=True)
class Shown:
    message: int
    text: str
    amount: int | None = None
    currency: str = ""


class SimDisplay(Display):
    def __init__(self, history: int = 100) -> None:
        self.current: Shown | None = None
        self.qr: str | None = None
        self.history: deque[Shown] = deque(maxlen=history)

    async def show(
        self, message: int, text: str, amount: int | None = None, currency: str = ""
    ) -> None:
        await trio.lowlevel.checkpoint()
        self.current = Shown(message, text, amount, currency)
        self.history.append(self.current)

    async def show_qr(self, payload: str | None) -> None:
        await trio.lowlevel.checkpoint()
        self.qr = payload

    def codes(self) -> list[str]:
        """The message identifiers shown, oldest first, as the ECR's hex codes."""
        return [f"{s.message:02X}" for s in self.history]
