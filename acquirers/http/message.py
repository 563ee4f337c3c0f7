# Strategy: the request and response values handlers see (RFC 9110 §6, §8;
# RFC 9112 §3). They are plain immutable data, built by the server core from
# h11 events and turned back into h11 events; nothing here does I/O, so
# handlers and routers are testable without sockets. Bodies are read whole
# (bounded by the server's limit) before a handler runs. A response body is
# whole too, or a stream of chunks the server core sends as they come (a
# server-sent event stream, WHATWG HTML 9.2), chunked (RFC 9112 §7.1).
#
# XML bodies are read by the project's one hardened reader (base.xmlread: no
# DTD, no entity, bounded depth); JSON goes through msgspec, optionally typed.
from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.etree import ElementTree as ET

import msgspec
from cryptography import x509

from base.errors import CardcoreError
from base.xmlread import XmlError, read_element

__all__ = [
    "HTTPException",
    "Request",
    "Response",
    "TlsInfo",
    "json_error",
    "reason_phrase",
    "text_error",
]


class HTTPException(CardcoreError):
    """An HTTP request was refused by the server.

    The server answers ``response`` when given, otherwise the server's error
    renderer output for ``status_code`` and the message, plus ``headers``.
    """

    # Never sent to the ECR: the server core answers it to its HTTP peer.

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


T = TypeVar("T")

_REASONS = {
    100: "Continue",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


def reason_phrase(status: int) -> str:
    """The RFC 9110 reason phrase of ``status`` (empty when unknown)."""
    return _REASONS.get(status, "")


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """What the TLS layer established for a connection.

    ``peer_cert_der`` is the client certificate (DER) when the client sent one
    and it verified against the server's CA; ``peer_cert`` is the same as the
    dict that :meth:`ssl.SSLSocket.getpeercert` returns.
    """

    version: str | None
    cipher: str | None
    alpn: str | None
    peer_cert_der: bytes | None
    peer_cert: Mapping[str, Any] | None

    def certificate(self) -> x509.Certificate | None:
        """The peer certificate parsed with ``cryptography`` (None if absent)."""
        if self.peer_cert_der is None:
            return None
        return x509.load_der_x509_certificate(self.peer_cert_der)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request with its whole body.

    ``headers`` keep their order and duplicates; names are lower-case and
    values decoded as ISO-8859-1 (RFC 9110 §5.5). ``path`` is percent-decoded
    and ``query`` maps each parameter to its first value.
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    http_version: str = "1.1"
    client: tuple[str, int] | None = None
    tls: TlsInfo | None = None
    path_params: Mapping[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path, errors="replace") or "/"

    @property
    def raw_path(self) -> str:
        return urlsplit(self.target).path or "/"

    @property
    def query(self) -> Mapping[str, str]:
        result: dict[str, str] = {}
        for key, value in parse_qsl(urlsplit(self.target).query, keep_blank_values=True):
            result.setdefault(key, value)
        return result

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive)."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case ("" if absent)."""
        value = self.header("content-type") or ""
        return value.split(";", 1)[0].strip().lower()

    @overload
    def json(self) -> Any: ...
    @overload
    def json(self, type: type[T]) -> T: ...
    def json(self, type: Any = Any) -> Any:
        """Decode the body as JSON, optionally into ``type`` (a msgspec type).

        A malformed or mistyped body raises ``HTTPException(400)``.
        """
        try:
            return msgspec.json.decode(self.body, type=type)
        except msgspec.ValidationError as exc:
            raise HTTPException(400, f"invalid JSON body: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise HTTPException(400, "malformed JSON body") from exc

    def xml(self) -> ET.Element:
        """Parse the body as XML (base.xmlread: no DTD, no entities, bounded
        depth and size); a malformed or refused body gives 400."""
        try:
            return read_element(self.body)
        except XmlError as exc:
            raise HTTPException(400, f"XML body refused: {exc.message}") from exc

    def certificate(self) -> x509.Certificate | None:
        """The verified client certificate of a mutual-TLS connection."""
        return None if self.tls is None else self.tls.certificate()


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP response; the server adds Content-Length, Date and Server.

    With ``stream`` the body is the chunks it yields, sent as they come
    (``body`` is not sent); each chunk must be written within the server's
    ``write_timeout``, so a peer that stops reading is dropped."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    stream: AsyncIterable[bytes] | None = None

    @classmethod
    def streaming(
        cls,
        chunks: AsyncIterable[bytes],
        content_type: str,
        *,
        status: int = 200,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Response:
        return cls(status, b"", content_type, headers, chunks)

    @classmethod
    def json(
        cls,
        obj: Any,
        *,
        status: int = 200,
        encoder: msgspec.json.Encoder | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Response:
        body = (encoder or _JSON).encode(obj)
        return cls(status, body, "application/json; charset=utf-8", headers)

    @classmethod
    def xml(
        cls,
        document: ET.Element | bytes | str,
        *,
        status: int = 200,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Response:
        if isinstance(document, ET.Element):
            body = ET.tostring(document, encoding="utf-8", xml_declaration=True)
        elif isinstance(document, str):
            body = document.encode("utf-8")
        else:
            body = document
        return cls(status, body, "application/xml; charset=utf-8", headers)

    @classmethod
    def text(
        cls, text: str, *, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8", headers)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


_JSON = msgspec.json.Encoder()


def text_error(status: int, message: str) -> Response:
    """The default rendering of an error the server core itself answers."""
    return Response.text(f"{status} {reason_phrase(status)}: {message}\n", status=status)


def json_error(status: int, message: str) -> Response:
    """A JSON rendering: ``{"code": "HTTP_<status>", "message": ...}``."""
    return Response.json({"code": f"HTTP_{status}", "message": message}, status=status)
