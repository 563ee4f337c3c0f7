"""The configuration as a document (cardcore.configdoc): every setting described,
the TOML it prints loads back to the same configuration, secrets stay out, and
the README's reference is the current one."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from cardcore.config import Config, build_config, setting_type
from cardcore.configdoc import README_BEGIN, README_END, readme_reference, show_config
from cardcore.provisioning.store import ProvisioningStore

README = Path(__file__).resolve().parents[2] / "README.md"

SAMPLE: dict[str, Any] = {
    "server": {"port": 0, "idle-timeout": 12.5, "allowed-clients": ["10.1.0.0/16"]},
    "terminal": {"tid": "10000001", "header-lines": ['Shop "Berёzka"', "Moscow"]},
    "acquirer": {"main": {"host": "10.0.0.5", "port": 8583}, "tls": True},
    "emv": {"aids": [{"aid": "A0000000031010", "label": "VISA"}]},
    "pinpad": {"vendor-id": 0x0ACD, "emulated-pin": "987654"},
    "sam": {"host-key": [{"name": "hkey1", "entry": 3}]},
    "sbp": {
        "agent-url": "https://sbp.example",
        "terminal-id": "T1",
        "merchant-id": "MA0000000552",
        "secret-key": "bearer-SECRET",
        "tls": {"verify": False},
    },
}


def _structs(struct: type[msgspec.Struct], seen: set[type]) -> list[type[msgspec.Struct]]:
    if struct in seen:
        return []
    seen.add(struct)
    found = [struct]
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    for field in info.fields:
        held = setting_type(field.type)
        if isinstance(held, mi.ListType):
            held = setting_type(held.item_type)
        if isinstance(held, mi.StructType):
            found += _structs(held.cls, seen)
    return found


@pytest.mark.parametrize("struct", _structs(Config, set()), ids=lambda s: s.__name__)
def test_every_setting_is_described(struct: type[msgspec.Struct]) -> None:
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    for field in info.fields:
        extra = field.type.extra if isinstance(field.type, mi.Metadata) else None
        assert (extra or {}).get("doc"), f"{struct.__name__}.{field.name} has no doc"


def _show(tmp_path: Path, data: dict[str, Any] | None) -> str:
    """`cardcore config show` of a file holding ``data`` (None: no file)."""
    path = None
    if data is not None:
        path = tmp_path / "terminal.json"
        path.write_text(json.dumps(data))
    return show_config(path, tmp_path / "data")


def test_the_defaults_load_back(tmp_path: Path) -> None:
    assert build_config(tomllib.loads(_show(tmp_path, None))) == Config()


def test_a_file_loads_back_without_its_secrets(tmp_path: Path) -> None:
    text = _show(tmp_path, SAMPLE)
    assert text.startswith(f"# cardcore configuration: the embedded defaults, then {tmp_path}")
    assert "bearer-SECRET" not in text and "987654" not in text
    assert "# secret-key = (set, not shown)" in text
    without_secrets: dict[str, Any] = {
        **SAMPLE,
        "pinpad": {"vendor-id": 0x0ACD},
        "sbp": {k: v for k, v in SAMPLE["sbp"].items() if k != "secret-key"},
    }
    assert build_config(tomllib.loads(text)) == build_config(without_secrets)


def test_each_key_has_its_value_source_description_and_range(tmp_path: Path) -> None:
    lines = _show(tmp_path, SAMPLE).splitlines()

    def line(start: str) -> str:
        (found,) = [x for x in lines if x.startswith(start)]
        return found

    assert re.fullmatch(
        r"port = 0 +# file: the ECR port; 0: a free one .*\[0 to 65535\]", line("port =")
    )
    assert "# file: " in line("idle-timeout =")
    assert line("vendor-id = 0x0ACD ").endswith("[0x0000 to 0xFFFF]")
    assert any(x.endswith("['auto', 'none', 'pcsc' or 'sim']") for x in lines)  # readers.driver
    assert line("# mid = (not set)")
    assert line('main = { host = "10.0.0.5", port = 8583 }')
    assert "[[emv.aids]]" in [x.split()[0] for x in lines if x.startswith("[[")]
    assert line("[sbp] ") and line('terminal-id = "T1"')


def test_the_readme_reference_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    assert text[start:end] == readme_reference(), "run `make readme` and commit the README"


def test_each_value_says_which_layer_it_came_from(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    store = ProvisioningStore(data_dir)
    store.open()
    with store.stage() as staging:
        staging.set_overlay({"terminal": {"tid": "00000001"}, "emv": {"aids": [
            {"aid": "A0000006581010", "label": "MIR"}]}})  # fmt: skip
        store.publish(staging)
    config = tmp_path / "terminal.toml"
    config.write_text('[terminal]\ntid = "22222222"\nmid = "000000000000042"\n')
    lines = show_config(config, data_dir).splitlines()

    def line(start: str) -> str:
        (found,) = [x for x in lines if x.startswith(start)]
        return found

    assert re.match(r'tid = "00000001" +# server: ', line("tid ="))  # the server wins
    assert re.match(r'mid = "000000000000042" +# file: ', line("mid ="))
    assert re.match(r"port = 4433 +# default: ", line("port ="))
    (aid,) = [x for x in lines if x.startswith("[[emv.aids]]")]
    assert "# server: " in aid
    assert build_config(tomllib.loads("\n".join(lines))).terminal.tid == "00000001"
