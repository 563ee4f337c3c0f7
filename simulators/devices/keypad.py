# Strategy: a simulated terminal keypad. Unattended it answers confirmations
# at once with a preset answer, which tests and the simulator control can
# change; while a person is at the terminal (simulators.devices.keys: the virtual
# terminal page is open) it shows the prompt and waits for their OK or
# cancel, as a real terminal's keypad does, until the timeout refuses.
from __future__ import annotations

import trio

from hal.interfaces import Keypad
from simulators.devices.keys import TerminalKeys

__all__ = ["SimKeypad"]


class SimKeypad(Keypad):
    def __init__(self, answer: bool = True, keys: TerminalKeys | None = None) -> None:
        self.answer = answer
        self.keys = keys
        self.prompts: list[str] = []
        self.prompt: str | None = None  # the confirmation waiting for a person now

    async def confirm(self, prompt: str, timeout: float) -> bool:
        self.prompts.append(prompt)
        keys = self.keys
        if keys is None or not keys.attended:
            await trio.lowlevel.checkpoint()
            return self.answer
        self.prompt = prompt
        try:
            with keys.reading("confirm"), trio.move_on_after(timeout):
                while True:
                    key = await keys.next_key()
                    if key == "ok":
                        return True
                    if key == "cancel":
                        return False
            return False
        finally:
            self.prompt = None
            keys.changes.changed()
