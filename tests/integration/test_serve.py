"""`cardcore serve --simulator` as a real process, over real TCP: the admin
commands, the secure channel from an independent client, and bad input of every
kind — after each of which the server still answers the next client."""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cardcore.client import BlockingEcrClient, EcrClient
from cardcore.protocol.xmlcodec import MAX_DEPTH, decode_error_stack, decode_message
from tests.cardcore.ecr import RawPeer
from tests.cardcore.harness import open_to_others
from tests.integration.conftest import FAST, Served, start_server, stop_server


async def peer_for(served: Served) -> RawPeer:
    return RawPeer(await trio.open_tcp_stream(served.host, served.port))


async def assert_alive(served: Served) -> None:
    answer = await EcrClient(served.host, served.port).login("12345678")
    assert answer.status == "ok"


def frame(xml: bytes) -> bytes:
    return struct.pack(">I", len(xml)) + xml


async def test_admin_session(served: Served) -> None:
    client = EcrClient(served.host, served.port)
    assert (await client.login("12345678")).status == "ok"
    answer = await client.getparameters()
    assert answer.status == "ok"
    assert answer.body["parameters"]["sn"] and answer.body["parameters"]["app"]
    assert (await client.changepassword("12345678", "24681357")).status == "ok"
    assert (await client.logout()).status == "ok"
    assert (await client.login("12345678")).status == "notauthorized"
    assert (await client.login("24681357")).status == "ok"


def test_blocking_client_secure_session(served: Served) -> None:
    client = BlockingEcrClient(served.host, served.port)
    assert client.login("12345678", secure=True).status == "ok"
    assert client.session.key is not None
    answer = client.getparameters(secure=True)
    assert answer.status == "ok" and "sn" in answer.body["parameters"]
    assert client.logout(secure=True).status == "ok"


def _handshake() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    n = key.public_key().public_numbers()
    raw = b"\x03\x00\x17\x41\x04" + n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big")
    return key, base64.b64encode(raw).decode()


def _seal(key: bytes, xml: bytes) -> str:
    iv = os.urandom(16)
    sealed = AESGCM(key).encrypt(iv, xml, None)
    return base64.b64encode(sealed[-16:] + iv + sealed[:-16]).decode()


def _open(key: bytes, text: str) -> bytes:
    raw = base64.b64decode(text)
    return AESGCM(key).decrypt(raw[16:32], raw[32:] + raw[:16], None)


def test_secure_channel_with_a_hand_built_client(served: Served) -> None:
    """Plain sockets, the manual's byte layouts, nothing from cardcore."""
    own, handshake = _handshake()
    with socket.create_connection((served.host, served.port), timeout=10) as sock:
        xml = f'<login client-handshake="{handshake}"><password>12345678</password></login>'
        sock.sendall(frame(xml.encode()))
        length = struct.unpack(">I", sock.recv(4, socket.MSG_WAITALL))[0]
        answer = decode_message(sock.recv(length, socket.MSG_WAITALL))
    server_raw = base64.b64decode(answer.attrs["server-handshake"])
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_raw[1:])
    key = own.exchange(ec.ECDH(), peer)
    inner = decode_message(_open(key, answer.body["encrypted"]))
    token = inner.body["token"]
    # A second connection: the key outlives the login's connection.
    with socket.create_connection((served.host, served.port), timeout=10) as sock:
        body = f"<encrypted-data><token>{token}</token></encrypted-data>".encode()
        sock.sendall(
            frame(
                f"<getparameters><encrypted>{_seal(key, body)}</encrypted></getparameters>".encode()
            )
        )
        length = struct.unpack(">I", sock.recv(4, socket.MSG_WAITALL))[0]
        answer = decode_message(sock.recv(length, socket.MSG_WAITALL))
    assert answer.name == "getparameters" and list(answer.body) == ["encrypted"]
    params = decode_message(_open(key, answer.body["encrypted"]))
    assert params.body["status"] == "ok" and "devid" in params.body["parameters"]


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    )
    + b"]><login><password>&j;</password></login>"
)


@pytest.mark.parametrize(
    ("raw", "root", "status"),
    [
        (frame(b"<login><password>1234"), "error", "formaterror"),
        (frame(b"<keepalive><status>ok</status></keepalive>"), "keepalive", "notimplemented"),
        (frame(b"<frobnicate/>"), "frobnicate", "notimplemented"),
        (frame(b"<login/>"), "login", "invalidarguments"),
        (frame(b"<login><password>12ab5678</password></login>"), "login", "invalidarguments"),
        (
            frame(b"<getparameters><token>XYZ</token></getparameters>"),
            "getparameters",
            "notauthorized",  # an ill-formed token is no token (docs/protocol-decisions.md)
        ),
        (b"\x00\x00\x00\x00", "error", "formaterror"),
        (b"\xff\xff\xff\xf0", "error", "formaterror"),
        (frame(BILLION_LAUGHS), "error", "formaterror"),
        # Sealed packets: refused as any packet is, or, well formed, by the
        # secure channel under their own root.
        *[
            (frame(b"<getparameters>" + inner + b"</getparameters>"), "error", "formaterror")
            for inner in (
                b"<encrypted>QU<?evil instruction?>JD</encrypted>",
                b"<encrypted>" + b"<b>" * MAX_DEPTH + b"</b>" * MAX_DEPTH + b"</encrypted>",
                b"<encrypted>&undefined;</encrypted>",
                b"<encrypted>QUJD</encrypted",
            )
        ],
        (
            frame(
                b'<!DOCTYPE a [<!ENTITY x "QUJD">]>'
                b"<getparameters><encrypted>&x;</encrypted></getparameters>"
            ),
            "error",
            "formaterror",
        ),
        (
            frame(b"<getparameters><encrypted>QUJD</encrypted></getparameters>"),
            "getparameters",
            "verificationfailed",
        ),
        (
            frame(b"<getparameters><encrypted>QUJD</encrypted><token>X</token></getparameters>"),
            "getparameters",
            "verificationfailed",
        ),
    ],
)
async def test_bad_input_is_answered_and_server_stays_up(
    served: Served, raw: bytes, root: str, status: str
) -> None:
    peer = await peer_for(served)
    await peer.send_bytes(raw)
    answer = await peer.read()
    assert (answer.name, answer.status) == (root, status)
    assert decode_error_stack(answer.body["error-stack"])
    await assert_alive(served)


async def test_external_entity_does_not_leak_files(served: Served, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xml = f'<!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]><login><password>&x;</password></login>'
    peer = await peer_for(served)
    await peer.send_xml(xml.encode())
    raw = await peer.read_packet()
    assert raw is not None and b"TOP-SECRET" not in raw
    assert decode_message(raw).status == "formaterror"
    await assert_alive(served)


async def test_truncated_packet_then_eof(served: Served) -> None:
    peer = await peer_for(served)
    await peer.send_bytes(b"\x00\x00\x01\x00<login><pass")
    await peer.stream.aclose()
    await assert_alive(served)


async def test_random_bytes(served: Served) -> None:
    rng = random.Random(1234)
    for _ in range(20):
        peer = await peer_for(served)
        await peer.send_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        await peer.stream.aclose()
    await assert_alive(served)


async def test_200_idle_connections_while_another_client_logs_in(served: Served) -> None:
    """From another address: one address holds at most max-connections-per-peer."""
    idle = [
        await trio.open_tcp_stream(served.host, served.port, local_address="127.0.0.2")
        for _ in range(200)
    ]
    await idle[0].send_all(b"\x00\x00")
    await assert_alive(served)
    for stream in idle:
        await stream.aclose()


async def test_garbage_does_not_grow_memory(served: Served) -> None:
    async def barrage(count: int) -> None:
        for i in range(count):
            peer = await peer_for(served)
            kind = i % 4
            if kind == 0:
                await peer.send_bytes(frame(BILLION_LAUGHS))
            elif kind == 1:
                await peer.send_bytes(b"\x7f\xff\xff\xff")
            elif kind == 2:
                await peer.send_bytes(frame(b"<a>" * 40 + b"x"))
            else:
                await peer.send_bytes(frame(b"<frobnicate/>"))
            await peer.read_packet()
            await peer.stream.aclose()

    await barrage(300)  # warm-up: allocator pools, caches
    before = served.rss_kib()
    await barrage(1500)
    growth = served.rss_kib() - before
    assert growth < 4096, f"RSS grew by {growth} KiB over 1500 bad packets"
    await assert_alive(served)


def test_idle_connection_closed_by_configured_timeout(tmp_path: Path) -> None:
    server = start_server(tmp_path / "d", config=FAST + "[server]\nidle-timeout = 0.5\n")
    try:
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            assert sock.recv(1) == b""  # closed by the server, not by our timeout
    finally:
        assert stop_server(server) == 0


def test_a_loose_data_dir_is_private_once_the_terminal_is_up(tmp_path: Path) -> None:
    data = tmp_path / "d"
    (data / "run").mkdir(parents=True)
    for path in (data, data / "run"):
        path.chmod(0o755)
    server = start_server(data, config=FAST)
    try:
        deadline = time.monotonic() + 30
        while not (data / "sim" / "keyserver.url").exists():  # the last file the simulator writes
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.05)
        assert open_to_others(data) == []
    finally:
        assert stop_server(server) == 0


def test_what_leaves_the_terminal_open_is_warned_about_at_start(tmp_path: Path) -> None:
    acquirer = '[acquirer]\nmain = { host = "10.0.0.5", port = 8583 }\n'
    server = start_server(tmp_path / "d", "--listen", "0.0.0.0", config=FAST + acquirer)
    try:
        log = server.log_text()
        assert "WARNING cardcore.app: the administrator password is the factory default" in log
        assert "WARNING cardcore.app: the acquirer link to 10.0.0.5:8583 is plain TCP" in log
    finally:
        assert stop_server(server) == 0


def test_password_survives_restart(tmp_path: Path) -> None:
    data = tmp_path / "d"
    server = start_server(data, config=FAST)
    try:
        client = BlockingEcrClient(server.host, server.port)
        client.login("12345678")
        assert client.changepassword("12345678", "13572468").status == "ok"
    finally:
        assert stop_server(server) == 0
    assert not (data / "run" / "ecr.addr").exists()
    server = start_server(data, config=FAST)
    try:
        client = BlockingEcrClient(server.host, server.port)
        assert client.login("12345678").status == "notauthorized"
        assert client.login("13572468").status == "ok"
    finally:
        assert stop_server(server) == 0


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardcore", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    result = _cli("serve", "--no-such-option")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nprot = 1\n")
    result = _cli("serve", "--simulator", "--config", str(bad), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert result.stderr.strip() == "cardcore: unknown configuration key 'server.prot'"


@pytest.mark.parametrize("lost", ["journal.sqlite", "keys.json", "device-master.key"])
def test_a_lost_data_file_stops_the_start(tmp_path: Path, lost: str) -> None:
    """A terminal that had a journal never starts afresh without it: the
    pending reversals and the open batch would be forgotten. Nor does it
    start over keys it cannot read."""
    data = tmp_path / "d"
    assert stop_server(start_server(data, config=FAST)) == 0
    (data / lost).unlink()
    args = ["serve", "--simulator", "--port", "0", "--data-dir", str(data)]
    result = _cli(*args, "--config", str(data / "test-config.toml"))
    assert result.returncode == 2, result.stderr
    # (Without a syslog socket the log's own notice may come first.)
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("cardcore: cannot start")]
    assert lost in line
    assert "backup" in line
    if lost == "journal.sqlite":
        assert "--new-journal" in line
        assert stop_server(start_server(data, "--new-journal", config=FAST)) == 0
        assert (data / "journal.sqlite").exists()


def test_cli_client(served: Served, tmp_path: Path) -> None:
    common = ["--port", str(served.port), "--session", str(tmp_path / "s.json"), "--xml"]
    login = _cli("client", "login", "--secure", *common)
    assert login.returncode == 0, login.stderr
    assert "<status>ok</status>" in login.stdout
    params = _cli("client", "getparameters", "--secure", *common)
    assert params.returncode == 0 and "<devid>" in params.stdout
    command = tmp_path / "cmd.xml"
    command.write_text("<frobnicate/>")
    sent = _cli("client", "send", str(command), *common)
    assert sent.returncode == 3  # the terminal answered a status other than ok
    assert "error: unknown command <frobnicate>" in sent.stdout
    # A command of the manual that takes the token gets the login's, over
    # the secure channel too; the output shows it as written, without it.
    token = json.loads((tmp_path / "s.json").read_text())["token"]
    command.write_text("<getparameters/>")
    for secure in ((), ("--secure",)):
        sent = _cli("client", "send", str(command), *secure, *common)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "<devid>" in sent.stdout and token not in sent.stdout
    command.write_text(
        "<getparameters><token>00000000000000000000000000000000</token></getparameters>"
    )
    sent = _cli("client", "send", str(command), *common)
    assert sent.returncode == 3 and "<status>notauthorized</status>" in sent.stdout
    assert _cli("client", "logout", *common).returncode == 0
    assert not (tmp_path / "s.json").exists()


def test_acons_accepts_the_manual_spelling(tmp_path: Path) -> None:
    server = start_server(tmp_path / "d", "-econs", config=FAST)
    try:
        BlockingEcrClient(server.host, server.port).login("12345678")
    finally:
        assert stop_server(server) == 0
    assert "<login> -> ok" in server.log_text()


def test_logs_never_carry_the_password(served: Served) -> None:
    client = BlockingEcrClient(served.host, served.port)
    client.login("12345678")
    client.login("87654321")
    assert "12345678" not in served.log_text() and "87654321" not in served.log_text()
