"""The link over TLS with client certificates, all generated here with `cryptography`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from acquirers.errors import CommunicationError
from acquirers.tls import client_tls_context, server_tls_context
from simulators.testkeys import load_test_keys
from tests.acquirers.conftest import Env, make_ledger, start_sim


@dataclass
class Issued:
    cert: Path
    key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(tmp: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    cert_path, key_path = tmp / f"{stem}.pem", tmp / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(cert_path, key_path)


def _ca(tmp: Path, cn: str) -> tuple[Issued, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(tmp, cn.replace(" ", "_"), cert, key), cert, key


def _leaf(
    tmp: Path,
    cn: str,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    server: bool,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return _write(tmp, cn.replace(" ", "_"), builder.sign(ca_key, hashes.SHA256()), key)


@dataclass
class Pki:
    ca: Issued
    server: Issued
    client: Issued
    rogue_ca: Issued
    rogue_client: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    ca, ca_cert, ca_key = _ca(tmp, "Acquirer Test CA")
    rogue, rogue_cert, rogue_key = _ca(tmp, "Rogue CA")
    return Pki(
        ca=ca,
        server=_leaf(tmp, "host", ca_cert, ca_key, server=True),
        client=_leaf(tmp, "terminal 00001234", ca_cert, ca_key, server=False),
        rogue_ca=rogue,
        rogue_client=_leaf(tmp, "rogue terminal", rogue_cert, rogue_key, server=False),
    )


@pytest.fixture
async def tls_env(nursery: trio.Nursery, pki: Pki) -> Env:
    ctx = server_tls_context(pki.server.cert, pki.server.key, client_ca_file=pki.ca.cert)
    sim, port = await start_sim(nursery, ssl_context=ctx, ledger=make_ledger())
    return Env(sim, port, load_test_keys())


async def test_purchase_over_tls_with_client_certificate(tls_env: Env, pki: Pki) -> None:
    ctx = client_tls_context(pki.ca.cert, pki.client.cert, pki.client.key)
    link = tls_env.link(tls=ctx)
    answer = await link.financial(tls_env.purchase(5_000))
    assert answer.approved
    assert (await link.echo()).approved


async def test_tls_without_client_certificate_is_refused(tls_env: Env, pki: Pki) -> None:
    link = tls_env.link(tls=client_tls_context(pki.ca.cert))
    with pytest.raises(CommunicationError) as info:
        await link.echo()
    assert f"127.0.0.1:{tls_env.port}" in info.value.message
    assert tls_env.sim.counts["0800"] == 0


async def test_tls_client_certificate_from_another_ca_is_refused(tls_env: Env, pki: Pki) -> None:
    ctx = client_tls_context(pki.ca.cert, pki.rogue_client.cert, pki.rogue_client.key)
    with pytest.raises(CommunicationError):
        await tls_env.link(tls=ctx).echo()
    assert tls_env.sim.counts["0800"] == 0


async def test_untrusted_host_certificate(tls_env: Env, pki: Pki) -> None:
    ctx = client_tls_context(pki.rogue_ca.cert, pki.client.cert, pki.client.key)
    with pytest.raises(CommunicationError) as info:
        await tls_env.link(tls=ctx).echo()
    err = info.value
    assert not err.request_sent
    assert "TLS error: CERTIFICATE_VERIFY_FAILED" in err.message
    assert "main host 127.0.0.1" in err.message


async def test_plain_client_against_tls_host(tls_env: Env) -> None:
    with pytest.raises(CommunicationError):
        await tls_env.link(response_timeout=1.0).echo()
