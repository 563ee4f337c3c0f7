# Strategy: the root of the project's one error hierarchy (docs/conventions.md).
# It lives in `base`, which imports nothing of the project, so that the EMV
# kernel, the hardware layer, the acquirers and the terminal all raise one
# kind of error. Which ECR status an error is answered with is the terminal's
# business: `cardcore.protocol.status` holds that table.
from __future__ import annotations

from typing import ClassVar

__all__ = ["CardcoreError"]


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
