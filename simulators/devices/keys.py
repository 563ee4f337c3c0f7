# Strategy: the terminal's own keys (digits, cancel, clear, OK) as a person
# presses them on the virtual terminal page (simulators.ui). A real terminal
# reads its keys only while it asks for something (a PIN, a confirmation);
# so here a key pressed while nothing waits for one is dropped, and whatever
# was pressed is forgotten when the wait ends. While a person is at the
# terminal (a page is open: `attended`), the simulated PIN pad and keypad
# wait for their keys instead of answering on their own.
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio

from simulators.devices.changes import Changes

__all__ = ["KEYS", "TerminalKeys"]

# The keypad of a payment terminal: digits, the red cancel, the yellow
# clear (correct: takes back the last digit) and the green OK.
KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "cancel", "clear", "ok")


class TerminalKeys:
    def __init__(self, changes: Changes | None = None) -> None:
        self.changes = changes if changes is not None else Changes()
        self.people = 0
        # What waits for keys now: "pin" (the PIN pad), "confirm" (the keypad) or None.
        self.waiting: str | None = None
        self._send, self._receive = trio.open_memory_channel[str](32)

    @property
    def attended(self) -> bool:
        """Someone is at the terminal: PIN entry and confirmations wait for their keys."""
        return self.people > 0

    @contextmanager
    def person(self) -> Iterator[None]:
        """A person at the terminal for the duration of the block."""
        self.people += 1
        self.changes.changed()
        try:
            yield
        finally:
            self.people -= 1
            self.changes.changed()

    def press(self, key: str) -> bool:
        """Press ``key``; False when nothing waits for a key (it is dropped)."""
        if key not in KEYS:
            raise ValueError(f"no key {key!r} on the keypad (keys: {', '.join(KEYS)})")
        if self.waiting is None:
            return False
        try:
            self._send.send_nowait(key)
        except trio.WouldBlock:
            return False
        return True

    @contextmanager
    def reading(self, what: str) -> Iterator[None]:
        """Keys are read for ``what`` inside the block, and only there."""
        self._drain()
        self.waiting = what
        self.changes.changed()
        try:
            yield
        finally:
            self.waiting = None
            self._drain()
            self.changes.changed()

    async def next_key(self) -> str:
        return await self._receive.receive()

    def _drain(self) -> None:
        while True:
            try:
                self._receive.receive_nowait()
            except trio.WouldBlock:
                return
