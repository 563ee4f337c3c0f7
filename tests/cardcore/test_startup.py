"""Start-up: whatever stops `serve` before the terminal is up comes out as one
StartupError in the words of the failure itself, never as trio's exception
group; what leaves the terminal open to the network is a warning."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

import cardcore.app
from cardcore.app import ServeOptions, build_terminal, describe_failure, serve, startup_warnings
from cardcore.auth import AdminAuth
from cardcore.config import AdminConfig, ConfigError, build_config
from cardcore.errors import DataFileError, ListenError, StartupError
from cardcore.provisioning.store import Generation, ProvisionedState
from cardcore.server import open_listeners
from cardcore.terminal import Terminal


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def options(data_dir: Path, **server: object) -> ServeOptions:
    config = build_config({"admin": {"scrypt-n": 1024}, "server": server})
    return ServeOptions(config=config, data_dir=data_dir, simulator=True)


async def test_a_port_in_use_is_one_startup_error(tmp_path: Path, taken_port: int) -> None:
    with pytest.raises(StartupError) as caught:
        await serve(options(tmp_path, listen="127.0.0.1", port=taken_port))
    assert caught.value.message == f"ECR listener 127.0.0.1:{taken_port}: Address already in use"
    assert not (tmp_path / "run" / "ecr.addr").exists()


async def test_an_address_that_is_not_ours_names_it() -> None:
    with pytest.raises(ListenError, match=r"^ECR listener 10\.255\.255\.1:4433: "):
        await open_listeners("10.255.255.1", 4433, "ECR listener")
    with pytest.raises(ListenError, match=r"^activator listener \[::ffff:1\]:1: "):
        await open_listeners("::ffff:1", 1, "activator listener")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "it is empty"),
        (b"\x00garbage{", "it is not JSON"),
        (b"[1, 2]", "it is not a JSON object"),
        (b'{"scheme": "md5"}', "unsupported password hash scheme"),
        (
            json.dumps({"scheme": "scrypt", "n": 1000, "r": 8, "p": 1, "salt": "00", "hash": "00"}),
            "the scrypt cost is not a power of two",
        ),
        (
            json.dumps({"scheme": "scrypt", "n": 1024, "r": 8, "p": 1, "salt": "00", "hash": "0"}),
            "the salt or the hash is not hex",
        ),
        (
            json.dumps({"scheme": "scrypt", "n": 1024, "r": 8, "p": 1, "salt": "00", "hash": "00"}),
            "the salt or the hash has the wrong length",
        ),
    ],
)
async def test_a_damaged_password_file_says_how_to_recover(
    tmp_path: Path, content: bytes | str, why: str
) -> None:
    path = tmp_path / "admin.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(DataFileError) as caught:
        await AdminAuth(path, AdminConfig()).load()
    assert caught.value.message == (
        f"the administrator password file {path} is damaged ({why}): restore it from a backup,"
        " or delete it to go back to the factory password 12345678, which anyone who reaches"
        " the ECR port may use until it is changed"
    )


async def test_a_damaged_password_file_stops_serve(tmp_path: Path) -> None:
    (tmp_path / "admin.json").write_bytes(b"")
    with pytest.raises(StartupError, match=r"^the administrator password file .* is damaged"):
        await serve(options(tmp_path, listen="127.0.0.1", port=0))


async def test_an_unexpected_exception_is_one_line_and_a_logged_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(options: ServeOptions) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(cardcore.app, "build_terminal", broken)
    with caplog.at_level(logging.ERROR, logger="cardcore"), pytest.raises(StartupError) as caught:
        await serve(options(tmp_path))
    assert caught.value.message == "unexpected KeyError: 'surprise' (details in the log)"
    [record] = caplog.records
    assert record.exc_info is not None and record.getMessage().startswith("cannot start: ")


def test_the_meaningful_leaf_of_nested_groups_is_chosen() -> None:
    nested = ExceptionGroup(
        "outer",
        [
            ExceptionGroup("inner", [ValueError("noise"), PermissionError(13, "Denied", "/x")]),
            ExceptionGroup("other", [DataFileError("the journal is damaged")]),
        ],
    )
    assert describe_failure(nested, "cannot start") == "the journal is damaged"
    oserror = ExceptionGroup("g", [ValueError("noise"), PermissionError(13, "Denied", "/x")])
    assert describe_failure(oserror, "cannot start") == "/x: Denied"


@asynccontextmanager
async def started(data_dir: Path, **sections: dict[str, Any]) -> AsyncIterator[Terminal]:
    config = build_config({"admin": {"scrypt-n": 1024}, **sections})
    terminal = build_terminal(ServeOptions(config=config, data_dir=data_dir, simulator=False))
    await terminal.start()
    try:
        yield terminal
    finally:
        terminal.close()


def holding_the_acquirer_certificate(terminal: Terminal, where: Path) -> None:
    """As after activation, as far as the acquirer link is concerned."""
    where.mkdir()
    (where / "acquirer-client.crt").write_text("")
    terminal.generation = Generation(where, ProvisionedState(activated=True))


REMOTE = {"main": {"host": "10.0.0.5", "port": 8583}, "mirror": {"host": "acq2", "port": 8583}}
PLAIN = "plain TCP until the terminal is activated: card numbers and track 2 cross the network"


async def test_the_factory_password_on_a_reachable_listener_is_warned_about(
    tmp_path: Path,
) -> None:
    async with started(tmp_path / "a", server={"listen": "0.0.0.0"}) as terminal:
        assert startup_warnings(terminal) == [
            "the administrator password is the factory default 12345678 and the ECR listener"
            " 0.0.0.0 is reachable from the network: change it (cardcore client changepassword)"
        ]
        await terminal.auth.change_password("12345678", "24681357")
        assert startup_warnings(terminal) == []
    for loopback in ("127.0.0.1", "::1", "localhost"):
        async with started(tmp_path / loopback, server={"listen": loopback}) as terminal:
            assert startup_warnings(terminal) == []


async def test_plain_tcp_to_another_machine_is_warned_about(tmp_path: Path) -> None:
    server = {"listen": "127.0.0.1"}
    async with started(tmp_path / "a", server=server, acquirer=REMOTE) as terminal:
        assert terminal.config.acquirer.tls == "auto"  # the default
        assert startup_warnings(terminal) == [
            f"the acquirer link to 10.0.0.5:8583, acq2:8583 is {PLAIN} unencrypted"
        ]
    local = {"main": {"host": "127.0.0.1", "port": 8583}, "tls": False}
    async with started(tmp_path / "b", server=server, acquirer=local) as terminal:
        assert startup_warnings(terminal) == []
    explicit = {"main": {"host": "10.0.0.5", "port": 8583}, "tls": False}
    async with started(tmp_path / "c", server=server, acquirer=explicit) as terminal:
        assert startup_warnings(terminal) == [
            "the acquirer link to 10.0.0.5:8583 is plain TCP (tls = false): card numbers and"
            " track 2 cross the network unencrypted"
        ]


async def test_auto_is_tls_once_the_certificate_is_held(tmp_path: Path) -> None:
    server = {"listen": "127.0.0.1"}
    async with started(tmp_path / "a", server=server, acquirer=REMOTE) as terminal:
        assert not terminal.acquirer_tls_on(terminal.config)
        holding_the_acquirer_certificate(terminal, tmp_path / "gen")
        assert terminal.acquirer_tls_on(terminal.config)
        assert startup_warnings(terminal) == []


async def test_tls_turned_off_while_the_certificate_is_held_is_warned_about(
    tmp_path: Path,
) -> None:
    local = {"main": {"host": "127.0.0.1", "port": 8583}, "tls": False}
    async with started(tmp_path / "a", server={"listen": "127.0.0.1"}, acquirer=local) as terminal:
        holding_the_acquirer_certificate(terminal, tmp_path / "gen")
        assert not terminal.acquirer_tls_on(terminal.config)
        assert startup_warnings(terminal) == [
            "acquirer.tls = false although activation gave the terminal an acquirer client"
            " certificate: the acquirer link runs plain TCP"
        ]


@pytest.mark.parametrize(
    ("value", "ok"), [("auto", True), (True, True), (False, True), ("yes", False)]
)
def test_acquirer_tls_takes_auto_true_or_false(value: object, ok: bool) -> None:
    if ok:
        assert build_config({"acquirer": {"tls": value}}).acquirer.tls == value
    else:
        with pytest.raises(ConfigError) as caught:
            build_config({"acquirer": {"tls": value}})
        assert caught.value.message == (
            "configuration key 'acquirer.tls' is 'yes'; allowed: true, false or 'auto'"
        )


async def test_serve_logs_the_warnings_before_it_is_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = build_config(
        {
            "admin": {"scrypt-n": 1024},
            "server": {"listen": "0.0.0.0", "port": 0, "activator-port": 0},
            "acquirer": {"main": {"host": "10.0.0.5", "port": 8583}},
        }
    )
    options = ServeOptions(config=config, data_dir=tmp_path, simulator=True)
    with caplog.at_level(logging.WARNING, logger="cardcore"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve, options)
            with trio.fail_after(30):
                # The file is the readiness contract (docs/conventions.md): poll for it
                # as scripts do.
                while not (tmp_path / "run" / "ecr.addr").exists():  # noqa: ASYNC110
                    await trio.sleep(0.02)
            nursery.cancel_scope.cancel()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("factory default 12345678" in w for w in warnings), warnings
    assert any(f"10.0.0.5:8583 is {PLAIN}" in w for w in warnings), warnings
