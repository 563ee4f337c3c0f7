"""The configuration server simulator's remote management: a command goes
with the terminal's next poll, once; its result comes back in a later poll
under its id; the next command waits for it; a terminal polls only as itself."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from acquirers.http import HTTPException, Request
from acquirers.http.message import TlsInfo
from simulators.tms.configsim import ConfigServerSimulator


def _certificate(cn: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.DER)


CERT = _certificate("M2100-000000000009")


async def _poll(sim: ConfigServerSimulator, body: str) -> ET.Element:
    tls = TlsInfo("TLSv1.3", None, None, CERT, None)
    request = Request("POST", "/message", (), body.encode(), tls=tls)
    response = await sim._message(request)
    return ET.fromstring(response.body)


async def test_a_command_goes_once_and_its_result_comes_back() -> None:
    sim = ConfigServerSimulator()
    poll = "<tm><sn>000000000009</sn><state>ok</state></tm>"
    assert len(await _poll(sim, poll)) == 0  # nothing to do: <tm/>
    info = sim.issue("info", "000000000009")
    sim.issue("updatesoftware", "000000000009")
    answer = await _poll(sim, poll)
    assert (answer.findtext("cmd"), answer.findtext("id")) == ("info", info.id)
    assert info.state == "sent"
    # The next command waits for the result of the one sent.
    assert len(await _poll(sim, poll)) == 0
    result = (
        f"<tm><sn>000000000009</sn><rsp><id>{info.id}</id><status>ok</status>"
        "<payload><parameters><sn>000000000009</sn></parameters></payload></rsp></tm>"
    )
    answer = await _poll(sim, result)
    assert (info.state, info.status) == ("done", "ok")
    assert info.payload is not None and "<sn>000000000009</sn>" in info.payload
    assert answer.findtext("cmd") == "updatesoftware"
    assert answer.find("appmap/app/name") is not None
    assert sim.polls == 4


async def test_a_terminal_polls_only_as_itself() -> None:
    sim = ConfigServerSimulator()
    sim.issue("info", "000000000001")
    with pytest.raises(HTTPException) as refused:
        await _poll(sim, "<tm><sn>000000000001</sn></tm>")
    assert refused.value.status_code == 403
    assert sim.commands[0].state == "pending"


def test_unknown_commands_are_not_issued() -> None:
    with pytest.raises(ValueError, match="unknown command"):
        ConfigServerSimulator().issue("reboot", "1")
