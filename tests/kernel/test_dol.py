"""DOL building (Book 3 5.4) and the data dictionary: case table and hypothesis properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base import tlv
from kernel import dictionary, dol
from kernel.dictionary import Format, Source
from kernel.trace import render_dol_data, render_tlv

H = bytes.fromhex


@pytest.mark.parametrize(
    ("tag", "value", "length", "out"),
    [
        (0x9F02, "000000001000", 6, "000000001000"),  # n: exact
        (0x9F02, "1000", 6, "000000001000"),  # n: leading zeros
        (0x9F02, "000000001000", 4, "00001000"),  # n: keep rightmost
        (0x5A, "1234567890123456", 10, "1234567890123456FFFF"),  # cn: trailing F
        (0x5A, "1234567890123456", 4, "12345678"),  # cn: keep leftmost
        (0x9F1E, "3132333435363738", 10, "31323334353637380000"),  # an: trailing zeros
        (0x9F1E, "3132333435363738", 2, "3132"),
        (0x95, "8000000000", 6, "800000000000"),  # b: trailing zeros
        (0x95, "8000000000", 3, "800000"),
        (0xDF7F, "AABB", 3, "AABB00"),  # unknown tag: binary rules
        (0x9A, "", 3, "000000"),
    ],
)
def test_fit_value_case_table(tag: int, value: str, length: int, out: str) -> None:
    assert dol.fit_value(tag, H(value), length) == H(out)


def test_build_dol_data_zero_fills_missing_and_constructed() -> None:
    data = {0x9F02: H("000000000100"), 0x9F37: H("01020304"), 0x70: H("5A0112")}
    out = dol.build_dol_data(H("9F02069F03069F370470039F1A02"), data)
    assert out == H("000000000100000000000000010203040000000000")


def test_build_dol_data_with_callable_and_empty_dol() -> None:
    assert dol.build_dol_data(b"", {}) == b""
    assert dol.build_dol_data(H("9F3704"), lambda t: H("AABBCCDD")) == H("AABBCCDD")


def test_choose_dol_default() -> None:
    assert dol.choose_dol(None, H("9F3704")) == (H("9F3704"), True)
    assert dol.choose_dol(H("9F4C08"), H("9F3704")) == (H("9F4C08"), False)


def test_malformed_dol_raises_tlv_error() -> None:
    with pytest.raises(tlv.TlvError):
        dol.build_dol_data(H("9F"), {})


def test_dictionary_rows_are_consistent() -> None:
    for e in dictionary.iter_elements():
        assert tlv.encode_tag(e.tag)  # well-formed tag
        assert e.max_len is None or e.min_len <= e.max_len
        if e.format is Format.N and e.max_len is not None:
            assert e.max_len <= 6 or e.tag in (0x9F3B,)
    assert dictionary.is_sensitive(0x5A) and dictionary.is_sensitive(0x57)
    for tag in (0x56, 0x99, 0x9F1F, 0x9F20, 0x9F6B, 0x5F20):
        assert dictionary.is_sensitive(tag)
    assert not dictionary.is_sensitive(0x9F26)
    assert dictionary.element(0x9F02) is not None
    assert dictionary.element(0x9F02).source is Source.TERMINAL  # type: ignore[union-attr]
    assert dictionary.fmt(0x1234) is Format.B
    assert dictionary.length_ok(0x82, H("3900")) and not dictionary.length_ok(0x82, H("39"))


def test_render_redacts_sensitive_values() -> None:
    record = tlv.encode(
        0x70, tlv.encode(0x5A, H("4761739001010119")) + tlv.encode(0x5F24, H("251231"))
    )
    text = render_tlv(record)
    assert "4761739001010119" not in text and "<redacted 8 bytes>" in text and "251231" in text
    line = render_dol_data(H("5A089F0206"), H("4761739001010119") + H("000000000100"))
    assert "4761" not in line and "9F02=000000000100" in line
    assert "not BER-TLV" in render_tlv(H("5A05"))


# --- hypothesis properties -------------------------------------------------------------

_known = sorted(t for t in dictionary.ELEMENTS if not tlv.is_constructed(t))
# At most 12 entries of at most 21 bytes: within the 255 a command carries.
dol_entries = st.lists(st.tuples(st.sampled_from(_known), st.integers(0, 21)), max_size=12)


@settings(max_examples=150)
@given(dol_entries, st.dictionaries(st.sampled_from(_known), st.binary(max_size=50)))
def test_dol_data_length_is_the_sum_of_the_entries(
    entries: list[tuple[int, int]], data: dict[int, bytes]
) -> None:
    raw = tlv.encode_dol(entries)
    out = dol.build_dol_data(raw, data)
    assert len(out) == sum(length for _, length in entries)
    pos = 0
    for tag, length in entries:
        chunk = out[pos : pos + length]
        pos += length
        value = data.get(tag)
        if value is None:
            assert chunk == bytes(length)
        elif len(value) == length:
            assert chunk == value
        elif dictionary.fmt(tag) is Format.N:
            assert chunk.endswith(value[-length:]) if length else chunk == b""
        else:
            assert chunk.startswith(value[:length])


@settings(max_examples=150)
@given(st.binary(max_size=60), st.dictionaries(st.sampled_from(_known), st.binary(max_size=20)))
def test_garbage_dol_builds_or_raises_tlv_error(raw: bytes, data: dict[int, bytes]) -> None:
    with contextlib.suppress(tlv.TlvError):
        dol.build_dol_data(raw, data)


@settings(max_examples=100)
@given(st.binary(max_size=120))
def test_render_never_fails_and_never_shows_a_pan(raw: bytes) -> None:
    pan = H("5413330089020011")
    text = render_tlv(tlv.encode(0x70, tlv.encode(0x5A, pan)) + raw)
    assert "5413330089020011" not in text


def test_a_dol_asking_for_more_than_a_command_carries_is_refused_before_allocating() -> None:
    # A long-form length (84: four length bytes) asking for 201 MB of zeros.
    with pytest.raises(tlv.TlvError, match="more than a command carries"):
        dol.build_dol_data(b"\x00\x00\x00\x84\x0c\x00\x00\x00", {})
    assert (
        len(dol.build_dol_data(bytes.fromhex("9F0281FF"), {})) == 255
    )  # the most a command carries
