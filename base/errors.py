# Strategy: the root of the project's one error hierarchy (docs/conventions.md).
# It lives in `base`, which imports nothing of the project, so that the EMV
# kernel, the hardware layer, the acquirers and the terminal all raise one
# kind of error. An error says what happened in its own layer's terms; which
# ECR status the cash register reads for it is the terminal's business, one
# table in `cardcore.protocol.status`.
from __future__ import annotations

__all__ = ["CardRemoved", "CardcoreError"]


class CardcoreError(Exception):
    """Base of every error the project raises on purpose.

    ``message`` is written by the raiser for the person reading the answer's
    error-stack or the log, so it must never contain a full PAN, track data,
    PIN data or key material. It is never taken from a docstring.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CardRemoved(CardcoreError):
    """The card was removed or lost power during the transaction.

    It lives here because both sides of ``transmit`` need it: the card
    readers raise it, and the EMV kernel treats it as a communication error
    with the card (EMV Contactless Book D: outcome Try Again)."""
