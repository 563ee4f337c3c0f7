# Strategy: the hardware abstraction layer's interfaces as typing.Protocols
# (DESIGN.md, convention 7). Simulated drivers in hal/sim are first-class
# implementations; real drivers (PC/SC, USB-HID) implement the same protocols
# and one conformance suite runs against both.
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from kernel.errors import CardcoreError

__all__ = [
    "CardInfo",
    "CardInterface",
    "CardReader",
    "CardRemoved",
    "CardSession",
    "DeviceInfo",
    "Keypad",
    "NoKeypad",
    "PinPad",
    "ReaderError",
    "ReaderNotAvailable",
]


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


# --- card readers -----------------------------------------------------------


class CardInterface(StrEnum):
    CONTACT = "contact"
    CONTACTLESS = "contactless"


@dataclass(frozen=True, slots=True)
class CardInfo:
    """What activation tells about a card: the ATR (contact, or the one a PC/SC
    reader synthesises for a contactless card, PC/SC part 3), and for
    ISO 14443-A cards the UID, ATQA and SAK."""

    interface: CardInterface
    atr: bytes = b""
    uid: bytes = b""
    atqa: bytes = b""
    sak: int | None = None


class ReaderError(CardcoreError):
    """Card reader error."""

    status = "readererror"


class ReaderNotAvailable(CardcoreError):
    """Card reader not available."""

    status = "readernotavailable"


class CardRemoved(CardcoreError):
    """The card was removed or lost power during the transaction."""

    status = "tryagain"


class CardSession(Protocol):
    """A powered (contact) or activated (contactless) card."""

    @property
    def info(self) -> CardInfo: ...

    async def transmit(self, capdu: bytes) -> bytes:
        """Exchange one APDU; the R-APDU includes SW1 SW2. T=0 procedure bytes
        (61xx, 6Cxx) are passed up unchanged: the kernel's transport handles
        them once. Raises CardRemoved or ReaderError."""
        ...

    async def close(self) -> None:
        """Power the card off / deactivate the field for it."""
        ...


class CardReader(Protocol):
    """One card interface of the terminal. Waiting is cancellable (trio)."""

    @property
    def interface(self) -> CardInterface: ...

    @property
    def name(self) -> str: ...

    async def wait_for_card(self) -> CardSession:
        """Return once a card is present and powered/activated."""
        ...

    async def wait_for_removal(self) -> None:
        """Return once no card is present."""
        ...


# --- PIN pad ------------------------------------------------------------------


class PinPad(Protocol):
    """PIN entry happens inside the pad; the PIN itself never leaves it.

    - Online PIN: the pad returns an ISO 9564 format-0 block enciphered under
      the TPK it holds (or its DUKPT equivalent).
    - Offline PIN: the pad returns the ISO 9564 format-2 block that VERIFY
      carries, over the pad's secured link to the kernel (EMV Book 3 6.5.12).
    Both raise kernel.errors.PinEntryBypassed when the cardholder bypasses
    entry (or presses cancel during PIN entry) and kernel.errors.PinPadError on
    a fault or a timeout.
    """

    async def online_pin(self, pan: str, amount: int, currency: int, timeout: float) -> bytes: ...

    async def offline_pin(
        self, amount: int, currency: int, tries_remaining: int | None, timeout: float
    ) -> bytes: ...
