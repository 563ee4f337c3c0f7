# Strategy: where activation keeps the terminal's three client identities and
# how the links use them (issue 8; docs/architecture.md: HTTPS with mutual
# TLS to the configuration and key-loading servers, optional TLS to the
# acquirer with the client certificate from activation).
# - Role "config" authenticates to the configuration server (TMS), whose
#   server certificate must chain to the root received in confdata/cert.
# - Role "keyloader" authenticates to the key-loading server; the CA that
#   signed the key-loader client certificate is also the trust anchor for that
#   server (activation delivers no other).
# - Role "acquirer" is for the acquirer host link; same rule with its CA.
from __future__ import annotations

import ssl
from dataclasses import dataclass

from cardcore.provisioning.errors import ProvisioningMissingData, VerificationFailed
from cardcore.provisioning.store import Generation

__all__ = [
    "ROLES",
    "TMS_ROOT_FILE",
    "ClientIdentity",
    "client_ssl_context",
    "holds_identity",
    "identity",
]

ROLES = ("config", "keyloader", "acquirer")
TMS_ROOT_FILE = "tms-root.crt"


@dataclass(frozen=True)
class ClientIdentity:
    role: str
    cert_file: str
    key_file: str
    ca_file: str


def identity(role: str) -> ClientIdentity:
    return ClientIdentity(role, f"{role}-client.crt", f"{role}-client.key", f"{role}-ca.crt")


def holds_identity(generation: Generation, role: str) -> bool:
    """Whether activation gave the generation a ``role`` client certificate."""
    return generation.state.activated and generation.file(identity(role).cert_file).exists()


def client_ssl_context(generation: Generation, role: str, server_ca_file: str) -> ssl.SSLContext:
    """A TLS 1.2+ client context presenting the ``role`` certificate and
    trusting only ``server_ca_file`` of the generation."""
    ident = identity(role)
    ca = generation.read(server_ca_file)
    if not generation.state.activated or ca is None or generation.read(ident.cert_file) is None:
        raise ProvisioningMissingData("the terminal is not activated")
    # (x509 and RSA load only when a link needs them, not with every start-up.)
    from cardcore.provisioning import pki

    context = ssl.create_default_context(cadata=ca.decode("ascii"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    password = pki.client_key_password(generation.device_master_key())
    try:
        context.load_cert_chain(
            generation.file(ident.cert_file), generation.file(ident.key_file), password
        )
    except (ssl.SSLError, OSError) as exc:
        raise VerificationFailed(f"{role} client certificate cannot be used: {exc}") from None
    return context
