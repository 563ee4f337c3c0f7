# Strategy: the User Interface Request of EMV Contactless Book A 9.2 (the
# data of Book C-2 A.1.194 'DF8116' User Interface Request Data: Message
# Identifier, Status, Hold Time, Language Preference, Value Qualifier, Value,
# Currency Code) as one frozen dataclass. The ECR manual's `display` message
# carries exactly these fields (code, language, status, hold-time,
# value-qualifier, value, currency), so `display_fields` gives them in the
# manual's spelling. Message identifiers are kernel.services.MessageId (Book A
# Table 9-5 '14'..'21', shared with the Book 4 '01'..'13').
# Status codes follow Book C-2 A.1.194 ('00' Not Ready .. '05' Processing
# Error, 'FF' N/A); the four-light indicator and tone pattern per status is
# Book A 9.3/9.4 as public material describes it (light 1 Ready to Read,
# lights 1+2 Processing, 1+2+3 then all four Card Read Successfully with the
# success tone, all off and the alert tone on Processing Error) - written down
# here so the application drives its LEDs and beeper from one table.
from __future__ import annotations

import enum
from dataclasses import dataclass

from kernel.services import MessageId
from kernel.values import encode_n

__all__ = [
    "DEFAULT_HOLD_TIME",
    "Lights",
    "UiRequest",
    "UiStatus",
    "ValueQualifier",
]

# Message Hold Time default of Book C-2 (DF812D '000013'): 1.3 s in units of 100 ms.
DEFAULT_HOLD_TIME = 13


class UiStatus(enum.IntEnum):
    """Book A 9.2 / Book C-2 A.1.194 status of the reader."""

    NOT_READY = 0x00
    IDLE = 0x01
    READY_TO_READ = 0x02
    PROCESSING = 0x03
    CARD_READ_SUCCESSFULLY = 0x04
    PROCESSING_ERROR = 0x05
    NOT_APPLICABLE = 0xFF


class ValueQualifier(enum.IntEnum):
    NONE = 0x00
    AMOUNT = 0x10
    BALANCE = 0x20


@dataclass(frozen=True, slots=True)
class Lights:
    """Four status lights (1..4, left to right) and the tone for a status."""

    lights: tuple[bool, bool, bool, bool]
    blinking: bool = False  # Idle: light 1 flashes
    tone: str | None = None  # "success" | "alert" | None


_LIGHTS: dict[UiStatus, Lights] = {
    UiStatus.NOT_READY: Lights((False, False, False, False)),
    UiStatus.IDLE: Lights((True, False, False, False), blinking=True),
    UiStatus.READY_TO_READ: Lights((True, False, False, False)),
    UiStatus.PROCESSING: Lights((True, True, False, False)),
    UiStatus.CARD_READ_SUCCESSFULLY: Lights((True, True, True, True), tone="success"),
    UiStatus.PROCESSING_ERROR: Lights((False, False, False, False), tone="alert"),
}


@dataclass(frozen=True, slots=True)
class UiRequest:
    """One User Interface Request (Book A 9.2): what the terminal shows now.

    ``hold_time`` is in units of 100 ms (Book A: the message stays at least
    that long before the next one replaces it). ``language`` is the card's
    Language Preference '5F2D' when known ("ruen"), ``value`` an amount in
    minor units when ``value_qualifier`` is AMOUNT or BALANCE."""

    message: MessageId
    status: UiStatus
    hold_time: int = 0
    language: str = ""
    value_qualifier: ValueQualifier = ValueQualifier.NONE
    value: int = 0
    currency: int = 0

    @property
    def lights(self) -> Lights | None:
        """Lights and tone for the status; None for N/A (leave them as they are)."""
        return _LIGHTS.get(self.status)

    def encode(self) -> bytes:
        """The 22 bytes of 'DF8116' (Book C-2 A.1.194)."""
        language = self.language.encode("ascii", "replace")[:8].ljust(8, b"\x00")
        return (
            bytes([self.message & 0xFF, self.status])
            + encode_n(min(self.hold_time, 999_999), 3)
            + language
            + bytes([self.value_qualifier])
            + encode_n(self.value, 6)
            + encode_n(self.currency, 2)
        )

    def display_fields(self) -> dict[str, str]:
        """The ECR manual's `display` message fields (text is the application's own)."""
        return {
            "code": f"{int(self.message):02X}",
            "language": self.language,
            "status": f"{int(self.status):02X}",
            "hold-time": f"{min(self.hold_time, 999_999):06d}",
            "value-qualifier": f"{int(self.value_qualifier):02X}",
            "value": f"{self.value:012d}",
            "currency": f"{self.currency:03d}" if self.currency else "",
        }
