"""CA public key store (Book 2 11.2): checksum on load, lookup by RID and index, expiry, JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from kernel.capk import CaKeyStore, CaPublicKey
from kernel.errors import CaKeyError
from tests.vectors import vector_text

H = bytes.fromhex
TEXT = vector_text("emv-capk-test-and-live.txt")


def test_load_test_and_live_sets() -> None:
    test = CaKeyStore.from_capk_text(TEXT, labels={"test"})
    live = CaKeyStore.from_capk_text(TEXT, labels={"live"})
    assert len(test) == 34 and len(live) == 12
    # A000000004/05 is a 1024-bit key in the test set and a 1408-bit key in the live set.
    test05, live05 = test.get(H("A000000004"), 0x05), live.get(H("A000000004"), 0x05)
    assert test05 is not None and live05 is not None
    assert len(test05.modulus) == 128 and len(live05.modulus) == 176
    assert live05.compute_checksum() == H("EBFA0D5D06D8CE702DA3EAE890701D45E274C845")
    assert test.get(H("A000000003"), 0x01) is None


def test_both_sets_at_once_conflict() -> None:
    with pytest.raises(CaKeyError, match="different key"):
        CaKeyStore.from_capk_text(TEXT)


def test_checksum_is_verified_on_load() -> None:
    key = next(iter(CaKeyStore.from_capk_text(TEXT, labels={"test"})))
    bad = dataclasses.replace(key, checksum=bytes(20))
    with pytest.raises(CaKeyError, match="checksum"):
        CaKeyStore([bad])
    corrupted = TEXT.replace(
        "C4A3C43CCF87327D136B804160E47D43B60E6E0F", "C4A3C43CCF87327D136B804160E47D43B60E6E0E"
    )
    with pytest.raises(CaKeyError, match="checksum"):
        CaKeyStore.from_capk_text(corrupted, labels={"test"})


def test_expiry_from_the_text_format() -> None:
    live = CaKeyStore.from_capk_text(TEXT, labels={"live"})
    amex = live.get(H("A000000025"), 0x10)
    assert amex is not None and amex.expiry == dt.date(2020, 12, 31)
    assert live.get(H("A000000025"), 0x10, dt.date(2020, 12, 31)) is not None
    assert live.get(H("A000000025"), 0x10, dt.date(2021, 1, 1)) is None


def test_json_round_trip_and_errors() -> None:
    store = CaKeyStore.from_capk_text(TEXT, labels={"test"})
    again = CaKeyStore.from_json(store.to_json())
    assert [(k.rid, k.index, k.modulus) for k in again] == [
        (k.rid, k.index, k.modulus) for k in store
    ]
    for doc in ('{"keys": [{"rid": "A0"}]}', "not json", '{"keys": [{"rid": 5}]}', "{}"):
        with pytest.raises(CaKeyError):
            CaKeyStore.from_json(doc)
    # Book 2 11.2.2: no checksum, no key (an altered modulus could not be told).
    rows = json.loads(store.to_json())
    del rows["keys"][0]["checksum"]
    with pytest.raises(CaKeyError, match="checksum"):
        CaKeyStore.from_json(json.dumps(rows))


@pytest.mark.parametrize(
    "change",
    [
        {"rid": H("A0000000")},
        {"exponent": H("05")},
        {"modulus": H("00") + bytes(127)},
        {"modulus": bytes(10)},
        {"index": 256},
    ],
)
def test_key_validation(change: dict[str, object]) -> None:
    key = CaPublicKey(H("A000000003"), 0x92, b"\xc1" * 128, H("03"))
    with pytest.raises(CaKeyError):
        CaKeyStore([dataclasses.replace(key, **change)])  # type: ignore[arg-type]


def test_revocation_list() -> None:
    store = CaKeyStore()
    store.revoke(H("A000000003"), 0x92, H("000001"))
    assert store.is_revoked(H("A000000003"), 0x92, H("000001"))
    assert not store.is_revoked(H("A000000003"), 0x92, H("000002"))
