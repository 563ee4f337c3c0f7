# Strategy: the SBP link's errors, one class per way an SBP exchange fails
# (docs/conventions.md, 5). httpx exceptions become
# `SbpCommunicationError` / `SbpTimeoutError` at the client boundary only
# (`acquirers.http.map_httpx_errors`); an agent's logical refusal (a JSON
# body whose `code` is not SUCCESS, e.g. ERROR.NOT_FOUND) is `SbpAgentError`
# carrying the agent's code and message. The simulator raises the same
# `SbpAgentError`s, so both sides share one vocabulary.
from __future__ import annotations

from base.errors import CardcoreError

__all__ = [
    "QrFormatError",
    "SbpAgentError",
    "SbpCommunicationError",
    "SbpConfigError",
    "SbpError",
    "SbpInvalidArgument",
    "SbpNotFoundError",
    "SbpProtocolError",
    "SbpTimeoutError",
]


class SbpError(CardcoreError):
    """SBP operation failed."""


class SbpCommunicationError(SbpError):
    """SBP agent could not be reached."""


class SbpTimeoutError(SbpCommunicationError):
    """SBP agent did not answer in time."""


class SbpProtocolError(SbpCommunicationError):
    """SBP agent answered outside its documented API."""


class SbpAgentError(SbpError):
    """SBP agent refused the operation."""

    # Codes whose refusal means "no such QR / payment / refund".
    NOT_FOUND_CODES = frozenset({"ERROR.NOT_FOUND", "ERROR.REFUND_NOT_FOUND"})

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.agent_message = message

    @classmethod
    def from_code(cls, code: str, message: str = "") -> SbpAgentError:
        """The most specific class for an agent error code."""
        if code in cls.NOT_FOUND_CODES:
            return SbpNotFoundError(code, message)
        return SbpAgentError(code, message)


class SbpNotFoundError(SbpAgentError):
    """SBP operation not found at the agent."""


class SbpInvalidArgument(SbpError):
    """Invalid argument for an SBP operation."""


class SbpConfigError(SbpError):
    """Invalid SBP configuration."""


class QrFormatError(SbpError):
    """Malformed SBP QR payload."""
