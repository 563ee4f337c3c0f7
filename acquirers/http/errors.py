# Strategy: errors of the HTTP layer, both sides (docs/conventions.md, 5 and 6).
# Server side: a handler raises `HTTPException` to answer a 4xx/5xx (RFC 9110
# §15); the server core turns it into a response and it never leaves the
# server. Client side: `map_httpx_errors` is the one place where httpx's
# exceptions are translated into `CardcoreError` subclasses with the Appendix A
# statuses `communicationerror` and `timeout`; each link (SBP agent, TMS, key
# server) passes its own subclasses so its callers see only its errors.
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from kernel.errors import CardcoreError

if TYPE_CHECKING:
    from acquirers.http.message import Response

__all__ = [
    "HTTPException",
    "HttpLinkError",
    "HttpLinkTimeout",
    "map_httpx_errors",
]


class HTTPException(CardcoreError):
    """An HTTP request was refused by the server.

    The server answers ``response`` when given, otherwise the server's error
    renderer output for ``status_code`` and the message, plus ``headers``.
    """

    # Never sent to the ECR: the server core answers it to its HTTP peer.
    status = "failed"

    def __init__(
        self,
        status_code: int,
        message: str = "",
        *,
        headers: tuple[tuple[str, str], ...] = (),
        response: Response | None = None,
    ) -> None:
        if not 400 <= status_code <= 599:
            raise ValueError(f"not an error status: {status_code}")
        super().__init__(message or f"HTTP {status_code}")
        self.status_code = status_code
        self.headers = headers
        self.response = response


class HttpLinkError(CardcoreError):
    """Communication with an HTTP peer failed."""

    status = "communicationerror"


class HttpLinkTimeout(HttpLinkError):
    """An HTTP peer did not answer in time."""

    status = "timeout"


@contextmanager
def map_httpx_errors(
    what: str,
    *,
    communication: type[CardcoreError] = HttpLinkError,
    timeout: type[CardcoreError] = HttpLinkTimeout,
) -> Iterator[None]:
    """Translate httpx exceptions raised inside the block.

    ``what`` names the operation for the message ("SBP agent: register QR").
    Only ``Exception`` subclasses are caught: trio cancellation passes through
    untouched. TLS failures reach httpx as ``ConnectError`` and are mapped too.
    """
    import httpx  # here, not at the top: the HTTP servers use this module and need no client

    try:
        yield
    except httpx.TimeoutException as exc:
        raise timeout(f"{what}: timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise communication(f"{what}: {type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise communication(f"{what}: invalid URL: {exc}") from exc
    except OSError as exc:
        # Raised by socket-level code that httpcore does not wrap (rare).
        raise communication(f"{what}: {type(exc).__name__}: {exc}") from exc
