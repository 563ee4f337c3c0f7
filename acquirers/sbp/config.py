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


class SbpTlsOptions(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="kebab"
):
    """How the client verifies the agent and, optionally, presents a certificate.

    ``verify`` False disables server verification entirely: only for test
    deployments, never on a terminal in service.
    """

    ca_file: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    verify: bool = True
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.client_key_file is not None and self.client_cert_file is None:
            raise SbpConfigError("sbp tls: client-key-file without client-cert-file")


class SbpConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="kebab"
):
    """Configuration of the SBP agent link.

    - ``agent_url``: base URL of the agent API (http or https), e.g.
      ``https://sbp-agent.example:8443``; API paths are appended to it.
    - ``terminal_id``: the SBP terminal id (`tid-sbp` on receipts).
    - ``merchant_id``: the merchant's SBP id (`sbpMerchantId`, e.g. MA0000000552).
    - ``bank_name``: printed as `bank-name` on SBP receipts.
    - ``secret_key``: bearer token sent as ``Authorization: Bearer ...``.
    - ``poll_interval``: seconds between payment-status polls.
    - ``connect_timeout`` / ``request_timeout``: per HTTP request, seconds.
    - ``qr_lifetime``: seconds a registered QR stays payable at the agent.
    - ``max_poll_errors``: consecutive failed status polls tolerated before
      giving up; 0 follows the manual (first failure hides the QR).
    - ``refund_wait``: seconds a refund still IN_PROGRESS is polled.
    - ``check_payload_sum``: demand ``sum=`` in the agent's payload URL equal
      the amount in kopecks.
    """

    agent_url: str
    terminal_id: str
    merchant_id: str
    bank_name: str = ""
    secret_key: str | None = None
    poll_interval: Annotated[float, msgspec.Meta(ge=0.1, le=60)] = 1.0
    connect_timeout: Annotated[float, msgspec.Meta(ge=0.1, le=600)] = 5.0
    request_timeout: Annotated[float, msgspec.Meta(ge=0.1, le=600)] = 10.0
    qr_lifetime: Annotated[float, msgspec.Meta(ge=1, le=86400)] = 300.0
    max_poll_errors: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    refund_wait: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 30.0
    check_payload_sum: bool = True
    tls: SbpTlsOptions | None = None

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
