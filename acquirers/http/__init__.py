"""A small HTTP/1.1 server core on trio + h11, and HTTP link helpers.

Used by the SBP agent simulator and (later) the configuration and key-server
simulators. Typical use::

    from acquirers.http import Request, Response, Router, ServerConfig, serve

    router = Router()

    @router.route("POST", "/api/thing/{id}")
    async def thing(request: Request) -> Response:
        body = request.json()  # or request.xml(); 400 on malformed input
        return Response.json({"id": request.path_params["id"], "got": body})

    async with trio.open_nursery() as nursery:
        port = await nursery.start(partial(serve, router, config=ServerConfig()))

See ``acquirers/http/server.py`` for the limits and timeouts and
``acquirers/http/tls.py`` for HTTPS and mutual TLS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from base.lazy import lazy_attributes

if TYPE_CHECKING:
    from acquirers.http.errors import (
        HttpLinkError,
        HttpLinkTimeout,
        map_httpx_errors,
    )
    from acquirers.http.message import (
        HTTPException,
        Request,
        Response,
        TlsInfo,
        json_error,
        text_error,
    )
    from acquirers.http.routing import Handler, Route, Router
    from acquirers.http.server import ServerConfig, serve, serve_listeners
    from acquirers.http.tls import client_ssl_context, server_ssl_context

# Names load on first use: importing one submodule (say, the configuration
# types) must not pull the whole package in at start-up.
_MODULES = {
    "HTTPException": "acquirers.http.message",
    "HttpLinkError": "acquirers.http.errors",
    "HttpLinkTimeout": "acquirers.http.errors",
    "map_httpx_errors": "acquirers.http.errors",
    "Request": "acquirers.http.message",
    "Response": "acquirers.http.message",
    "TlsInfo": "acquirers.http.message",
    "json_error": "acquirers.http.message",
    "text_error": "acquirers.http.message",
    "Handler": "acquirers.http.routing",
    "Route": "acquirers.http.routing",
    "Router": "acquirers.http.routing",
    "ServerConfig": "acquirers.http.server",
    "serve": "acquirers.http.server",
    "serve_listeners": "acquirers.http.server",
    "client_ssl_context": "acquirers.http.tls",
    "server_ssl_context": "acquirers.http.tls",
}


__getattr__ = lazy_attributes(__name__, _MODULES)


__all__ = [
    "HTTPException",
    "Handler",
    "HttpLinkError",
    "HttpLinkTimeout",
    "Request",
    "Response",
    "Route",
    "Router",
    "ServerConfig",
    "TlsInfo",
    "client_ssl_context",
    "json_error",
    "map_httpx_errors",
    "serve",
    "serve_listeners",
    "server_ssl_context",
    "text_error",
]
