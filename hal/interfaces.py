# Strategy: the hardware abstraction layer's interfaces as typing.Protocols
# (docs/conventions.md, convention 7). Simulated drivers in simulators/devices are first-class
# implementations; real drivers (PC/SC, USB-HID) implement the same protocols
# and one conformance suite runs against both.
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from base.errors import CardcoreError, CardRemoved

__all__ = [
    "CardCollision",
    "CardInfo",
    "CardInterface",
    "CardReader",
    "CardRemoved",
    "CardSession",
    "CardType",
    "DeviceInfo",
    "Indicators",
    "Keypad",
    "KeypadPinEntry",
    "NoKeypad",
    "PinPad",
    "ReaderError",
    "ReaderKeypad",
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


class CardType(StrEnum):
    """What kind of card activation found (PC/SC part 3 3.1.3.2.3 card names
    for storage cards; everything that takes APDUs is a processor card)."""

    PROCESSOR = "processor"  # ISO 7816 contact or ISO 14443-4 contactless
    MIFARE_CLASSIC_1K = "mifare-classic-1k"
    MIFARE_CLASSIC_4K = "mifare-classic-4k"
    MIFARE_MINI = "mifare-mini"
    MIFARE_ULTRALIGHT = "mifare-ultralight"
    STORAGE = "storage"  # another memory card the reader recognised

    @property
    def mifare_classic(self) -> bool:
        return self in (
            CardType.MIFARE_CLASSIC_1K,
            CardType.MIFARE_CLASSIC_4K,
            CardType.MIFARE_MINI,
        )


@dataclass(frozen=True, slots=True)
class CardInfo:
    """What activation tells about a card: the ATR (contact, or the one a PC/SC
    reader synthesises for a contactless card, PC/SC part 3 3.1.3.2.3), the
    transmission protocol ("T=0"/"T=1"; contactless cards show as T=1), the
    card type, the reader's name, and for ISO 14443-A cards the UID, ATQA and
    SAK. ``atqa_sak_derived`` is set when the reader did not report ATQA/SAK
    and they were derived from the card type and UID length
    (hal.atr.derive_atqa_sak).

    ``atqa`` is the two ATQA bytes in the order they come over the air (least
    significant byte first, ISO/IEC 14443-3 6.5.2): a MIFARE Classic's ATQA
    0x0004 is ``04 00``, a 7-byte-UID card's 0x0044 is ``44 00`` - the order
    of the ECR manual's ``smartcard`` descriptor (example "...4400 28")."""

    interface: CardInterface
    atr: bytes = b""
    uid: bytes = b""
    atqa: bytes = b""
    sak: int | None = None
    protocol: str = ""
    card_type: CardType = CardType.PROCESSOR
    reader: str = ""
    atqa_sak_derived: bool = False

    @property
    def atqa_value(self) -> int | None:
        """ATQA as a number (0x0004, 0x0044, ...)."""
        return int.from_bytes(self.atqa, "little") if len(self.atqa) == 2 else None

    @property
    def iso14443_4(self) -> bool:
        """SAK b6: the card takes ISO/IEC 14443-4 APDUs (an EMV card or phone
        does; a MIFARE Classic does not)."""
        return self.sak is not None and bool(self.sak & 0x20)

    def descriptor(self) -> bytes:
        """The ECR manual's ``smartcard``/``newcard`` descriptor: UID length (1),
        UID, ATQA (2, as on the air), SAK (1); send it as upper-case hex."""
        if self.interface is not CardInterface.CONTACTLESS or self.sak is None:
            raise ValueError("only a contactless type A card has a descriptor")
        if not self.uid or len(self.atqa) != 2:
            raise ValueError("the card reported no UID/ATQA")
        return bytes([len(self.uid)]) + self.uid + self.atqa + bytes([self.sak])


class ReaderError(CardcoreError):
    """Card reader error."""


class ReaderNotAvailable(CardcoreError):
    """Card reader not available."""


class CardCollision(CardcoreError):
    """More than one card in the contactless field: present one card only.

    EMV Contactless Book D (collision detection) and Book B 3.2.1.4: the
    reader does not activate any card; the terminal shows message '19'
    ("Please present one card only", `message_id`) with status Processing
    Error, polls on, and when one card is left shows '19' again with status
    Ready to Read (Book B 3.2.1.5)."""

    message_id = 0x19  # kernel.services.MessageId.PRESENT_ONE_CARD_ONLY (Book A)


class CardSession(Protocol):
    """A powered (contact) or activated (contactless) card.

    ``transmit`` is one exchange with the card (or, for PC/SC part 3
    pseudo-APDUs with CLA 'FF', with the reader). Procedure bytes of T=0
    (ISO 7816-3 10.3.4: '61xx' and '6Cxx') are passed up unchanged: the one
    place that completes them is kernel.apdu.Transport, which the kernel
    wraps around every session; any other caller that needs complete
    responses (tools, the SAM driver, tests) wraps the session the same way.
    A driver whose protocol is T=0 strips Le from case-4 commands itself
    (ISO 7816-3 12.2.4), because T=0 cannot carry it.
    """

    @property
    def info(self) -> CardInfo: ...

    async def transmit(self, capdu: bytes) -> bytes:
        """Exchange one APDU; the R-APDU includes SW1 SW2. Raises CardRemoved
        or ReaderError. Not cancellable half-way: an exchange that started
        completes (or fails) before cancellation takes effect."""
        ...

    async def close(self) -> None:
        """Power the card off / deactivate the field for it. Never raises for
        a card that is already gone."""
        ...


@dataclass(frozen=True, slots=True)
class KeypadPinEntry:
    """A card reader with its own keypad that verifies a PIN at the card
    itself (a class-3 reader, PC/SC part 10 FEATURE_VERIFY_PIN_DIRECT): what
    it tells about its PIN entry."""

    reader: str
    min_pin: int | None = None
    max_pin: int | None = None
    lcd_lines: int = 0
    lcd_characters: int = 0
    firmware: str = ""


@runtime_checkable
class ReaderKeypad(Protocol):
    """A card session whose reader may take the PIN on its own keypad.

    ``keypad`` says whether it does (None: no PIN entry of its own).
    ``verify_offline_pin`` lets the reader take the PIN and send the EMV
    offline plaintext PIN VERIFY (P2 '80', ISO 9564 format 2) to the card; it
    returns the card's status word. The PIN never reaches the host. Raises
    kernel.errors.PinEntryBypassed when the cardholder cancels on the keypad
    and kernel.errors.PinPadError on a timeout or a reader fault."""

    async def keypad(self) -> KeypadPinEntry | None: ...

    async def verify_offline_pin(self, *, timeout: float, language: str = "en") -> int: ...


class CardReader(Protocol):
    """One card interface of the terminal. Waiting is cancellable (trio).

    A real reader may be unplugged and plugged in again: waiting for a card
    also waits for a reader (hot-plug); ReaderNotAvailable is raised only when
    the reader stack itself is missing (e.g. pcscd not running).
    """

    @property
    def interface(self) -> CardInterface: ...

    @property
    def name(self) -> str: ...

    async def attached(self) -> bool:
        """Whether a reader of this interface is there now (plugged in and
        matched), so that a card presented to it would be seen."""
        ...

    async def wait_for_card(self) -> CardSession:
        """Return once a card is present and powered/activated.

        A contactless reader raises CardCollision when several cards are in
        the field; calling it again waits until the field changes."""
        ...

    async def wait_for_removal(self) -> None:
        """Return once no card is present."""
        ...


# --- PIN pad ------------------------------------------------------------------


class PinPad(Protocol):
    """PIN entry happens inside the pad; the PIN itself never leaves it.

    - Online PIN: the pad returns an ISO 9564 format-0 block enciphered under
      the TPK it holds, or, with DUKPT, the block enciphered under the
      transaction's DUKPT PIN key (format 0 with TDES DUKPT, format 4 with AES
      DUKPT); ``key_serial_number`` is then the KSN the host needs.
    - Offline PIN: the pad returns the ISO 9564 format-2 block that VERIFY
      carries, over the pad's secured link to the kernel (EMV Book 3 6.5.12);
      the kernel sends VERIFY itself (plaintext) or enciphers the block under
      the ICC key first (Book 2 7.1). See hal/usbhid for why the pad does not
      send VERIFY through the reader.
    Both raise kernel.errors.PinEntryBypassed when the cardholder bypasses
    entry (or presses cancel during PIN entry) and kernel.errors.PinPadError on
    a fault or a timeout.
    """

    @property
    def key_serial_number(self) -> bytes | None:
        """The KSN of the last online PIN block (DUKPT); None for a pad with a
        fixed TPK, which is what this default says."""
        return None

    async def online_pin(self, pan: str, amount: int, currency: int, timeout: float) -> bytes: ...

    async def offline_pin(
        self, amount: int, currency: int, tries_remaining: int | None, timeout: float
    ) -> bytes: ...


# --- display -------------------------------------------------------------------


class Display(Protocol):
    """The terminal's own screen (the cardholder side).

    ``show`` puts up one message: its identifier (EMV Book 4 11.2, Book A
    9.4, the terminal's D1-D5), its text in the chosen language (``language``:
    its ISO 639-1 code) and, when the message carries one, the amount in minor
    units with its ISO 4217 numeric currency. ``show_qr`` puts an SBP payment
    link up as a QR code; ``None`` takes it down."""

    async def show(
        self,
        message: int,
        text: str,
        amount: int | None = None,
        currency: str = "",
        language: str = "",
    ) -> None: ...

    async def show_qr(self, payload: str | None) -> None: ...


# --- indicators ----------------------------------------------------------------


class Indicators(Protocol):
    """The four status lights and the beeper of EMV Contactless Book A 9.3/9.4."""

    async def show(self, lights: tuple[bool, bool, bool, bool], tone: str | None) -> None:
        """Set the lights (1..4, left to right); tone "success", "alert" or None."""
        ...
