# Strategy: the root of the project's one error hierarchy (DESIGN.md, convention 5).
# It lives in `kernel` because every other package may import `kernel` and
# `kernel` may import nothing else. Each subclass names the wire status of the
# ECR manual's Appendix A that it is answered with; `cardcore.protocol.status`
# holds the table and a test checks every subclass against it.
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
