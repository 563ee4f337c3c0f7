# Strategy: what a person sees on the simulated terminal (the display, the
# lights, the card in the field, a prompt on the keypad) changes in the
# drivers themselves; each driver counts its changes in one shared `Changes`,
# so whoever shows the terminal (the virtual terminal page, simulators.ui) waits
# for the count to move and reads the drivers again, instead of keeping a copy.
from __future__ import annotations

import trio

__all__ = ["Changes"]


class Changes:
    """A change counter with a wait for the next change."""

    def __init__(self) -> None:
        self.count = 0
        self._event = trio.Event()

    def changed(self) -> None:
        self.count += 1
        self._event.set()
        self._event = trio.Event()

    async def wait(self, seen: int) -> int:
        """Return the count once it differs from ``seen`` (at once if it does)."""
        while self.count == seen:
            await self._event.wait()
        return self.count
