# Strategy: TLS contexts for the acquirer link and its simulator
# (docs/architecture.md: ISO 8583 over TCP, optionally TLS with the terminal's client
# certificate). TLS 1.2 at least; the client verifies the host against the
# acquirer CA and presents its certificate; the server demands one.
from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["client_tls_context", "server_tls_context"]

StrPath = str | Path


def client_tls_context(
    ca_file: StrPath | None = None,
    cert_file: StrPath | None = None,
    key_file: StrPath | None = None,
    *,
    ca_data: str | bytes | None = None,
) -> ssl.SSLContext:
    """Verify the host against ``ca_file``/``ca_data``; present ``cert_file``."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None or ca_data is not None:
        ctx.load_verify_locations(
            cafile=str(ca_file) if ca_file is not None else None,
            cadata=ca_data.decode() if isinstance(ca_data, bytes) else ca_data,
        )
    if cert_file is not None:
        ctx.load_cert_chain(str(cert_file), str(key_file) if key_file is not None else None)
    return ctx


def server_tls_context(
    cert_file: StrPath,
    key_file: StrPath,
    client_ca_file: StrPath | None = None,
) -> ssl.SSLContext:
    """Serve ``cert_file``; with ``client_ca_file``, require a client certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), str(key_file))
    if client_ca_file is not None:
        ctx.load_verify_locations(cafile=str(client_ca_file))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
