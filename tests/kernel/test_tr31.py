"""TR-31 key blocks: the public vectors unwrap, wrap/unwrap round-trips, tampering fails."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.crypto import tr31
from base.crypto.tr31 import Header, KeyBlockError
from tests.vectors import vector_text


def _vectors() -> list[tuple[bytes, bytes, str]]:
    cases = []
    for line in vector_text("tr31.txt").splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or line.startswith("#"):
            continue
        kbpk, key, block = parts
        if kbpk.startswith("kbpk="):
            kbpk_b = kbpk.split("'")[1].encode()
            key_b = key.split("'")[1].encode()
        else:
            kbpk_b, key_b = bytes.fromhex(kbpk), bytes.fromhex(key)
        cases.append((kbpk_b, key_b, block))
    return cases


VECTORS = _vectors()


def test_vector_file_has_every_version() -> None:
    assert {block[0] for _, _, block in VECTORS} == {"A", "B", "C", "D"}
    assert len(VECTORS) >= 19


@pytest.mark.parametrize(("kbpk", "key", "block"), VECTORS)
def test_unwrap_vectors(kbpk: bytes, key: bytes, block: str) -> None:
    header, clear = tr31.unwrap(kbpk, block)
    assert clear == key
    assert header.version == block[0]
    assert header.key_usage == block[5:7]


@pytest.mark.parametrize(("kbpk", "key", "block"), VECTORS)
def test_tampered_vectors_fail(kbpk: bytes, key: bytes, block: str) -> None:
    # Flip one hex digit of the payload, then one of the header.
    pos = len(block) - 20
    flipped = block[:pos] + ("0" if block[pos] != "0" else "1") + block[pos + 1 :]
    with pytest.raises(KeyBlockError):
        tr31.unwrap(kbpk, flipped)
    other = block[:7] + ("X" if block[7] != "X" else "Y") + block[8:]
    with pytest.raises(KeyBlockError):
        tr31.unwrap(kbpk, other)
    wrong = bytes([kbpk[0] ^ 0x10]) + kbpk[1:]  # not a DES parity bit
    with pytest.raises(KeyBlockError):
        tr31.unwrap(wrong, block)


def test_header_with_optional_blocks_parses() -> None:
    header, length = Header.parse("B0000P0TE00N0100KS1800604B120F9292800000")
    assert header.blocks == {"KS": "00604B120F9292800000"}
    assert length == 40


@settings(max_examples=40, deadline=None)
@given(
    version=st.sampled_from("ABCD"),
    key_len=st.sampled_from([8, 16, 24, 32]),
    kbpk_len=st.sampled_from([16, 24, 32]),
    data=st.data(),
)
def test_wrap_unwrap_round_trip(
    version: str, key_len: int, kbpk_len: int, data: st.DataObject
) -> None:
    if version != "D" and kbpk_len == 32:
        kbpk_len = 24
    kbpk = data.draw(st.binary(min_size=kbpk_len, max_size=kbpk_len))
    key = data.draw(st.binary(min_size=key_len, max_size=key_len))
    header = Header(version=version, key_usage="K0", algorithm="T" if key_len <= 24 else "A")
    if data.draw(st.booleans()):
        header.blocks["KS"] = "00604B120F9292800000"
    block = tr31.wrap(kbpk, header, key)
    parsed, clear = tr31.unwrap(kbpk, block)
    assert clear == key
    assert parsed.key_usage == "K0"


@given(st.text(max_size=120))
@settings(max_examples=60, deadline=None)
def test_garbage_either_unwraps_or_raises_key_block_error(text: str) -> None:
    with contextlib.suppress(KeyBlockError):
        tr31.unwrap(bytes(16), text)
