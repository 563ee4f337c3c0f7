"""Reader slot assignment (hal.readerselect) with the default patterns of
the configuration, against the real PC/SC names of common readers
(tests/hal/reader_names.py)."""

from __future__ import annotations

import pytest

from cardcore.config import ReadersConfig
from cardcore.devices import slot_patterns
from hal.readerselect import ReaderRole, ReaderSelector, SlotPatterns, assign_readers
from tests.hal.reader_names import DESK, NAMES, ReaderName, models

DEFAULTS = slot_patterns(ReadersConfig())
INTERFACES = (ReaderRole.CONTACT, ReaderRole.CONTACTLESS)


def expected(row: ReaderName) -> ReaderRole:
    return row.default or row.slot


@pytest.mark.parametrize("row", NAMES, ids=lambda row: row.name)
def test_each_reader_alone_gets_its_slot(row: ReaderName) -> None:
    got = assign_readers([row.name], DEFAULTS)
    assert got.roles[row.name].role is expected(row)
    if expected(row) is ReaderRole.CONTACT:
        assert (got.contact, got.contactless) == (row.name, None)
    elif expected(row) is ReaderRole.CONTACTLESS:
        assert (got.contact, got.contactless) == (None, row.name)
    else:
        assert (got.contact, got.contactless) == (None, None)


@pytest.mark.parametrize(("model", "rows"), sorted(models().items()), ids=lambda x: str(x))
def test_each_reader_with_all_its_slots(model: str, rows: list[ReaderName]) -> None:
    names = [row.name for row in rows]
    got = assign_readers(names, DEFAULTS)
    taken: set[ReaderRole] = set()
    for row in rows:
        want = expected(row)
        if want in INTERFACES and want in taken:
            want = ReaderRole.SPARE  # the interface took an earlier slot of the same kind
        taken.add(want)
        assert got.roles[row.name].role is want, row.name
    first = {expected(row): row.name for row in reversed(rows)}
    assert got.contact == first.get(ReaderRole.CONTACT)
    assert got.contactless == first.get(ReaderRole.CONTACTLESS)


def test_a_desk_of_two_readers() -> None:
    got = assign_readers(DESK, DEFAULTS)
    assert got.contact == "Gemalto PC Twin Reader (69988A87) 02 00"
    assert got.contactless is not None and "[OMNIKEY 5422CL Smartcard Reader]" in got.contactless
    assert got.roles[DESK[1]].role is ReaderRole.SPARE
    assert got.roles[DESK[1]].spare_for is ReaderRole.CONTACT
    assert got.roles[DESK[0]].pattern == "*"


def test_the_5422_contactless_slot_no_longer_goes_to_contact() -> None:
    """The defaults before: '*PICC*', '*Contactless*', '*-CL*', '* CL *'."""
    before = SlotPatterns(("*",), ("*PICC*", "*Contactless*", "*-CL*", "* CL *"), ("*SAM*",))
    five = [n for n in DESK if "5422" in n][::-1]  # as pcscd lists one 5422 alone
    assert assign_readers(five, before).contact == five[0]  # the CL slot: the bug
    now = assign_readers(five, DEFAULTS)
    assert now.contactless == five[0] and now.contact == five[1]


def test_every_row_is_a_pcsc_name() -> None:
    for row in NAMES:
        assert row.source in ("seen", "built")
        assert row.name[-6:-3].strip().isalnum() and row.name[-2:].isalnum(), row.name
        assert row.name == row.name.strip()


def test_patterns_and_exclusions() -> None:
    patterns = SlotPatterns(("Gemalto*", "*"), ("*PICC*",), ("*SAM*",), ("*Yubikey*",))
    names = ["Yubico Yubikey 4 01 00", "ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 01 00"]
    got = assign_readers(names, patterns)
    assert got.roles[names[0]].role is ReaderRole.EXCLUDED
    assert got.roles[names[0]].pattern == "*Yubikey*"
    assert got.roles[names[1]].role is ReaderRole.SAM
    assert got.contact is None and got.contactless is None
    lone = assign_readers(["Foo 00 00"], SlotPatterns(("Gemalto*",), ("*PICC*",)))
    assert lone.roles["Foo 00 00"].role is ReaderRole.UNMATCHED
    assert ReaderSelector(("b*", "*"), ("*x*",)).match(["ax", "a", "b"]) == ("b", "b*")


def test_a_whole_name_with_brackets_matches_itself() -> None:
    name = DESK[2]
    assert "[" in name
    got = assign_readers(list(DESK), SlotPatterns(("*",), (name,)))
    assert got.contactless == name and got.roles[name].pattern == name
    assert ReaderSelector(("*[[]OMNIKEY 5422CL*",)).choose(DESK) == name
