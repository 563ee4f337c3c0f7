# Strategy: the root of the project's one error hierarchy (docs/conventions.md, 5).
# It lives in `kernel` because every other package may import `kernel` and
# `kernel` may import nothing else. Each subclass names the wire status of the
# ECR manual's Appendix A that it is answered with; `cardcore.protocol.status`
# holds the table and a test checks every subclass against it.
from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CaKeyError",
    "CardBlocked",
    "CardCommunicationError",
    "CardDataError",
    "CardNotDetected",
    "CardStatusError",
    "CardTryAgain",
    "CardcoreError",
    "ConfigurationError",
    "InvalidTransactionRequest",
    "KernelError",
    "NoMutualApplication",
    "OdaError",
    "PinEntryBypassed",
    "PinPadError",
    "TransactionCancelled",
    "TryAnotherInterface",
    "UseChip",
]


class CardcoreError(Exception):
    """Base of every error the project raises on purpose.

    ``status`` is the Appendix A status the ECR answer carries; the message is
    what goes into the answer's error-stack, so it must never contain a full
    PAN, track data, PIN data or key material.
    """

    status: ClassVar[str] = "systemerror"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.status)
        self.message = message or (self.__class__.__doc__ or self.status).strip()


# --- EMV kernel errors -------------------------------------------------------
# Strategy: EMV Book 1 (selection) and Book 3 (application processing) end a
# transaction in a handful of ways; each maps to one Appendix A status. Card
# status words reach these classes only through `kernel.sw` (one table).


class KernelError(CardcoreError):
    """EMV kernel error."""

    status: ClassVar[str] = "emverror"


class CardDataError(KernelError):
    """Card data is malformed, missing or inconsistent."""


class ConfigurationError(KernelError):
    """Kernel configuration is invalid."""


class InvalidTransactionRequest(KernelError):
    """Transaction request parameters are invalid."""

    status: ClassVar[str] = "invalidarguments"


class CardStatusError(KernelError):
    """The card answered a command with an unexpected status word."""

    def __init__(self, message: str = "", sw: int = 0) -> None:
        super().__init__(message)
        self.sw = sw


class CardBlocked(CardStatusError):
    """Card blocked or SELECT not supported (6A81)."""

    status: ClassVar[str] = "tryanotherinterface"


class NoMutualApplication(KernelError):
    """No application supported by both card and terminal."""

    status: ClassVar[str] = "tryanotherinterface"


class CardTryAgain(KernelError):
    """Card read error; present the card again."""

    status: ClassVar[str] = "tryagain"


class CardCommunicationError(CardTryAgain):
    """The card left the field or did not answer; present the card again."""


class UseChip(KernelError):
    """A contact chip transaction is required."""

    status: ClassVar[str] = "usechip"


class TryAnotherInterface(KernelError):
    """Card read error; use another interface."""

    status: ClassVar[str] = "tryanotherinterface"


class CardNotDetected(KernelError):
    """Card absent or removed."""

    status: ClassVar[str] = "notdetected"


class PinPadError(KernelError):
    """PIN pad malfunctioning or not present."""

    status: ClassVar[str] = "pinpadmalfunctionornotpresent"


class PinEntryBypassed(KernelError):
    """PIN entry bypassed by the cardholder."""

    status: ClassVar[str] = "pinentrybypassed"


class TransactionCancelled(KernelError):
    """Transaction cancelled by the cardholder or the operator."""

    status: ClassVar[str] = "cancelled"


class OdaError(KernelError):
    """Offline data authentication check failed."""

    status: ClassVar[str] = "verificationfailed"


class CaKeyError(KernelError):
    """Certification authority public key rejected."""

    status: ClassVar[str] = "verificationfailed"
