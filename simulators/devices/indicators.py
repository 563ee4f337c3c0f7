# Strategy: simulated lights and beeper (EMV Contactless Book A 9.3/9.4). They
# keep their state and a history, which tests, the simulator status and the
# virtual terminal page read; every change is counted in their `Changes`.
from __future__ import annotations

import trio

from hal.interfaces import Indicators
from simulators.devices.changes import Changes

__all__ = ["SimIndicators"]


class SimIndicators(Indicators):
    def __init__(self, changes: Changes | None = None) -> None:
        self.lights: tuple[bool, bool, bool, bool] = (False, False, False, False)
        self.tones: list[str] = []
        self.changes = changes if changes is not None else Changes()

    async def show(self, lights: tuple[bool, bool, bool, bool], tone: str | None) -> None:
        await trio.lowlevel.checkpoint()
        self.lights = lights
        if tone is not None:
            self.tones.append(tone)
        self.changes.changed()
