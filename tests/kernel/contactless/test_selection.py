"""Combination selection (Book B 3.3.2): PPSE parsing, requested kernel, candidate order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base import tlv
from kernel.contactless import KERNEL_2, KERNEL_3, KERNEL_MIR, ContactlessAid, Indicators
from kernel.contactless.entry import build_candidates, parse_ppse, requested_kernel_id
from tests.kernel.contactless.helpers import H

VISA, VISA_ELECTRON, MC, MIR = (
    H("A0000000031010"),
    H("A0000000032010"),
    H("A0000000041010"),
    H("A0000006581010"),
)


def entry(aid: bytes, *, kernel: bytes | None = None, priority: int | None = None) -> bytes:
    body = tlv.encode(0x4F, aid)
    if priority is not None:
        body += tlv.encode(0x87, bytes([priority]))
    if kernel is not None:
        body += tlv.encode(0x9F2A, kernel)
    return tlv.encode(0x61, body)


def ppse(*entries: bytes) -> bytes:
    name = tlv.encode(0x84, b"2PAY.SYS.DDF01")
    return tlv.encode(0x6F, name + tlv.encode(0xA5, tlv.encode(0xBF0C, b"".join(entries))))


@pytest.mark.parametrize(
    ("identifier", "aid", "requested"),
    [
        (None, VISA, "03"),  # Table 3-6 defaults by RID
        (None, MC, "02"),
        (b"", MC, "02"),
        (None, MIR, "00"),  # no default: any kernel for the AID
        (H("03"), MC, "03"),  # b8b7 00: one byte
        (H("42"), VISA, "42"),  # b8b7 01: one byte
        (H("C10643"), MIR, "C10643"),  # b8b7 11: three bytes
        (H("8106430000"), MIR, "810643"),
        (H("C106"), MIR, None),  # too short: skip the entry
        (H("C00643"), MIR, "C00643"),  # short kernel id 0: out of scope, taken as is
    ],
)
def test_requested_kernel_id(identifier: bytes | None, aid: bytes, requested: str | None) -> None:
    got = requested_kernel_id(identifier, aid)
    assert (got.hex().upper() if got is not None else None) == requested


def combos(*items: ContactlessAid) -> list[tuple[ContactlessAid, Indicators]]:
    return [(c, Indicators()) for c in items]


def test_candidates_by_priority_then_ppse_order() -> None:
    entries = parse_ppse(
        ppse(
            entry(VISA, kernel=KERNEL_3, priority=2),
            entry(MC, kernel=KERNEL_2),
            entry(VISA_ELECTRON, kernel=KERNEL_3, priority=1),
            entry(MIR, kernel=KERNEL_MIR, priority=0),
        )
    )
    got = build_candidates(
        entries,
        combos(
            ContactlessAid(MC, KERNEL_2),
            ContactlessAid(H("A000000003"), KERNEL_3),  # partial match for both Visa AIDs
            ContactlessAid(MIR, KERNEL_MIR),
        ),
    )
    assert [c.adf_name for c in got] == [VISA_ELECTRON, VISA, MC, MIR]
    assert [c.priority for c in got] == [1, 2, None, None]


def test_entries_that_do_not_match_are_skipped() -> None:
    entries = parse_ppse(
        ppse(
            entry(VISA, kernel=KERNEL_2),  # kernel not the combination's
            entry(H("A000000003"), kernel=KERNEL_3),  # ADF name shorter than the AID
            entry(H("A0000000"), kernel=KERNEL_3),  # not a valid ADF name
            entry(MIR, kernel=H("C106")),  # malformed kernel id
            entry(MIR, kernel=KERNEL_MIR),
        )
    )
    got = build_candidates(
        entries,
        combos(
            ContactlessAid(VISA, KERNEL_3),
            ContactlessAid(MIR, KERNEL_MIR),
            ContactlessAid(VISA, KERNEL_3, partial_selection=False),
        ),
    )
    assert [(c.adf_name, c.kernel_id) for c in got] == [(MIR, KERNEL_MIR)]


def test_not_allowed_combinations_make_no_candidate() -> None:
    entries = parse_ppse(ppse(entry(VISA, kernel=KERNEL_3)))
    combination = ContactlessAid(VISA, KERNEL_3)
    assert build_candidates(entries, [(combination, Indicators(not_allowed=True))]) == []
    assert len(build_candidates(entries, [(combination, Indicators())])) == 1


def test_extended_selection_is_appended_only_when_supported() -> None:
    raw = tlv.encode(0x61, tlv.encode(0x4F, VISA) + tlv.encode(0x9F29, H("0102")))
    entries = parse_ppse(ppse(raw))
    (plain,) = build_candidates(entries, combos(ContactlessAid(VISA, KERNEL_3)))
    assert plain.select_name == VISA
    (ext,) = build_candidates(
        entries, combos(ContactlessAid(VISA, KERNEL_3, extended_selection=True))
    )
    assert ext.select_name == VISA + H("0102")


@pytest.mark.parametrize(
    "fci",
    [
        b"",
        H("6F00"),
        H("6F03840100"),  # no A5
        H("6F04A5028801"),  # no BF0C
        H("6F05A503BF0C00"),  # no entries
        H("7003500141"),
        H("6F81"),
    ],
)
def test_ppse_without_entries(fci: bytes) -> None:
    assert parse_ppse(fci) == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_ppse_garbage_parses_or_yields_nothing(data: bytes) -> None:
    entries = parse_ppse(data)
    assert isinstance(entries, list)
    for item in entries:
        assert all(isinstance(k, int) and isinstance(v, bytes) for k, v in item.items())
    build_candidates(entries, combos(ContactlessAid(VISA, KERNEL_3)))
