"""Administrator commands and AdminAuth: login, tokens, lock-out, password
changes and resets, getparameters — in-process, over in-memory streams."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cardcore.app import build_commands
from cardcore.auth import AdminAuth, token_id
from cardcore.commands.admin import parameters
from cardcore.config import AdminConfig, build_config
from cardcore.errors import NotAuthorized
from cardcore.parameters import PARAMETER_NAMES
from cardcore.protocol.xmlcodec import Message, decode_error_stack, decode_message
from cardcore.server import EcrServer
from cardcore.terminal import Devices, Terminal
from hal.interfaces import DeviceInfo
from simulators.devices.keypad import SimKeypad
from tests.cardcore.ecr import RawPeer

FAST_ADMIN = {"scrypt-n": 1024}
INFO = DeviceInfo("000000000009", "M2100", "1.5.3", "2.0.1", "Linux test", "1.0.4")


@asynccontextmanager
async def terminal_server(
    data_dir: Path, keypad: SimKeypad | None = None, **sections: dict[str, Any]
) -> AsyncIterator[tuple[Terminal, RawPeer]]:
    config = build_config(
        {
            "admin": FAST_ADMIN,
            "terminal": {"tid": "1000000001", "mid": "243423434122313"},
            **sections,
        }
    )
    terminal = Terminal(config, data_dir, Devices(INFO, keypad or SimKeypad()), simulator=True)
    await terminal.start()
    server = EcrServer(config.server, build_commands(terminal), terminal.keyring)
    async with trio.open_nursery() as nursery:

        def connect() -> RawPeer:
            client, server_side = trio.testing.memory_stream_pair()
            nursery.start_soon(server.handle_stream, server_side, "test")
            return RawPeer(client)

        terminal.connect = connect  # type: ignore[attr-defined]
        yield terminal, connect()
        nursery.cancel_scope.cancel()


async def login(peer: RawPeer, password: str = "12345678") -> Message:
    return await peer.command(Message("login", {"password": password}))


async def test_login_logout(tmp_path: Path) -> None:
    async with terminal_server(tmp_path) as (_, peer):
        answer = await login(peer)
        assert answer.status == "ok"
        token = answer.body["token"]
        assert len(token) == 32 and token == token.upper() and int(token, 16) >= 0
        assert (await peer.command(Message("logout", {"token": token}))).status == "ok"
        answer = await peer.command(Message("logout", {"token": token}))
        assert answer.status == "notauthorized"


async def test_wrong_password(tmp_path: Path) -> None:
    async with terminal_server(tmp_path) as (_, peer):
        answer = await login(peer, "87654321")
        assert answer == Message(
            "login", {"status": "notauthorized", "error-stack": answer.body["error-stack"]}
        )
        assert "token" not in answer.body


@pytest.mark.parametrize("password", ["1234567", "123456789", "abcdefgh", ""])
async def test_login_malformed_password_is_invalidarguments(tmp_path: Path, password: str) -> None:
    async with terminal_server(tmp_path) as (_, peer):
        assert (await login(peer, password)).status == "invalidarguments"


async def test_getparameters_lists_every_field(tmp_path: Path) -> None:
    async with terminal_server(tmp_path) as (_, peer):
        token = (await login(peer)).body["token"]
        answer = await peer.command(Message("getparameters", {"token": token}))
        assert answer.status == "ok"
        params = answer.body["parameters"]
        assert tuple(params) == PARAMETER_NAMES
        assert params["sn"] == "000000000009"
        assert params["tid"] == "1000000001"
        assert params["mid"] == "243423434122313"
        assert params["firmware-mcu"] == "1.5.3"
        assert params["devid"] == "M2100-000000000009"
        assert params["tconf"] == "none" and params["cshost"] == "none"


@pytest.mark.parametrize(
    ("acquirer", "key_servers", "expected"),
    [
        # main and mirror: the main's host is the one in use
        (
            {"main": {"host": "acq1.example", "port": 1}, "mirror": {"host": "acq2", "port": 2}},
            {"key-server-main": "https://ks1.example/k", "key-server-mirror": "https://ks2:8443/"},
            ("acq1.example", "acq1.example", "acq2", "ks1.example", "ks1.example", "ks2"),
        ),
        # a mirror alone is the one in use
        (
            {"mirror": {"host": "acq2", "port": 2}},
            {"key-server-mirror": "https://ks2:8443/"},
            ("acq2", "none", "acq2", "ks2", "none", "ks2"),
        ),
        (
            {"main": {"host": "acq1", "port": 1}},
            {"key-server-main": "https://ks1/"},
            ("acq1", "acq1", "none", "ks1", "ks1", "none"),
        ),
    ],
)
async def test_getparameters_server_hosts(
    tmp_path: Path, acquirer: dict[str, Any], key_servers: dict[str, str], expected: tuple[str, ...]
) -> None:
    async with terminal_server(tmp_path, acquirer=acquirer, provisioning=key_servers) as (_, peer):
        token = (await login(peer)).body["token"]
        params = (await peer.command(Message("getparameters", {"token": token}))).body["parameters"]
        names = ("ashost", "as-main-host", "as-mirror-host", "kshost", "ks-main-host")
        assert tuple(params[n] for n in (*names, "ks-mirror-host")) == expected
        assert params["cshost"] == "none"  # no configuration server before activation


async def test_getparameters_shows_each_terminals_own_device(tmp_path: Path) -> None:
    other = DeviceInfo("000000000077", "M9", "9.9", "9.8", "Linux other", "")
    config = build_config({"admin": FAST_ADMIN})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    second = Terminal(config, tmp_path / "b", Devices(other, SimKeypad()), simulator=True)
    await second.start()
    async with terminal_server(tmp_path / "a") as (first, _):
        for _ in range(2):  # each in turn, twice
            mine = parameters(first)
            expected = (INFO.serial_number, "M2100-000000000009", "1.0.4")
            assert (mine.sn, mine.devid, mine.sdk) == expected
            mine.sn = "changed by the caller"
            assert parameters(first).sn == INFO.serial_number
            theirs = parameters(second)
            assert (theirs.sn, theirs.devid) == ("000000000077", "M9-000000000077")
            assert theirs.sdk == "none" and theirs.firmware_mcu == "9.9"
    second.close()


async def test_token_required(tmp_path: Path) -> None:
    async with terminal_server(tmp_path) as (_, peer):
        answer = await peer.command(Message("getparameters"))
        assert answer.status == "notauthorized"  # none: log in first
        assert "log in" in decode_error_stack(answer.body["error-stack"])[0]
        # the token is checked before anything else the command carries
        for bad in ("", "xyz", "0" * 32):
            answer = await peer.command(
                Message("changepassword", {"token": bad, "password": "1", "newpassword": "x"})
            )
            assert answer.status == "notauthorized"
        answer = await peer.command(Message("getparameters", {"token": "0" * 32}))
        assert answer.status == "notauthorized"


async def test_token_expires_when_idle_if_asked(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    timeout = 15 * 60.0
    async with terminal_server(tmp_path, admin={**FAST_ADMIN, "token-idle-timeout": timeout}) as (
        terminal,
        peer,
    ):
        token = (await login(peer)).body["token"]

        async def getparameters() -> str | None:
            fresh: RawPeer = terminal.connect()  # type: ignore[attr-defined]
            return (await fresh.command(Message("getparameters", {"token": token}))).status

        await trio.sleep(timeout - 1)
        assert await getparameters() == "ok"
        await trio.sleep(timeout - 1)  # each use refreshes the token
        assert await getparameters() == "ok"
        await trio.sleep(timeout + 1)
        assert await getparameters() == "notauthorized"


async def test_token_lasts_until_logout_by_default(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with terminal_server(tmp_path) as (terminal, peer):
        assert terminal.config.admin.token_idle_timeout == 0
        token = (await login(peer)).body["token"]
        await trio.sleep(30 * 24 * 3600)  # a month unused
        peer = terminal.connect()  # type: ignore[attr-defined]
        answer = await peer.command(Message("getparameters", {"token": token}))
        assert answer.status == "ok"
        assert (await peer.command(Message("logout", {"token": token}))).status == "ok"
        answer = await peer.command(Message("getparameters", {"token": token}))
        assert answer.status == "notauthorized"


def test_each_token_expires_by_its_own_last_use(tmp_path: Path) -> None:
    now = [0.0]
    auth = AdminAuth(tmp_path / "admin.json", AdminConfig(token_idle_timeout=10), lambda: now[0])
    revoked: list[str] = []
    auth.on_revoke = revoked.append
    first, second, third = auth.issue_token(), auth.issue_token(), auth.issue_token()
    now[0] = 6
    assert auth.check_token(first.lower()) == token_id(first)  # used: its idle time starts again
    now[0] = 12  # the second and the third have been idle for 12 s, the first for 6
    assert auth.check_token(first) == token_id(first)
    for stale in (second, third):
        with pytest.raises(NotAuthorized):
            auth.check_token(stale)
    assert revoked == [token_id(second), token_id(third)]
    now[0] = 22.5
    with pytest.raises(NotAuthorized):
        auth.check_token(first)
    assert revoked == [token_id(t) for t in (second, third, first)]
    fourth = auth.issue_token()  # none left: the next to expire is the new one
    now[0] = 32.5
    assert auth.check_token(fourth) == token_id(fourth)
    now[0] = 42.6
    with pytest.raises(NotAuthorized):
        auth.check_token(fourth)


async def test_tokens_survive_a_restart_hashed_and_bounded(tmp_path: Path) -> None:
    config = AdminConfig(max_tokens=3)
    auth = AdminAuth(tmp_path / "admin.json", config, lambda: 0.0)
    await auth.load()
    revoked: list[str] = []
    auth.on_revoke = revoked.append
    tokens = [auth.issue_token() for _ in range(3)]
    auth.check_token(tokens[0])  # used: the second is now the least recently used
    fourth = auth.issue_token()
    assert revoked == [token_id(tokens[1])]  # at the bound, a login ends the LRU token
    path = tmp_path / "tokens.json"
    raw = path.read_text()
    assert (path.stat().st_mode & 0o777) == 0o600
    assert not any(t in raw.upper() for t in [*tokens, fourth])  # only hashes
    assert token_id(fourth) in raw
    again = AdminAuth(tmp_path / "admin.json", config, lambda: 0.0)
    await again.load()
    for token in (tokens[0], tokens[2], fourth):
        again.check_token(token)
    with pytest.raises(NotAuthorized):
        again.check_token(tokens[1])
    again.revoke(again.check_token(fourth))
    assert token_id(fourth) not in path.read_text()
    again.revoke_all()
    assert not path.exists()


async def test_a_damaged_token_file_ends_the_logins_only(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text("{not json")
    auth = AdminAuth(tmp_path / "admin.json", AdminConfig(), lambda: 0.0)
    await auth.load()  # starts: only the logins are lost
    with pytest.raises(NotAuthorized):
        auth.check_token("0" * 32)
    assert not (tmp_path / "tokens.json").exists()


async def test_changepassword_and_persistence(tmp_path: Path) -> None:
    async with terminal_server(tmp_path) as (_, peer):
        token = (await login(peer)).body["token"]
        bad = await peer.command(
            Message(
                "changepassword",
                {"token": token, "password": "00000000", "newpassword": "11112222"},
            )
        )
        assert bad.status == "notauthorized"
        ok = await peer.command(
            Message(
                "changepassword",
                {"token": token, "password": "12345678", "newpassword": "11112222"},
            )
        )
        assert ok.status == "ok"
    stored = json.loads((tmp_path / "admin.json").read_text())
    assert stored["scheme"] == "scrypt" and "11112222" not in json.dumps(stored)
    async with terminal_server(tmp_path) as (_, peer):  # a restart keeps the new password
        assert (await login(peer)).status == "notauthorized"
        assert (await login(peer, "11112222")).status == "ok"


async def test_resetpassword_needs_physical_confirmation(tmp_path: Path) -> None:
    keypad = SimKeypad(answer=False)
    async with terminal_server(tmp_path, keypad) as (_, peer):
        token = (await login(peer)).body["token"]
        await peer.command(
            Message(
                "changepassword",
                {"token": token, "password": "12345678", "newpassword": "55556666"},
            )
        )
        answer = await peer.command(Message("resetpassword"))
        assert answer.status == "notauthorized"
        assert "not confirmed" in decode_error_stack(answer.body["error-stack"])[0]
        assert keypad.prompts
        keypad.answer = True
        assert (await peer.command(Message("resetpassword"))).status == "ok"
        assert (await login(peer)).status == "ok"
        # a reset revokes the tokens issued before it
        answer = await peer.command(Message("getparameters", {"token": token}))
        assert answer.status == "notauthorized"


async def test_factory_default_stores_nothing_until_changed(tmp_path: Path) -> None:
    path = tmp_path / "admin.json"
    auth = AdminAuth(path, AdminConfig(scrypt_n=1024))
    await auth.load()
    await auth.check_password("12345678")
    with pytest.raises(NotAuthorized, match="wrong password"):
        await auth.check_password("12345679")
    assert not path.exists()  # the public default: no secret to hash
    await auth.change_password("12345678", "24681357")
    assert json.loads(path.read_text())["scheme"] == "scrypt"
    again = AdminAuth(path, AdminConfig(scrypt_n=1024))
    await again.load()
    with pytest.raises(NotAuthorized, match="wrong password"):
        await again.check_password("12345678")
    await again.check_password("24681357")


async def test_back_to_the_factory_password_the_file_goes(tmp_path: Path) -> None:
    """The file's absence is how the start-up knows, without hashing, that the
    public factory password is in use."""
    path = tmp_path / "admin.json"
    auth = AdminAuth(path, AdminConfig(scrypt_n=1024))
    await auth.load()
    assert auth.factory_password
    await auth.change_password("12345678", "24681357")
    assert path.exists() and not auth.factory_password
    await auth.reset_password()
    assert not path.exists() and auth.factory_password
    await auth.check_password("12345678")
    await auth.change_password("12345678", "24681357")
    await auth.change_password("24681357", "12345678")  # chosen again by hand: the same
    assert not path.exists() and auth.factory_password
    again = AdminAuth(path, AdminConfig(scrypt_n=1024))
    await again.load()
    assert again.factory_password


async def test_a_large_allowed_scrypt_cost_hashes(tmp_path: Path) -> None:
    # 2**18 needs 256 MiB and a little more, beyond a fixed 256 MiB limit.
    config = build_config({"admin": {"scrypt-n": 2**18}}).admin
    auth = AdminAuth(tmp_path / "admin.json", config)
    await auth.load()
    await auth.change_password("12345678", "24681357")
    await auth.check_password("24681357")


async def test_lockout_grows_and_skips_the_password(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    config = AdminConfig(scrypt_n=1024, lockout_after=5, lockout_initial=30, lockout_max=100)
    auth = AdminAuth(tmp_path / "admin.json", config)
    await auth.load()
    for _ in range(5):
        with pytest.raises(NotAuthorized, match="wrong password"):
            await auth.check_password("00000000")
    assert auth.locked_for() == pytest.approx(30)
    with pytest.raises(NotAuthorized, match="locked"):
        await auth.check_password("12345678")  # refused without checking
    await trio.sleep(31)
    with pytest.raises(NotAuthorized, match="wrong password"):
        await auth.check_password("00000000")
    assert auth.locked_for() == pytest.approx(60)
    await trio.sleep(61)
    with pytest.raises(NotAuthorized):
        await auth.check_password("00000000")
    assert auth.locked_for() == pytest.approx(100)  # capped
    await trio.sleep(101)
    await auth.check_password("12345678")
    with pytest.raises(NotAuthorized, match="wrong password"):
        await auth.check_password("00000000")
    assert auth.locked_for() == 0  # a success resets the count


def _independent_handshake() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """The 69-byte client-handshake built from the manual's description only."""
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    raw = (
        bytes([0x03, 0x00, 0x17, 0x41, 0x04])
        + numbers.x.to_bytes(32, "big")
        + numbers.y.to_bytes(32, "big")
    )
    assert len(raw) == 69
    return key, base64.b64encode(raw).decode()


def _decrypt(key: bytes, text: str) -> bytes:
    raw = base64.b64decode(text)
    tag, iv, ciphertext = raw[:16], raw[16:32], raw[32:]
    return AESGCM(key).decrypt(iv, ciphertext + tag, None)


async def test_secure_login_from_an_independent_client(tmp_path: Path) -> None:
    async with terminal_server(tmp_path) as (_, peer):
        own, handshake = _independent_handshake()
        answer = await peer.command(
            Message("login", {"password": "12345678"}, {"client-handshake": handshake})
        )
        server_raw = base64.b64decode(answer.attrs["server-handshake"])
        assert len(server_raw) == 66 and server_raw[:2] == b"\x41\x04"
        server_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_raw[1:])
        key = own.exchange(ec.ECDH(), server_key)
        assert list(answer.body) == ["encrypted"]
        inner = decode_message(_decrypt(key, answer.body["encrypted"]))
        assert inner.name == "encrypted-data" and inner.body["status"] == "ok"
        assert len(inner.body["token"]) == 32


async def test_secure_login_with_bad_handshake(tmp_path: Path) -> None:
    async with terminal_server(tmp_path) as (_, peer):
        answer = await peer.command(
            Message(
                "login",
                {"password": "12345678"},
                {"client-handshake": base64.b64encode(b"\x03\x00\x17").decode()},
            )
        )
        assert answer.status == "invalidarguments"
        assert "69 bytes" in decode_error_stack(answer.body["error-stack"])[0]


async def test_logout_retires_the_channel_key(tmp_path: Path) -> None:
    from cardcore.client import EcrConnection, Session, default_message_answer

    async with terminal_server(tmp_path) as (terminal, peer):
        own, handshake = _independent_handshake()
        answer = await peer.command(
            Message("login", {"password": "12345678"}, {"client-handshake": handshake})
        )
        server_raw = base64.b64decode(answer.attrs["server-handshake"])
        key = own.exchange(
            ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_raw[1:])
        )
        token = decode_message(_decrypt(key, answer.body["encrypted"])).body["token"]
        session = Session(token=token, key=key)
        conn = EcrConnection(peer.stream, session, default_message_answer, timeout=10)
        params = await conn.command("getparameters", {"token": token}, secure=True)
        assert params.status == "ok" and params.body["parameters"]["sn"] == "000000000009"
        assert (await conn.command("logout", {"token": token}, secure=True)).status == "ok"
        answer = await conn.command("getparameters", {"token": token}, secure=True)
        assert answer.status == "verificationfailed"
        assert len(terminal.keyring) == 0
