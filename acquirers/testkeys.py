# Strategy: the TEST ONLY key set shared by the host simulator and the
# terminal in simulator mode (acquirers/test_keys.json). Both sides read the
# same file, so a freshly started `cardcore serve --simulator` and its
# in-process host agree on the terminal master keys and the initial working
# keys. Every key is checked against the KCV stored next to it on load.
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from acquirers.iso8583.security import MasterKeys, WorkingKeys, kcv

__all__ = ["TEST_KEYS_FILE", "SimulatorKeys", "load_test_keys"]

TEST_KEYS_FILE = "test_keys.json"


@dataclass(frozen=True)
class SimulatorKeys:
    """TEST ONLY keys: never for a terminal connected to a real acquirer."""

    master: MasterKeys
    working: WorkingKeys


def _key(entry: dict[str, str], name: str) -> bytes:
    key = bytes.fromhex(entry["key"])
    if kcv(key) != bytes.fromhex(entry["kcv"]):
        raise ValueError(f"test key {name}: KCV mismatch")
    return key


def load_test_keys(path: str | Path | None = None) -> SimulatorKeys:
    if path is None:
        text = resources.files("acquirers").joinpath(TEST_KEYS_FILE).read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    doc = json.loads(text)
    master = doc["master_keys"]
    working = doc["working_keys"]
    return SimulatorKeys(
        master=MasterKeys(
            pin=_key(master["pin"], "pin master"), mac=_key(master["mac"], "mac master")
        ),
        working=WorkingKeys(tpk=_key(working["tpk"], "tpk"), tak=_key(working["tak"], "tak")),
    )
