"""The link over TLS with client certificates, all generated here with `cryptography`."""

from __future__ import annotations

import pytest
import trio

from acquirers.errors import CommunicationError
from acquirers.tls import client_tls_context, server_tls_context
from simulators.testkeys import load_test_keys
from tests.acquirers.certs import Pki, make_pki
from tests.acquirers.conftest import Env, make_ledger, start_sim


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tls_env(nursery: trio.Nursery, pki: Pki) -> Env:
    ctx = server_tls_context(
        pki.server.cert_file, pki.server.key_file, client_ca_file=pki.ca.cert_file
    )
    sim, port = await start_sim(nursery, ssl_context=ctx, ledger=make_ledger())
    return Env(sim, port, load_test_keys())


async def test_purchase_over_tls_with_client_certificate(tls_env: Env, pki: Pki) -> None:
    ctx = client_tls_context(pki.ca.cert_file, pki.client.cert_file, pki.client.key_file)
    link = tls_env.link(tls=ctx)
    answer = await link.financial(tls_env.purchase(5_000))
    assert answer.approved
    assert (await link.echo()).approved


async def test_tls_without_client_certificate_is_refused(tls_env: Env, pki: Pki) -> None:
    link = tls_env.link(tls=client_tls_context(pki.ca.cert_file))
    with pytest.raises(CommunicationError) as info:
        await link.echo()
    assert f"127.0.0.1:{tls_env.port}" in info.value.message
    assert tls_env.sim.counts["0800"] == 0


async def test_tls_client_certificate_from_another_ca_is_refused(tls_env: Env, pki: Pki) -> None:
    ctx = client_tls_context(pki.ca.cert_file, pki.stranger.cert_file, pki.stranger.key_file)
    with pytest.raises(CommunicationError):
        await tls_env.link(tls=ctx).echo()
    assert tls_env.sim.counts["0800"] == 0


async def test_untrusted_host_certificate(tls_env: Env, pki: Pki) -> None:
    ctx = client_tls_context(pki.other_ca.cert_file, pki.client.cert_file, pki.client.key_file)
    with pytest.raises(CommunicationError) as info:
        await tls_env.link(tls=ctx).echo()
    err = info.value
    assert not err.request_sent
    assert "TLS error: CERTIFICATE_VERIFY_FAILED" in err.message
    assert "main host 127.0.0.1" in err.message


async def test_plain_client_against_tls_host(tls_env: Env) -> None:
    with pytest.raises(CommunicationError):
        await tls_env.link(response_timeout=1.0).echo()
