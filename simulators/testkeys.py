# Strategy: the TEST ONLY key set shared by the host simulator and the
# terminal in simulator mode (simulators/test_keys.json). Both sides read the
# same file, so a freshly started `cardcore serve --simulator` and its
# in-process host agree on the terminal master keys and the initial working
# keys. Every key is checked against the KCV stored next to it on load.
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from acquirers.iso8583.security import MasterKeys, WorkingKeys, kcv

__all__ = [
    "TEST_BDKS",
    "TEST_DUKPT_INITIAL_IDS",
    "TEST_KEYS_FILE",
    "SimulatorKeys",
    "load_test_keys",
]

TEST_KEYS_FILE = "test_keys.json"

# DUKPT base derivation keys and initial key identifiers: the published test
# values of ANSI X9.24-1 (TDES, initial KSN) and X9.24-3 (AES-128, initial key
# ID). TEST ONLY, like every key here.
TEST_BDKS = {
    "tdes": bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    "aes": bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1"),
}
TEST_DUKPT_INITIAL_IDS = {
    "tdes": bytes.fromhex("FFFF9876543210E00000"),
    "aes": bytes.fromhex("1234567890123456"),
}


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
        text = resources.files("simulators").joinpath(TEST_KEYS_FILE).read_text("utf-8")
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
