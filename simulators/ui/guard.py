# Strategy: who may do what on the virtual terminal page. The page can change
# only what a person standing at a simulated terminal changes (the cards in
# their hand, the keys they press, what the simulated host and SBP customer
# do); no request reaches the terminal's administration, keys or full card
# numbers. On top of that a request is refused, with a one-line reason, when:
# - its Host is not this server's address (an IP literal or `localhost`, or a
#   name given to --ui-listen) and port: a foreign name that resolves here
#   (DNS rebinding) gets nothing, not even the page (RFC 9110 7.2, 421);
# - it changes something and comes from another origin (the Fetch standard's
#   Origin and Sec-Fetch-Site headers), lacks the token the page carries, or
#   is not JSON (a cross-site form cannot send that without a CORS
#   preflight, which this server never grants);
# - it changes something and its peer is not on a loopback address, unless
#   --ui-listen was given (then the operator chose who reaches the page).
# Peers that may not change anything still see the page, without its token.
# Every answer carries a content security policy that allows this server's
# own script, style and images only, and forbids framing (clickjacking).
from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

from acquirers.http import HTTPException, Request

__all__ = ["SECURITY_HEADERS", "TOKEN_HEADER", "Guard", "is_loopback"]

TOKEN_HEADER = "x-cardcore-token"  # noqa: S105 - the header's name
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cache-control", "no-store"),
)


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _split_host(value: str) -> tuple[str, int | None] | None:
    """Host header value -> (host, port); None when it is malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            host, rest = value, ""
        else:
            rest = ":" + port_text
    if not host:
        return None
    if not rest:
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6:
        return None
    return host, int(rest[1:])


@dataclass
class Guard:
    port: int
    # --ui-listen given: peers on other addresses may change things too.
    open_to_network: bool = False
    names: frozenset[str] = frozenset({"localhost"})
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def check_host(self, request: Request) -> str:
        """The request's Host, when it names this server; else 421."""
        value = request.header("host")
        parsed = _split_host(value) if value else None
        if parsed is None:
            raise HTTPException(400, "the request has no valid Host header")
        host, port = parsed
        if port is None:
            port = 80
        named = host in self.names
        if not named:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise HTTPException(
                    421, f"this page answers to its IP address or localhost, not {host!r}"
                ) from None
        if port != self.port:
            raise HTTPException(421, f"this page is on port {self.port}, not {port}")
        return str(value).strip()

    def writable(self, request: Request) -> bool:
        """May this peer change anything (press keys, present cards)?"""
        if self.open_to_network:
            return True
        return request.client is not None and is_loopback(request.client[0])

    def check_same_origin(self, request: Request, host: str) -> None:
        """Refuse a request a page of another origin made (403)."""
        site = request.header("sec-fetch-site")
        if site is not None and site.lower() not in ("same-origin", "none"):
            raise HTTPException(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
        origin = request.header("origin")
        if origin is not None and origin.lower() != f"http://{host}".lower():
            raise HTTPException(403, "cross-origin request refused: it comes from another page")

    def has_token(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "replace"), self.token.encode()
        )

    def check_write(self, request: Request) -> None:
        """A request that changes something: Host, origin, peer, token, JSON."""
        host = self.check_host(request)
        self.check_same_origin(request, host)
        if not self.writable(request):
            raise HTTPException(
                403,
                "this page is read-only from other machines; start the terminal with"
                " --ui-listen ADDRESS to let them act on it",
            )
        if not self.has_token(request.header(TOKEN_HEADER)):
            raise HTTPException(403, "the page's token is missing or wrong: reload the page")
        if request.content_type != "application/json":
            raise HTTPException(415, "send the action as application/json")
