# Strategy: simulated lights and beeper (EMV Contactless Book A 9.3/9.4). They
# keep their state and a history, which tests and the simulator status read.
from __future__ import annotations

import trio

from hal.interfaces import Indicators

__all__ = ["SimIndicators"]


class SimIndicators(Indicators):
    def __init__(self) -> None:
        self.lights: tuple[bool, bool, bool, bool] = (False, False, False, False)
        self.tones: list[str] = []

    async def show(self, lights: tuple[bool, bool, bool, bool], tone: str | None) -> None:
        await trio.lowlevel.checkpoint()
        self.lights = lights
        if tone is not None:
            self.tones.append(tone)
