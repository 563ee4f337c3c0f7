# Strategy: a simulated terminal keypad. It answers confirmations at once with a
# preset answer, which tests and the simulator control can change.
from __future__ import annotations

from hal.interfaces import Keypad

__all__ = ["SimKeypad"]


class SimKeypad(Keypad):
    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    async def confirm(self, prompt: str, timeout: float) -> bool:
        self.prompts.append(prompt)
        return self.answer
