"""The administrator's tokens and secure-channel keys as a cash register
written from the manual relies on them, tried from outside against
`cardcore serve --simulator`: a token is valid until logout, across restarts,
and many registers may hold one (and a secure channel) at once."""

from __future__ import annotations

import stat
from pathlib import Path

from cardcore.client import EcrClient
from cardcore.protocol.xmlcodec import decode_error_stack
from tests.integration.conftest import FAST, Served, start_server, stop_server


def client(served: Served) -> EcrClient:
    return EcrClient(served.host, served.port, timeout=30)


def errors(answer: object) -> str:
    body = getattr(answer, "body", {})
    return " | ".join(decode_error_stack(body.get("error-stack")))


async def test_many_secure_registers_keep_their_sessions(served: Served) -> None:
    registers = [client(served) for _ in range(12)]  # more than the old 8 keys
    for register in registers:
        assert (await register.login("12345678", secure=True)).status == "ok"
    for register in registers:  # the first one's session still works
        answer = await register.getparameters(secure=True)
        assert answer.status == "ok", errors(answer)
        assert answer.body["parameters"]["sn"]
    first, second = registers[0], registers[1]
    key = first.session.key
    assert (await first.logout(secure=True)).status == "ok"
    # Logout ends the token and the key that login made.
    first.session.key = key
    answer = await first.getparameters(token=second.session.token, secure=True)
    assert answer.status == "verificationfailed" and "encrypted" not in answer.body
    assert (await second.getparameters(secure=True)).status == "ok"


async def test_a_command_without_a_token_is_not_authorized(served: Served) -> None:
    register = client(served)
    for name in ("getparameters", "testconnection", "loadmasterkeys", "updateconfiguration"):
        answer = await register.command(name)
        assert answer.status == "notauthorized", (name, errors(answer))
        assert "log in" in errors(answer)
    # The token is looked at before the rest: nothing is said of the other values.
    answer = await register.command(
        "changepassword", {"token": "0" * 32, "password": "x", "newpassword": "y"}
    )
    assert answer.status == "notauthorized"
    assert "password" not in errors(answer)


async def test_tokens_last_until_logout_across_restarts_and_are_bounded(tmp_path: Path) -> None:
    config = FAST + "max-tokens = 3\n"  # in FAST's [admin]
    served = start_server(tmp_path / "data", config=config)
    try:
        first = client(served)
        assert (await first.login("12345678", secure=True)).status == "ok"
        plain = client(served)
        assert (await plain.login("12345678")).status == "ok"
    finally:
        assert stop_server(served) == 0, served.log_text()
    tokens = tmp_path / "data" / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    text = tokens.read_text().upper()
    assert first.session.token not in text and plain.session.token not in text
    served = start_server(tmp_path / "data", config=config)
    try:
        for register in (first, plain):
            register.port = served.port
            answer = await register.getparameters()
            assert answer.status == "ok", errors(answer)
        # The key of a secure login is not kept over a restart (nor the IVs it
        # has seen): the register logs in again for a new one.
        answer = await first.getparameters(secure=True)
        assert answer.status == "verificationfailed"
        assert "log in" in errors(answer)
        # Three tokens are kept (max-tokens): a fourth login ends the least
        # recently used, here `first` (plain was used after it).
        assert (await plain.getparameters()).status == "ok"
        others = [client(served) for _ in range(2)]
        for register in others:
            assert (await register.login("12345678")).status == "ok"
        assert (await first.getparameters()).status == "notauthorized"
        for register in (plain, *others):
            assert (await register.getparameters()).status == "ok"
        token = plain.session.token
        assert (await plain.logout()).status == "ok"
        assert (await client(served).getparameters(token=token)).status == "notauthorized"
    finally:
        assert stop_server(served) == 0, served.log_text()
