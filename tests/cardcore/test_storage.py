"""The data dir belongs to the service user alone: a dir made or copied by hand
with looser modes is tightened at start-up, and what the terminal writes is
private from the start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cardcore.app import ServeOptions, build_terminal
from cardcore.config import build_config
from cardcore.errors import DataFileError
from cardcore.storage import make_private_tree
from tests.cardcore.harness import open_to_others


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_every_entry_is_restricted_and_links_are_left_alone(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours to change")
    outside.chmod(0o644)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    root = tmp_path / "data"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "deep.json").write_text("{}")
    (root / "journal.sqlite").write_bytes(b"")
    (root / "script").write_text("")
    (root / "link").symlink_to(outside)
    (root / "dirlink").symlink_to(shared)
    for path, loose in [(root, 0o755), (root / "a", 0o777), (root / "a" / "b", 0o750),
                        (root / "a" / "b" / "deep.json", 0o666),
                        (root / "journal.sqlite", 0o644), (root / "script", 0o755)]:  # fmt: skip
        path.chmod(loose)
    changed = make_private_tree(root)
    assert sorted(str(p.relative_to(root)) for p in changed) == [
        ".", "a", "a/b", "a/b/deep.json", "journal.sqlite", "script"
    ]  # fmt: skip
    assert open_to_others(root) == []
    assert (mode(root), mode(root / "a" / "b"), mode(root / "script")) == (0o700, 0o700, 0o600)
    assert (mode(outside), mode(shared)) == (0o644, 0o755)  # links were not followed
    assert make_private_tree(root) == []  # nothing left to do


def test_a_missing_data_dir_is_created_private(tmp_path: Path) -> None:
    assert make_private_tree(tmp_path / "new" / "data") == []
    assert mode(tmp_path / "new" / "data") == 0o700


def test_an_entry_that_cannot_be_changed_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "foreign.txt").write_text("")
    (tmp_path / "foreign.txt").chmod(0o644)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # another user's file

    monkeypatch.setattr(os, "chmod", refuse)
    with pytest.raises(DataFileError) as caught:
        make_private_tree(tmp_path)
    assert caught.value.message == (
        f"cannot restrict {tmp_path / 'foreign.txt'} to the service user: Operation not permitted"
    )


async def test_a_loose_data_dir_is_tightened_when_the_terminal_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    (data / "journal.sqlite").write_bytes(b"")  # SQLite takes an empty file as a new database
    for path, loose in [(data, 0o755), (data / "run", 0o755), (data / "journal.sqlite", 0o644)]:
        path.chmod(loose)
    config = build_config({"admin": {"scrypt-n": 1024}})
    terminal = build_terminal(ServeOptions(config=config, data_dir=data, simulator=True))
    await terminal.start()
    try:
        assert (data / "journal.sqlite-wal").exists()
        assert open_to_others(data) == []
    finally:
        terminal.close()


async def test_a_new_journal_is_private_whatever_the_umask(tmp_path: Path) -> None:
    config = build_config({"admin": {"scrypt-n": 1024}})
    old = os.umask(0o022)
    try:
        terminal = build_terminal(ServeOptions(config=config, data_dir=tmp_path, simulator=True))
        await terminal.start()
        terminal.close()
    finally:
        os.umask(old)
    assert mode(tmp_path / "journal.sqlite") == 0o600
    assert open_to_others(tmp_path) == []
