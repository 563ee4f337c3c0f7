# Strategy: a routing table kept as data (docs/conventions.md, 3): a list of
# (method, path pattern, handler) rows. Patterns are literal path segments or
# `{name}` placeholders that capture one whole segment (percent-decoded). An
# unknown path answers 404; a known path with another method answers 405 with
# an Allow header (RFC 9110 §15.5.6); HEAD falls back to the GET handler (the
# server core drops the body, RFC 9110 §9.3.2).
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from urllib.parse import unquote

from acquirers.http.message import HTTPException, Request, Response

__all__ = ["Handler", "Route", "Router"]

Handler = Callable[[Request], Awaitable[Response]]

_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_METHOD = re.compile(r"^[A-Z]+$")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    handler: Handler

    def segments(self) -> tuple[str, ...]:
        return tuple(self.pattern.strip("/").split("/")) if self.pattern != "/" else ()


def _split(path: str) -> tuple[str, ...]:
    stripped = path.strip("/")
    return tuple(unquote(s, errors="strict") for s in stripped.split("/")) if stripped else ()


class Router:
    """Dispatch requests to handlers by method and path pattern.

    ``Router`` is itself a handler, so it can be passed to ``serve`` directly::

        router = Router()

        @router.route("GET", "/terminals/{sn}")
        async def terminal(request: Request) -> Response:
            return Response.xml(build(request.path_params["sn"]))
    """

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._routes: list[tuple[Route, tuple[str, ...]]] = []
        for route in routes:
            self.add(route.method, route.pattern, route.handler)

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(route for route, _ in self._routes)

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        if not _METHOD.match(method):
            raise ValueError(f"bad method {method!r}")
        if not pattern.startswith("/"):
            raise ValueError(f"pattern must start with '/': {pattern!r}")
        route = Route(method, pattern, handler)
        segments = route.segments()
        names = [m.group(1) for s in segments if (m := _PLACEHOLDER.match(s))]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate placeholder in {pattern!r}")
        shape = _shape(segments)
        for other, other_segments in self._routes:
            if other.method == method and _shape(other_segments) == shape:
                raise ValueError(f"duplicate route {method} {pattern}")
        self._routes.append((route, segments))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and parameters for a raw (still percent-encoded) path.

        Raises ``HTTPException`` 404 or 405 (400 for a path that is not UTF-8).
        """
        try:
            parts = _split(path)
        except UnicodeDecodeError as exc:
            raise HTTPException(400, "path is not UTF-8") from exc
        allowed: list[str] = []
        fallback: tuple[Route, dict[str, str]] | None = None
        for route, segments in self._routes:
            params = _match_segments(segments, parts)
            if params is None:
                continue
            if route.method == method:
                return route, params
            if method == "HEAD" and route.method == "GET":
                fallback = (route, params)
            allowed.append(route.method)
        if fallback is not None:
            return fallback
        if allowed:
            if "GET" in allowed and "HEAD" not in allowed:
                allowed.append("HEAD")
            allow = ", ".join(sorted(set(allowed)))
            raise HTTPException(
                405, f"method {method} not allowed here (use {allow})", headers=(("allow", allow),)
            )
        raise HTTPException(404, "no such resource")

    async def __call__(self, request: Request) -> Response:
        route, params = self.match(request.method, request.raw_path)
        return await route.handler(replace(request, path_params=params))


def _shape(segments: tuple[str, ...]) -> tuple[str | None, ...]:
    return tuple(None if _PLACEHOLDER.match(s) else s for s in segments)


def _match_segments(pattern: tuple[str, ...], parts: tuple[str, ...]) -> dict[str, str] | None:
    if len(pattern) != len(parts):
        return None
    params: dict[str, str] = {}
    for want, got in zip(pattern, parts, strict=True):
        placeholder = _PLACEHOLDER.match(want)
        if placeholder:
            if not got:
                return None
            params[placeholder.group(1)] = got
        elif want != got:
            return None
    return params
