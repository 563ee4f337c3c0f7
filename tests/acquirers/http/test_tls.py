"""HTTPS and mutual TLS on the server core, with a PKI generated per test."""

from __future__ import annotations

import ssl
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from acquirers.http import ServerConfig, client_ssl_context, serve, server_ssl_context

from ..certs import Pki, make_pki
from .helpers import demo_app, exchange


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def start_tls(nursery: trio.Nursery, context: ssl.SSLContext) -> int:
    config = ServerConfig(ssl_context=context, header_timeout=5)
    port: int = await nursery.start(partial(serve, demo_app(), config=config))
    return port


def client(pki: Pki, *, cert: str | None = "client", ca: Path | None = None) -> httpx.AsyncClient:
    issued = {"client": pki.client, "stranger": pki.stranger}.get(cert or "")
    context = client_ssl_context(
        ca_file=ca or pki.ca.cert_file,
        certfile=issued.cert_file if issued else None,
        keyfile=issued.key_file if issued else None,
    )
    return httpx.AsyncClient(verify=context, timeout=10)


async def test_https_without_client_certificates(nursery: trio.Nursery, pki: Pki) -> None:
    port = await start_tls(nursery, server_ssl_context(pki.server.cert_file, pki.server.key_file))
    async with client(pki, cert=None) as https:
        response = await https.get(f"https://127.0.0.1:{port}/tls")
    assert response.status_code == 200
    body = response.json()
    assert body["tls"] is True and body["version"] in ("TLSv1.2", "TLSv1.3")
    assert body["subject"] is None


async def test_mutual_tls_exposes_the_client_certificate(nursery: trio.Nursery, pki: Pki) -> None:
    context = server_ssl_context(
        pki.server.cert_file, pki.server.key_file, client_ca_file=pki.ca.cert_file
    )
    assert context.verify_mode == ssl.CERT_REQUIRED
    port = await start_tls(nursery, context)
    async with client(pki) as https:
        first = await https.get(f"https://localhost:{port}/tls")
        second = await https.get(f"https://localhost:{port}/peer")
    assert first.status_code == 200
    assert first.json()["subject"] == "CN=terminal 00012345,O=cardcore tests"
    assert second.status_code == 200


async def test_client_ca_given_as_pem_text(nursery: trio.Nursery, pki: Pki) -> None:
    context = server_ssl_context(
        pki.server.cert_file, pki.server.key_file, client_ca_pem=pki.ca.cert_pem
    )
    port = await start_tls(nursery, context)
    async with client(pki) as https:
        response = await https.get(f"https://127.0.0.1:{port}/tls")
    assert response.json()["subject"].startswith("CN=terminal")


@pytest.mark.parametrize("cert", [None, "stranger"])
async def test_mutual_tls_refuses_missing_or_foreign_certificates(
    nursery: trio.Nursery, pki: Pki, cert: str | None
) -> None:
    context = server_ssl_context(
        pki.server.cert_file, pki.server.key_file, client_ca_file=pki.ca.cert_file
    )
    port = await start_tls(nursery, context)
    async with client(pki, cert=cert) as https:
        with pytest.raises(httpx.TransportError):
            await https.get(f"https://127.0.0.1:{port}/tls")
    async with client(pki) as https:  # the server is still serving
        assert (await https.get(f"https://127.0.0.1:{port}/tls")).status_code == 200


async def test_optional_client_certificate(nursery: trio.Nursery, pki: Pki) -> None:
    context = server_ssl_context(
        pki.server.cert_file,
        pki.server.key_file,
        client_ca_file=pki.ca.cert_file,
        client_cert_required=False,
    )
    port = await start_tls(nursery, context)
    async with client(pki, cert=None) as anonymous, client(pki) as known:
        assert (await anonymous.get(f"https://127.0.0.1:{port}/tls")).json()["subject"] is None
        assert (await known.get(f"https://127.0.0.1:{port}/tls")).json()["subject"]


async def test_client_refuses_a_server_from_another_ca(nursery: trio.Nursery, pki: Pki) -> None:
    port = await start_tls(nursery, server_ssl_context(pki.server.cert_file, pki.server.key_file))
    async with client(pki, cert=None, ca=pki.other_ca.cert_file) as https:
        with pytest.raises(httpx.ConnectError):
            await https.get(f"https://127.0.0.1:{port}/tls")


async def test_plain_http_and_garbage_on_the_tls_port(nursery: trio.Nursery, pki: Pki) -> None:
    port = await start_tls(nursery, server_ssl_context(pki.server.cert_file, pki.server.key_file))
    for data in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello", b""):
        raw = await exchange(port, data)
        assert not raw.startswith(b"HTTP/")
    async with client(pki, cert=None) as https:
        assert (await https.get(f"https://127.0.0.1:{port}/tls")).status_code == 200


async def test_stalled_tls_handshake_is_dropped(
    nursery: trio.Nursery, pki: Pki, autojump_clock: trio.testing.MockClock
) -> None:
    port = await start_tls(nursery, server_ssl_context(pki.server.cert_file, pki.server.key_file))
    raw = await exchange(port, b"", half_close=False)
    assert raw == b""


def test_optional_client_cert_needs_a_ca(pki: Pki) -> None:
    with pytest.raises(ValueError):
        server_ssl_context(pki.server.cert_file, pki.server.key_file, client_cert_required=False)
