# Strategy: a TEST ONLY public-key infrastructure for activation and the
# HTTPS management links (issue 8), shared by the activator tool and the
# configuration/key-server simulators. Generated on first use into a
# directory (mode 0600 throughout, private keys unencrypted, never committed):
#   config-client-ca, keyloader-ca, acquirer-ca  sign the terminal's three
#       client certificates (the activator's sign*certificate answers);
#       keyloader-ca also issues the key server's TLS certificate, since the
#       terminal trusts that CA for the key server;
#   tms-root  issues the configuration server's TLS certificate; its
#       certificate is what confdata/cert carries.
# Client certificates follow what the public management server's activator
# issues (ru.shtrih.kds tools/Reset.java makeCert): subject CN = device
# identifier, clientAuth extended key usage, SHA-256 RSA signature, ten years.
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA_NAMES", "IssuedPair", "TestPki"]

CA_NAMES = ("config-client-ca", "keyloader-ca", "acquirer-ca", "tms-root")
ROLE_CA = {"config": "config-client-ca", "keyloader": "keyloader-ca", "acquirer": "acquirer-ca"}
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class IssuedPair:
    cert_file: Path
    key_file: Path


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cardcore TEST ONLY"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
        ]
    )


class TestPki:
    """The TEST ONLY CAs in ``directory`` (created on first use)."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in CA_NAMES:
            if not (self.dir / f"{name}.crt").exists():
                self._new_ca(name)

    def _new_ca(self, name: str) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"cardcore TEST {name}"))
            .issuer_name(_name(f"cardcore TEST {name}"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY)
            .not_valid_after(now + 3650 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write(
            self.dir / f"{name}.key",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            0o600,
        )
        _write(self.dir / f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM), 0o600)

    def ca_pem(self, name: str) -> bytes:
        return (self.dir / f"{name}.crt").read_bytes()

    def ca_file(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def _ca(self, name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        cert = x509.load_pem_x509_certificate(self.ca_pem(name))
        key = serialization.load_pem_private_key((self.dir / f"{name}.key").read_bytes(), None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{name}: not an RSA key")
        return cert, key

    def issue_client(
        self, role: str, public_key_pem: bytes, device_id: str, *, ca: str | None = None
    ) -> tuple[bytes, bytes]:
        """A client certificate for ``public_key_pem``; (cert PEM, CA PEM)."""
        ca_name = ca or ROLE_CA[role]
        ca_cert, ca_key = self._ca(ca_name)
        public = serialization.load_pem_public_key(public_key_pem)
        if not isinstance(public, rsa.RSAPublicKey):
            raise ValueError("the terminal key is not an RSA key")
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(device_id))
            .issuer_name(ca_cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY)
            .not_valid_after(now + 3650 * _DAY)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), self.ca_pem(ca_name)

    def server_pair(
        self, ca_name: str, label: str, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    ) -> IssuedPair:
        """A TLS server certificate and key (files), issued once per label."""
        pair = IssuedPair(self.dir / f"{label}.crt", self.dir / f"{label}.key")
        if pair.cert_file.exists() and pair.key_file.exists():
            return pair
        ca_cert, ca_key = self._ca(ca_name)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(label))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY)
            .not_valid_after(now + 3650 * _DAY)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(
            pair.key_file,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            0o600,
        )
        _write(pair.cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o600)
        return pair
