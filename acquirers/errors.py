# Strategy: the errors of the acquirer side, one class per way a host
# exchange fails (docs/conventions.md, 5). Vendor exceptions (OSError, ssl.SSLError,
# trio.TooSlowError, trio.BrokenResourceError, pyiso8583's DecodeError) are
# translated into these at the link and codec boundaries (convention 6), so
# nothing above `acquirers` ever sees a vendor exception. Messages name the
# host and the failure and never carry a PAN, PIN block or key.
from __future__ import annotations

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

    def __init__(self, message: str, *, request_sent: bool = False) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class Iso8583Error(AcquirerError):
    """Malformed ISO 8583 message"""


class FramingError(Iso8583Error):
    """Malformed ISO 8583 frame"""


class MessageBuildError(AcquirerError):
    """Invalid data for an ISO 8583 message"""


class CommunicationError(AcquirerError):
    """Communication error with the acquirer host"""


class HostTimeoutError(CommunicationError):
    """The acquirer host did not answer in time"""


class UnexpectedResponseError(CommunicationError):
    """The acquirer host answered with a malformed or unexpected message"""


class MacVerificationError(AcquirerError):
    """MAC verification failed"""


class KeyCheckError(AcquirerError):
    """Key check value mismatch"""
