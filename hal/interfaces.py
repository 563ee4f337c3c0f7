# Strategy: the hardware abstraction layer's interfaces as typing.Protocols
# (DESIGN.md, convention 7). Simulated drivers in hal/sim are first-class
# implementations; real drivers (PC/SC, USB-HID) implement the same protocols
# and one conformance suite runs against both.
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["DeviceInfo", "Keypad", "NoKeypad"]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Identity and firmware of the terminal hardware (getparameters)."""

    serial_number: str
    model: str
    firmware_mcu: str
    firmware_boot: str
    os: str
    sdk: str


@runtime_checkable
class Keypad(Protocol):
    """The terminal's own keys, used for physical confirmations by the operator."""

    async def confirm(self, prompt: str, timeout: float) -> bool:
        """Show ``prompt`` and wait for OK (True) or Cancel/timeout (False)."""
        ...


class NoKeypad(Keypad):
    """The keypad of a terminal with no keypad driver configured: nothing can be
    confirmed physically, so every confirmation is refused."""

    async def confirm(self, prompt: str, timeout: float) -> bool:
        return False
