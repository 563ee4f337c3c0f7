# Strategy: the SBP part of the terminal configuration (manual §«Система
# быстрых платежей»: `<sbp><terminal-id>` is printed as `tid-sbp`,
# `<sbp><bank-name>` as `bank-name`), as a typed msgspec Struct whose field
# names map to the configuration's kebab-case keys. Validation happens on
# construction; `SbpConfig.from_mapping` turns any decoding problem into
# `SbpConfigError` (status `invalidarguments`). Numbers carry their allowed
# range on their types (msgspec.Meta), which the terminal's configuration
# error line reads back. The bearer secret never appears in a repr.
from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

from acquirers.http.tls import client_ssl_context
from acquirers.sbp.errors import SbpConfigError

__all__ = ["SbpConfig", "SbpTlsOptions"]


def _doc(text: str, *, secret: bool = False) -> msgspec.Meta:
    """A setting's one-line description for the terminal's configuration
    reference (cardcore.config.doc, which this package cannot import)."""
    return msgspec.Meta(extra={"doc": text, "secret": True} if secret else {"doc": text})


class SbpTlsOptions(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="kebab"
):
    """How the client verifies the agent and, optionally, presents a certificate.

    ``verify`` False disables server verification entirely: only for test
    deployments, never on a terminal in service.
    """

    ca_file: Annotated[str | None, _doc("CA certificates (PEM) the agent is verified with")] = None
    client_cert_file: Annotated[
        str | None, _doc("client certificate (PEM) presented to the agent")
    ] = None
    client_key_file: Annotated[str | None, _doc("the client certificate's key (PEM)")] = None
    verify: Annotated[bool, _doc("verify the agent's certificate (false: tests only)")] = True
    check_hostname: Annotated[bool, _doc("the certificate must name the agent's host")] = True

    def __post_init__(self) -> None:
        if self.client_key_file is not None and self.client_cert_file is None:
            raise SbpConfigError("sbp tls: client-key-file without client-cert-file")


class SbpConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="kebab"
):
    """Configuration of the SBP agent link."""

    # API paths are appended to it.
    agent_url: Annotated[
        str, _doc("base URL of the agent API, e.g. https://sbp-agent.example:8443")
    ]
    terminal_id: Annotated[str, _doc("the SBP terminal id (tid-sbp on receipts)")]
    merchant_id: Annotated[str, _doc("the merchant's SBP id (sbpMerchantId)")]
    bank_name: Annotated[str, _doc("bank-name on SBP receipts")] = ""
    secret_key: Annotated[str | None, _doc("bearer token sent to the agent", secret=True)] = None
    poll_interval: Annotated[
        float, msgspec.Meta(ge=0.1, le=60), _doc("seconds between payment status polls")
    ] = 1.0
    connect_timeout: Annotated[
        float, msgspec.Meta(ge=0.1, le=600), _doc("seconds to connect, per HTTP request")
    ] = 5.0
    request_timeout: Annotated[
        float, msgspec.Meta(ge=0.1, le=600), _doc("seconds per HTTP request")
    ] = 10.0
    qr_lifetime: Annotated[
        float, msgspec.Meta(ge=1, le=86400), _doc("seconds a registered QR stays payable")
    ] = 300.0
    # 0 follows the manual: the first failure hides the QR.
    max_poll_errors: Annotated[
        int, msgspec.Meta(ge=0, le=1000), _doc("failed status polls in a row tolerated")
    ] = 0
    refund_wait: Annotated[
        float, msgspec.Meta(ge=0, le=3600), _doc("seconds a refund still in progress is polled")
    ] = 30.0
    check_payload_sum: Annotated[
        bool, _doc("the agent's QR payload must carry sum= equal to the amount")
    ] = True
    tls: Annotated[SbpTlsOptions | None, _doc("TLS towards the agent")] = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.agent_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SbpConfigError("sbp agent-url must be an http(s) URL with a host")
        if parts.query or parts.fragment:
            raise SbpConfigError("sbp agent-url must not carry a query or fragment")
        if not self.terminal_id.strip() or len(self.terminal_id) > 32:
            raise SbpConfigError("sbp terminal-id must be 1 to 32 characters")
        if not self.merchant_id.strip() or len(self.merchant_id) > 32:
            raise SbpConfigError("sbp merchant-id must be 1 to 32 characters")

    def __repr__(self) -> str:
        secret = "'***'" if self.secret_key else "None"
        return (
            f"SbpConfig(agent_url={self.agent_url!r}, terminal_id={self.terminal_id!r}, "
            f"merchant_id={self.merchant_id!r}, bank_name={self.bank_name!r}, "
            f"secret_key={secret}, poll_interval={self.poll_interval!r}, tls={self.tls!r})"
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SbpConfig:
        """Build from decoded configuration (kebab-case keys)."""
        try:
            return msgspec.convert(data, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SbpConfigError(f"sbp configuration: {exc}") from exc

    def to_mapping(self) -> dict[str, Any]:
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result

    @property
    def base_url(self) -> str:
        return self.agent_url.rstrip("/")

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What httpx's ``verify=`` gets: a context, or False (no verification).
        A plain-HTTP agent needs none (building one loads the system's CA
        store: tens of milliseconds)."""
        tls = self.tls or SbpTlsOptions()
        if not tls.verify or urlsplit(self.agent_url).scheme == "http":
            return False
        try:
            return client_ssl_context(
                ca_file=tls.ca_file,
                certfile=tls.client_cert_file,
                keyfile=tls.client_key_file,
                check_hostname=tls.check_hostname,
            )
        except (OSError, ssl.SSLError) as exc:
            raise SbpConfigError(f"sbp tls: cannot load certificates: {exc}") from exc
