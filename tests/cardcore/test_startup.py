"""Start-up failures: whatever stops `serve` before the terminal is up comes out
as one StartupError in the words of the failure itself, never as trio's
exception group."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import cardcore.app
from cardcore.app import ServeOptions, describe_failure, serve
from cardcore.auth import AdminAuth
from cardcore.config import AdminConfig, build_config
from cardcore.errors import DataFileError, ListenError, StartupError
from cardcore.server import open_listeners


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
