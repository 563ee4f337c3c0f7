# Strategy: errors of the HTTP layer's client side (docs/conventions.md, 5
# and 6: one error tree, vendor exceptions translated at the boundary; the
# server side's HTTPException lives with the messages, acquirers.http.message).
# Client side: `map_httpx_errors` is the one place where httpx's
# exceptions are translated into `HttpLinkError` (no answer) and
# `HttpLinkTimeout` (no answer in time) or their subclasses; each link (SBP agent, TMS, key
# server) passes its own subclasses so its callers see only its errors.
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from base.errors import CardcoreError

__all__ = [
    "HttpLinkError",
    "HttpLinkTimeout",
    "map_httpx_errors",
]


class HttpLinkError(CardcoreError):
    """Communication with an HTTP peer failed."""


class HttpLinkTimeout(HttpLinkError):
    """An HTTP peer did not answer in time."""


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
