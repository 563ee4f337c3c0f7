# Strategy: the ways the EMV kernel ends a transaction early, as exceptions
# under the project's root error (base.errors). They say what happened in the
# EMV books' terms; which ECR status each is answered with is the terminal's
# table (cardcore.protocol.status), so the kernel knows nothing of the ECR.
from __future__ import annotations

from base.errors import CardcoreError

__all__ = [
    "CaKeyError",
    "CardBlocked",
    "CardCommunicationError",
    "CardDataError",
    "CardNotDetected",
    "CardStatusError",
    "CardTryAgain",
    "ConfigurationError",
    "InvalidTransactionRequest",
    "KernelError",
    "NoMutualApplication",
    "OdaError",
    "PinEntryBypassed",
    "PinPadError",
    "PinPadNotPresent",
    "TransactionCancelled",
    "TryAnotherInterface",
    "UseChip",
]


# --- EMV kernel errors -------------------------------------------------------
# Strategy: EMV Book 1 (selection) and Book 3 (application processing) end a
# transaction in a handful of ways; each is one class here. Card status words
# reach these classes only through `kernel.sw` (one table).


class KernelError(CardcoreError):
    """EMV kernel error."""


class CardDataError(KernelError):
    """Card data is malformed, missing or inconsistent."""


class ConfigurationError(KernelError):
    """Kernel configuration is invalid."""


class InvalidTransactionRequest(KernelError):
    """Transaction request parameters are invalid."""


class CardStatusError(KernelError):
    """The card answered a command with an unexpected status word."""

    def __init__(self, message: str, sw: int = 0) -> None:
        super().__init__(message)
        self.sw = sw


class CardBlocked(CardStatusError):
    """Card blocked or SELECT not supported (6A81)."""


class NoMutualApplication(KernelError):
    """No application supported by both card and terminal."""


class CardTryAgain(KernelError):
    """Card read error; present the card again."""


class CardCommunicationError(CardTryAgain):
    """The card left the field or did not answer; present the card again."""


class UseChip(KernelError):
    """A contact chip transaction is required."""


class TryAnotherInterface(KernelError):
    """Card read error; use another interface."""


class CardNotDetected(KernelError):
    """Card absent or removed."""


class PinPadError(KernelError):
    """PIN pad malfunctioning or not present."""


class PinPadNotPresent(PinPadError):
    """PIN pad not present (not connected, or none configured)."""


class PinEntryBypassed(KernelError):
    """PIN entry bypassed by the cardholder."""


class TransactionCancelled(KernelError):
    """Transaction cancelled by the cardholder or the operator."""


class OdaError(KernelError):
    """Offline data authentication check failed."""


class CaKeyError(KernelError):
    """Certification authority public key rejected."""
