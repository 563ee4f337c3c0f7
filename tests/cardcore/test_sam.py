"""`sethostkey` (manual: «Установка ключа хоста для SAM AV2») over the ECR
protocol in-process, in clear and over the secure channel: the key lands in
the encrypted key store under its name, replacing the old one, and in the SAM
entry the configuration's host-key list gives for that name."""

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

from cardcore.app import build_commands
from cardcore.client import EcrConnection, Session, default_message_answer
from cardcore.commands.sam import host_key_name
from cardcore.config import build_config
from cardcore.protocol.xmlcodec import Message, decode_error_stack
from cardcore.server import EcrServer
from cardcore.terminal import Devices, Terminal
from hal.interfaces import DeviceInfo
from hal.sam import SamAuthenticationError, SamKeyKind
from simulators.devices.keypad import SimKeypad
from simulators.devices.sam import SimSam
from tests.cardcore.ecr import RawPeer
from tests.cardcore.test_admin import _decrypt, _independent_handshake

INFO = DeviceInfo("000000000009", "M2100", "1.5.3", "2.0.1", "Linux test", "1.0.4")
KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")  # TEST ONLY
OTHER = bytes.fromhex("FFEEDDCCBBAA99887766554433221100")  # TEST ONLY
SAM_CONFIG = {"host-key": [{"name": "hkey1", "entry": 3, "version": 1}]}


@asynccontextmanager
async def terminal_server(
    data_dir: Path, sam: SimSam | None, sam_config: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Terminal, RawPeer]]:
    config = build_config({"admin": {"scrypt-n": 1024}, "sam": sam_config or SAM_CONFIG})
    devices = Devices(INFO, SimKeypad(), sam=sam)
    terminal = Terminal(config, data_dir, devices, simulator=True)
    await terminal.start()
    server = EcrServer(config.server, build_commands(terminal), terminal.keyring)
    async with trio.open_nursery() as nursery:
        client, server_side = trio.testing.memory_stream_pair()
        nursery.start_soon(server.handle_stream, server_side, "test")
        yield terminal, RawPeer(client)
        nursery.cancel_scope.cancel()
    terminal.close()


async def token(peer: RawPeer) -> str:
    answer = await peer.command(Message("login", {"password": "12345678"}))
    return str(answer.body["token"])


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


async def sam_accepts(sam: SimSam, entry: int, version: int, key: bytes) -> bool:
    try:
        await sam.authenticate_host(entry, version, key)
    except SamAuthenticationError:
        return False
    return True


async def test_sethostkey_stores_and_loads_into_the_sam(tmp_path: Path) -> None:
    sam = SimSam()
    async with terminal_server(tmp_path, sam) as (terminal, peer):
        tok = await token(peer)
        answer = await peer.command(
            Message("sethostkey", {"token": tok, "name": "hkey1", "material": b64(KEY)})
        )
        assert answer == Message("sethostkey", {"status": "ok"})
        assert terminal.keystore.get(host_key_name("hkey1")) == KEY
        assert sam.entries[3].version == 1 and sam.entries[3].kind is SamKeyKind.AES128
        assert await sam_accepts(sam, 3, 1, KEY)
        assert not await sam_accepts(sam, 3, 1, OTHER)
        # The manual's warning: a second key of the same name overwrites the first.
        answer = await peer.command(
            Message("sethostkey", {"token": tok, "name": "hkey1", "material": b64(OTHER)})
        )
        assert answer.status == "ok"
        assert terminal.keystore.get(host_key_name("hkey1")) == OTHER
        assert await sam_accepts(sam, 3, 1, OTHER)
        assert not await sam_accepts(sam, 3, 1, KEY)
    stored = (tmp_path / "keys.json").read_text()
    assert KEY.hex() not in stored.lower() and b64(KEY) not in stored
    assert json.loads(stored)["keys"][host_key_name("hkey1")]["algorithm"] == "aes"


async def test_sethostkey_over_the_secure_channel(tmp_path: Path) -> None:
    sam = SimSam()
    async with terminal_server(tmp_path, sam) as (_, peer):
        own, handshake = _independent_handshake()
        answer = await peer.command(
            Message("login", {"password": "12345678"}, {"client-handshake": handshake})
        )
        raw = base64.b64decode(answer.attrs["server-handshake"])
        server_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw[1:])
        key = own.exchange(ec.ECDH(), server_key)
        from cardcore.protocol.xmlcodec import decode_message

        tok = decode_message(_decrypt(key, answer.body["encrypted"])).body["token"]
        conn = EcrConnection(peer.stream, Session(token=tok, key=key), default_message_answer, 10)
        body = {"token": tok, "name": "hkey1", "material": b64(KEY)}
        sent: list[bytes] = []
        send_raw = conn.send_raw

        async def spy(payload: bytes) -> None:
            sent.append(payload)
            await send_raw(payload)

        conn.send_raw = spy  # type: ignore[method-assign]
        answer = await conn.command("sethostkey", body, secure=True)
        assert answer.status == "ok"
        assert b64(KEY).encode() not in sent[0] and b"<encrypted>" in sent[0]
        assert await sam_accepts(sam, 3, 1, KEY)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "hkey1", "material": "not base64!"}, "invalidarguments", "base64"),
        ({"name": "hkey1", "material": b64(bytes(8))}, "invalidarguments", "AES-128"),
        ({"material": b64(KEY)}, "invalidarguments", "name"),
        ({"name": "hkey1"}, "invalidarguments", "material"),
        ({"name": "bad name", "material": b64(KEY)}, "invalidarguments", "name"),
    ],
)
async def test_sethostkey_bad_arguments(
    tmp_path: Path, body: dict[str, str], status: str, message: str
) -> None:
    sam = SimSam()
    async with terminal_server(tmp_path, sam) as (terminal, peer):
        answer = await peer.command(Message("sethostkey", {"token": await token(peer), **body}))
        assert answer.status == status
        assert message in decode_error_stack(answer.body["error-stack"])[0]
        assert host_key_name("hkey1") not in terminal.keystore
        assert 3 not in sam.entries


async def test_sethostkey_needs_a_valid_token(tmp_path: Path) -> None:
    async with terminal_server(tmp_path, SimSam()) as (terminal, peer):
        body = {"token": "0" * 32, "name": "hkey1", "material": b64(KEY)}
        assert (await peer.command(Message("sethostkey", body))).status == "notauthorized"
        assert host_key_name("hkey1") not in terminal.keystore


async def test_key_the_configuration_does_not_name_is_stored_only(tmp_path: Path) -> None:
    sam = SimSam()
    async with terminal_server(tmp_path, sam) as (terminal, peer):
        body = {"token": await token(peer), "name": "other", "material": b64(KEY)}
        assert (await peer.command(Message("sethostkey", body))).status == "ok"
        assert terminal.keystore.get(host_key_name("other")) == KEY
        assert set(sam.entries) == {0}


async def test_no_sam_keeps_the_key_and_says_so(tmp_path: Path) -> None:
    async with terminal_server(tmp_path, None) as (terminal, peer):
        body = {"token": await token(peer), "name": "hkey1", "material": b64(KEY)}
        answer = await peer.command(Message("sethostkey", body))
        assert answer.status == "readernotavailable"
        assert "stored" in decode_error_stack(answer.body["error-stack"])[0]
        assert terminal.keystore.get(host_key_name("hkey1")) == KEY


async def test_sam_change_key_from_the_key_store(tmp_path: Path) -> None:
    """A personalised SAM: its master key is in the key store under the name
    `[sam] change-key` gives; the wrong one fails verification."""
    master = bytes.fromhex("0F0E0D0C0B0A09080706050403020100")  # TEST ONLY
    sam = SimSam()
    await sam.authenticate_host(0, 0, bytes(16))
    await sam.change_key_entry(0, 0, master, SamKeyKind.AES128)
    config = {**SAM_CONFIG, "change-key": "sam-master"}
    async with terminal_server(tmp_path, sam, config) as (terminal, peer):
        body = {"token": await token(peer), "name": "hkey1", "material": b64(KEY)}
        terminal.keystore.put("sam-master", bytes(16), "aes")  # the factory key: wrong now
        answer = await peer.command(Message("sethostkey", body))
        assert answer.status == "verificationfailed"
        assert 3 not in sam.entries
        terminal.keystore.put("sam-master", master, "aes")
        assert (await peer.command(Message("sethostkey", body))).status == "ok"
        assert await sam_accepts(sam, 3, 1, KEY)
