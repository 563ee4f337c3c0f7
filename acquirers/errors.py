# Strategy: the errors of the acquirer side, each bound to one Appendix A wire
# status (docs/conventions.md, 5). Vendor exceptions (OSError, ssl.SSLError,
# trio.TooSlowError, trio.BrokenResourceError, pyiso8583's DecodeError) are
# translated into these at the link and codec boundaries (convention 6), so
# nothing above `acquirers` ever sees a vendor exception. Messages name the
# host and the failure and never carry a PAN, PIN block or key.
from __future__ import annotations

from typing import ClassVar

from base.errors import CardcoreError

__all__ = [
    "AcquirerError",
    "CommunicationError",
    "FramingError",
    "HostTimeoutError",
    "Iso8583Error",
    "KeyCheckError",
    "MacVerificationError",
    "MessageBuildError",
    "UnexpectedResponseError",
]


class AcquirerError(CardcoreError):
    """Acquirer host error

    ``request_sent`` tells the caller whether the request may have reached the
    host: a financial request that may have reached it needs a reversal.
    """

    status: ClassVar[str] = "failed"

    def __init__(self, message: str = "", *, request_sent: bool = False) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class Iso8583Error(AcquirerError):
    """Malformed ISO 8583 message"""

    status: ClassVar[str] = "formaterror"


class FramingError(Iso8583Error):
    """Malformed ISO 8583 frame"""


class MessageBuildError(AcquirerError):
    """Invalid data for an ISO 8583 message"""

    status: ClassVar[str] = "invalidarguments"


class CommunicationError(AcquirerError):
    """Communication error with the acquirer host"""

    status: ClassVar[str] = "communicationerror"


class HostTimeoutError(CommunicationError):
    """The acquirer host did not answer in time"""

    status: ClassVar[str] = "timeout"


class UnexpectedResponseError(CommunicationError):
    """The acquirer host answered with a malformed or unexpected message"""


class MacVerificationError(AcquirerError):
    """MAC verification failed"""

    status: ClassVar[str] = "verificationfailed"


class KeyCheckError(AcquirerError):
    """Key check value mismatch"""

    status: ClassVar[str] = "verificationfailed"
