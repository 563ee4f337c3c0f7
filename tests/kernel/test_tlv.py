"""BER-TLV (EMV Book 3 Annex B): case table, strict errors, hypothesis round-trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base import tlv

H = bytes.fromhex


@pytest.mark.parametrize(
    ("hexdata", "expected"),
    [
        ("5A081234560012345608", [(0x5A, "1234560012345608")]),
        ("9F0206000000001000", [(0x9F02, "000000001000")]),
        ("DF811E0110", [(0xDF811E, "10")]),
        ("00009F360200FF FF8200", [(0x9F36, "00FF"), (0x82, "")]),
        ("5F2A020643", [(0x5F2A, "0643")]),
        ("5A0112 5A0134", [(0x5A, "12"), (0x5A, "34")]),
        ("9F4681" + "80" + "AB" * 128, [(0x9F46, "AB" * 128)]),
        ("9F46820100" + "CD" * 256, [(0x9F46, "CD" * 256)]),
    ],
)
def test_decode_cases(hexdata: str, expected: list[tuple[int, str]]) -> None:
    data = H(hexdata.replace(" ", ""))
    assert [(o.tag, o.value.hex().upper()) for o in tlv.decode(data)] == expected
    for tag, value in expected:
        if len(H(value)) < 128:
            assert tlv.encode(tag, H(value)) in data


def test_constructed_templates() -> None:
    fci = H("6F1A840E315041592E5359532E4444463031A5088801015F2D02656E")
    (top,) = tlv.decode(fci)
    assert top.tag == 0x6F and top.constructed
    assert [o.tag for o in top.children()] == [0x84, 0xA5]
    assert [o.tag for o in tlv.iter_primitives(fci)] == [0x84, 0x88, 0x5F2D]
    assert tlv.find(fci, 0x88) == H("01")
    assert tlv.find(fci, 0x9F38) is None
    with pytest.raises(tlv.TlvError):
        tlv.decode(H("5A0112"))[0].children()


@pytest.mark.parametrize(
    ("hexdata", "offset"),
    [
        ("5A", 1),  # no length
        ("5A0512", 0),  # value too short
        ("9F", 0),  # truncated multi-byte tag
        ("9F0281", 2),  # truncated long length
        ("9F0280", 2),  # indefinite length is not BER-TLV in EMV
        ("9F0285" + "00" * 5, 2),  # length of more than 4 bytes
        ("9F8181818101", 0),  # five-byte tag
        ("5A0112 9F02", 5),  # second object has no length
    ],
)
def test_decode_errors_name_offset(hexdata: str, offset: int) -> None:
    with pytest.raises(tlv.TlvError) as info:
        tlv.decode(H(hexdata.replace(" ", "")))
    assert info.value.offset == offset


def test_dol() -> None:
    cdol1 = H("9F02069F03069F1A0295055F2A029A039C019F37049F3501")
    entries = tlv.decode_dol(cdol1)
    assert entries[0] == (0x9F02, 6)
    assert entries[-1] == (0x9F35, 1)
    assert tlv.encode_dol(entries) == cdol1


def test_tag_hex() -> None:
    assert tlv.tag_hex(0x5A) == "5A"
    assert tlv.tag_hex(0x9F02) == "9F02"
    assert tlv.tag_hex(0xDF8112) == "DF8112"


@pytest.mark.parametrize("tag", [0x1F, 0x9F80, 0x5F1F81, -1, 0x9F818181FF])
def test_encode_rejects_malformed_tags(tag: int) -> None:
    with pytest.raises(ValueError):
        tlv.encode_tag(tag)


def _tags() -> st.SearchStrategy[int]:
    one = st.integers(0x01, 0xFE).filter(lambda b: b & 0x1F != 0x1F)
    two = st.tuples(st.integers(0, 7), st.integers(0x00, 0x7F)).map(
        lambda t: ((t[0] << 5 | 0x1F) << 8) | t[1]
    )
    three = st.tuples(st.integers(0, 7), st.integers(0x80, 0xFF), st.integers(0x00, 0x7F)).map(
        lambda t: ((((t[0] << 5) | 0x1F) << 8 | t[1]) << 8) | t[2]
    )
    return st.one_of(one, two, three).filter(lambda t: t.to_bytes(4, "big").lstrip(b"\0")[0] != 0)


@given(st.lists(st.tuples(_tags(), st.binary(max_size=300)), max_size=8))
def test_roundtrip(objects: list[tuple[int, bytes]]) -> None:
    objects = [(t, v) for t, v in objects if tlv.encode_tag(t)[0] not in (0x00, 0xFF)]
    data = b"".join(tlv.encode(t, v) for t, v in objects)
    assert [(o.tag, o.value) for o in tlv.decode(data)] == objects


@given(st.binary(max_size=200))
def test_garbage_decodes_or_raises_tlv_error(data: bytes) -> None:
    try:
        tlv.decode(data)
        list(tlv.iter_primitives(data))
    except tlv.TlvError:
        pass
