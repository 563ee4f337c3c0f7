# Strategy: TLS contexts for the HTTPS links and servers (RFC 8446/5246 via
# the stdlib ssl module). TLS 1.2 is the floor; servers offer ALPN
# "http/1.1" only. Mutual TLS (issue 8: configuration and key servers verify
# the terminal's client certificate from activation) is a server context with
# `verify_mode = CERT_REQUIRED` and the client CA loaded; the verified client
# certificate then reaches handlers as `Request.tls`. Key material is given
# as file paths (what `ssl` needs for private keys) or, for CA certificates,
# as PEM text.
from __future__ import annotations

import os
import ssl

__all__ = ["client_ssl_context", "server_ssl_context"]

PathLike = str | os.PathLike[str]


def server_ssl_context(
    certfile: PathLike,
    keyfile: PathLike | None = None,
    *,
    password: str | bytes | None = None,
    client_ca_file: PathLike | None = None,
    client_ca_pem: str | None = None,
    client_cert_required: bool = True,
) -> ssl.SSLContext:
    """A server context; with a client CA it verifies client certificates.

    ``client_cert_required`` False accepts clients without a certificate but
    still verifies any certificate presented (``CERT_OPTIONAL``).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile, password)
    if client_ca_file is not None or client_ca_pem is not None:
        context.load_verify_locations(cafile=client_ca_file, cadata=client_ca_pem)
        context.verify_mode = ssl.CERT_REQUIRED if client_cert_required else ssl.CERT_OPTIONAL
    elif client_cert_required is not True:
        raise ValueError("client_cert_required needs a client CA")
    context.set_alpn_protocols(["http/1.1"])
    return context


def client_ssl_context(
    *,
    ca_file: PathLike | None = None,
    ca_pem: str | None = None,
    certfile: PathLike | None = None,
    keyfile: PathLike | None = None,
    password: str | bytes | None = None,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A client context that verifies the server (system CAs unless given).

    ``certfile``/``keyfile`` add a client certificate for mutual TLS.
    ``check_hostname`` False still verifies the chain (a pinned private CA
    whose server certificates do not name the host).
    """
    if ca_file is None and ca_pem is None:
        context = ssl.create_default_context()
    else:
        context = ssl.create_default_context(cafile=ca_file, cadata=ca_pem)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile, password)
    return context
