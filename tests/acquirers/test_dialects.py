"""Every message type of every dialect, as the terminal builds it and the host simulator
answers it, decoded by codecs nobody here wrote: py8583 (IsoSpec1987BCD / IsoSpec1987ASCII)
and pyiso8583 with its own `default_ascii` spec; golden byte vectors from the shared vectors
(jPOS Programmer's Guide, pyiso8583 documentation); hypothesis round-trips per dialect.

Where the independent codecs disagree with each other the dialect follows jPOS's packagers
(ISO87BPackager / ISO87APackager), and the test names the difference:
- py8583's IsoSpec1987BCD carries field 97 as 17 ASCII characters; ISO87BPackager (IFB_AMOUNT)
  as the sign byte and 16 digits BCD. py8583 has no such type: 97 is read as 9 raw bytes there.
- py8583 left-pads an odd number of LLVAR BCD digits (field 2); ISO87BPackager right-pads
  (IFB_LLNUM pad=false). The messages compared use even-length PANs; the odd case is a golden
  vector written from the packager's rule.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import iso8583
import iso8583.specs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py8583 import py8583spec
from py8583.py8583 import DT, Iso8583

from acquirers.iso8583 import messages as m
from acquirers.iso8583.codec import Codec, FieldValue, IsoMessage
from acquirers.iso8583.dialect import Dialect, MacRule
from acquirers.iso8583.dialects import DIALECTS, generic87, get_dialect, iso87
from acquirers.iso8583.security import encipher_pin_block
from simulators.host import HostSimulator, IssuerLedger
from simulators.testkeys import load_test_keys
from tests.acquirers.test_codec import _value, _vector

H = bytes.fromhex
KEYS = load_test_keys()
TAK = KEYS.working.tak or b""
MSK = timezone(timedelta(hours=3))
WHEN = datetime(2025, 3, 1, 12, 30, 5, tzinfo=MSK)
# An even-length acquirer id (field 32): see the module docstring.
TERMINAL = m.CardAcceptor("29110001", "1001001", acquirer_id="250001", nii="001")
PAN = "4000001234562000"  # even length: see the module docstring
NAMES = sorted(DIALECTS)
BINARY = ["generic87", "iso87-binary"]


# ---------------------------------------------------------------- the messages
def _card(**kw: Any) -> m.Card:
    base: dict[str, Any] = {
        "pan": PAN,
        "expiry": "3012",
        "sequence": "01",
        "icc_data": H("9F2608A1B2C3D4E5F601029F02060000000150005F340101"),
    }
    return m.Card(**(base | kw))


def _request(stan: str, kind: m.TxnType = m.TxnType.PURCHASE, **kw: Any) -> m.FinancialRequest:
    base: dict[str, Any] = {
        "type": kind,
        "amount": 15000,
        "card": _card(),
        "stan": stan,
        "when": WHEN,
        "batch": "000007",
    }
    return m.FinancialRequest(**(base | kw))


def requests(dialect: Dialect) -> list[tuple[str, IsoMessage]]:
    """One of every request the terminal sends, in an order a host accepts."""
    pin = encipher_pin_block(KEYS.working.tpk or b"", "1234", PAN)
    purchase = m.build_financial(
        _request("000101", card=_card(pin_block=pin), reference="000042"), TERMINAL, dialect
    )
    # Track 2 of an even length: py8583 and jPOS pad an odd one differently.
    swiped = _card(track2=PAN + "=3012101", entry_mode="901")
    cashback = m.build_financial(
        _request("000102", m.TxnType.CASHBACK, amount=20000, cashback=5000, card=swiped),
        TERMINAL,
        dialect,
    )
    refund = m.build_financial(
        _request("000103", m.TxnType.REFUND, original_rrn="503412000042"), TERMINAL, dialect
    )
    advice = m.build_advice(_request("000104", card=_card(track2=None)), TERMINAL, dialect)
    timeout = m.build_reversal(
        purchase, dialect, stan="000105", when=WHEN, reason=m.ReversalReason.TIMEOUT
    )
    void = m.build_reversal(
        cashback, dialect, stan="000106", when=WHEN, reason=m.ReversalReason.CANCEL,
        rrn="503409000123", auth_code="A1B2C3", remaining_amount=5000,
    )  # fmt: skip
    record = m.BatchRecord(
        type=m.TxnType.PURCHASE, amount=15000, pan=PAN, stan="000101", when=WHEN,
        transmission="0301093005", rrn="503409000124", auth_code="123456",
        expiry="3012", sequence="01", reversed_amount=1000,
    )  # fmt: skip
    upload = m.build_batch_upload(
        record, TERMINAL, dialect, stan="000107", when=WHEN, batch="000007"
    )
    totals = m.BatchTotals(1, 15000, 0, 0, 1, 15000, 0, 0)
    recon = {
        name: m.build_reconciliation(
            totals, TERMINAL, dialect, stan=stan, when=WHEN, batch="000007", **kw
        )
        for name, stan, kw in (
            ("0500 92", "000108", {}),
            ("0500 96", "000109", {"closing": True}),
            ("0520", "000110", {"advice": True}),
        )
    }
    # The reconciliation of another currency: 49 and 50 name it.
    dollars = m.build_reconciliation(
        totals, replace(TERMINAL, currency="840"), dialect, stan="000115", when=WHEN,
        batch="000007",
    )  # fmt: skip
    assert dollars.fields[49] == dollars.fields[50] == "840"
    recon["0500 92 in 840"] = dollars
    return [
        ("0200 purchase", purchase),
        ("0200 cashback", cashback),
        ("0200 refund", refund),
        ("0220", advice),
        ("0221", m.as_repeat(advice)),
        ("0400 timeout", timeout),
        ("0401", m.as_repeat(timeout)),
        ("0400 void", void),
        ("0320", upload),
        *recon.items(),
        ("0800 echo", m.build_echo(TERMINAL, dialect, stan="000111", when=WHEN)),
        ("0800 sign-on", m.build_sign_on(TERMINAL, dialect, stan="000112", when=WHEN)),
        ("0800 cutover", m.build_cutover(TERMINAL, dialect, stan="000113", when=WHEN)),
        (
            "0800 key change",
            m.build_key_change(TERMINAL, dialect, key_type="mac", stan="000114", when=WHEN),
        ),
    ]


def exchanges(dialect: Dialect) -> list[tuple[str, bytes]]:
    """The requests' bytes and the host simulator's answers, MACed as sent."""
    sim = HostSimulator(dialect=dialect, ledger=IssuerLedger(open_balance=10_000_000))
    codec = Codec(dialect)
    out = []
    for name, msg in requests(dialect):
        raw = codec.encode(msg, mac_key=TAK)
        out.append((name, raw))
        answer = sim.handle(raw)
        assert answer is not None, name
        out.append((f"{name} answer", answer))
    return out


_EXCHANGES = {name: exchanges(get_dialect(name)) for name in NAMES}


def test_every_message_type_is_exchanged() -> None:
    for name, pairs in _EXCHANGES.items():
        codec = Codec(get_dialect(name))
        mtis = {codec.decode(raw).mti for _, raw in pairs}
        assert mtis >= {
            "0200", "0210", "0220", "0221", "0230", "0400", "0401", "0410", "0320", "0330",
            "0500", "0510", "0520", "0530", "0800", "0810",
        }, name  # fmt: skip
        answers = {label: codec.decode(raw) for label, raw in pairs if label.endswith("answer")}
        # The simulator approved what it was asked: it spoke the dialect.
        assert answers["0200 purchase answer"].fields[39] == "00", name
        assert answers["0320 answer"].fields[39] == "00", name


# ---------------------------------------------------------------- py8583
@contextmanager
def _isolated_py8583() -> Iterator[None]:
    # py8583 keeps its field tables in module- and class-level dicts that a spec's
    # constructor rewrites (IsoSpec1987BCD turns the 999-long fields binary for
    # every spec): each spec is made and used on a private copy.
    tables = copy.deepcopy(py8583spec.ContentTypes)
    types = py8583spec.IsoSpec.DataTypes
    py8583spec.IsoSpec.DataTypes = {}
    try:
        yield
    finally:
        py8583spec.ContentTypes.clear()
        py8583spec.ContentTypes.update(tables)
        py8583spec.IsoSpec.DataTypes = types


def py8583_decode(raw: bytes, binary: bool) -> tuple[str, dict[int, tuple[Any, str]]]:
    """MTI and field -> (value, py8583 content type) as py8583 reads ``raw``."""
    with _isolated_py8583():
        spec = py8583spec.IsoSpec1987BCD() if binary else py8583spec.IsoSpec1987ASCII()
        if binary:
            # No x+n BCD type in py8583: its own spec has 97 as an17 (see the docstring).
            spec.ContentTypes[97] = dict(spec.ContentTypes[97], ContentType="b", MaxLen=9)
            spec.DataType(97, DT.BIN)
        msg = Iso8583(raw, spec)
        bitmap = msg.Bitmap()
        fields = {
            f: (msg.FieldData(f), spec.ContentType(f))
            for f in sorted(bitmap)
            if bitmap[f] and f != 1
        }
        return msg.MTI(), fields


def _py8583_view(value: FieldValue, content_type: str) -> Any:
    """Our decoded value as py8583 presents a field of ``content_type``."""
    if content_type == "n":
        assert isinstance(value, str)
        return int(value)
    if content_type == "b":
        if isinstance(value, str):
            # x+n in BCD (the sign byte, then digits) or text py8583 has as bytes
            # (its BCD spec makes the 999-long private fields binary).
            if value[:1] in ("C", "D") and value[1:].isdigit() and len(value) == 17:
                return value[0].encode().hex().upper() + value[1:]
            return value.encode("ascii").hex().upper()
        return value.hex().upper()
    return value.hex().upper() if isinstance(value, bytes) else value


@pytest.mark.parametrize("name", NAMES)
def test_py8583_decodes_every_message(name: str) -> None:
    dialect = get_dialect(name)
    codec = Codec(dialect)
    binary = dialect.numeric_encoding == "bcd"
    for label, raw in _EXCHANGES[name]:
        ours = codec.decode(raw)
        mti, theirs = py8583_decode(raw, binary)
        assert mti == ours.mti, label
        assert sorted(theirs) == sorted(ours.fields), label
        for number, value in ours.fields.items():
            got, content_type = theirs[number]
            assert got == _py8583_view(value, content_type), (label, number)


# ---------------------------------------------------------------- pyiso8583, its own spec
def test_pyiso8583_default_ascii_decodes_every_iso87_ascii_message() -> None:
    dialect = get_dialect("iso87-ascii")
    codec = Codec(dialect)
    for label, raw in _EXCHANGES["iso87-ascii"]:
        ours = codec.decode(raw)
        doc, _ = iso8583.decode(raw, iso8583.specs.default_ascii)
        assert doc["t"] == ours.mti, label
        numbered = {int(k): v for k, v in doc.items() if k.isdigit() and k != "1"}
        assert sorted(numbered) == sorted(ours.fields), label
        for number, value in ours.fields.items():
            shown = value.hex().upper() if isinstance(value, bytes) else value
            assert numbered[number] == shown, (label, number)


def test_pyiso8583_default_spec_is_none_of_the_binary_dialects() -> None:
    # pyiso8583's `default` spec: binary bitmap, everything else ASCII. A BCD MTI
    # is not an ASCII one: the binary dialects are checked with py8583 instead.
    for name in BINARY:
        raw = _EXCHANGES[name][0][1]
        with pytest.raises(iso8583.DecodeError):
            iso8583.decode(raw, iso8583.specs.default)


# ---------------------------------------------------------------- golden vectors
@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("label", ["1a", "1b"])
def test_jpos_guide_vectors(name: str, label: str) -> None:
    raw, expected = _vector(label)
    codec = Codec(get_dialect(name))
    msg = codec.decode(raw)
    numbered = {int(k): v for k, v in expected.items() if k.isdigit() and k != "1"}
    numbered.update({70: numbered[70][1:]} if 70 in numbered else {})  # n3 BCD: '0301' -> '301'
    assert (msg.mti, msg.fields) == (expected["t"], numbered)
    assert codec.encode(msg) == raw


@pytest.mark.parametrize("label", ["2a", "2b", "2d", "2e"])
def test_pyiso8583_readme_vectors_in_iso87_ascii(label: str) -> None:
    # 2c carries a non-numeric field 2 and 2f/2g other layouts: not ISO87APackager's.
    text = {
        "2a": (b"02004000000000000000101234567890", "0200", {2: "1234567890"}),
        "2b": (b"0210000000000200000005", "0210", {39: "05"}),
        "2d": (b"02008000000000000000000000000400000006111111", "0200", {102: "111111"}),
        "2e": (
            b"02008000080000000000000000000400000005106111111",
            "0200",
            {21: "051", 102: "111111"},
        ),
    }[label]
    raw, mti, fields = text
    codec = Codec(get_dialect("iso87-ascii"))
    assert (codec.decode(raw).mti, codec.decode(raw).fields) == (mti, fields)
    assert codec.encode(IsoMessage(mti, dict(fields))) == raw


def test_odd_pan_and_track2_right_padded_with_0_in_iso87_binary() -> None:
    # IFB_LLNUM(19, pad=false) -> BCDInterpreter.RIGHT_PADDED: length 19 in one BCD byte,
    # then the digits with a 0 nibble after the last one; track 2 alike, '=' as nibble D.
    codec = Codec(get_dialect("iso87-binary"))
    raw = codec.encode(IsoMessage("0200", {2: "4000001234562000123", 35: "4000001234562000=301"}))
    assert raw == H("0200" + "4000000020000000") + H(
        "19" + "40000012345620001230" + "20" + "4000001234562000D301"
    )
    assert codec.decode(raw).fields[2] == "4000001234562000123"


def test_iso87_ascii_binary_fields_and_mac_are_hex_text() -> None:
    # IFA_BINARY(8): the PIN block and the MAC as 16 hex characters; IFA_AMOUNT(17).
    dialect = get_dialect("iso87-ascii")
    codec = Codec(dialect)
    raw = codec.encode(IsoMessage("0200", {11: "000001", 52: H("11E7C600A7E2988B")}), mac_key=TAK)
    msg = codec.decode(raw)
    assert b"11E7C600A7E2988B" in raw and raw[-16:] == msg.binary(64).hex().upper().encode()
    codec.verify_mac(raw, msg, TAK)
    net = codec.encode(IsoMessage("0500", {97: "D0000000000012345"}))
    assert net.endswith(b"D0000000000012345")


# ---------------------------------------------------------------- the message tables
@pytest.mark.parametrize("name", NAMES)
def test_message_tables_use_fields_the_dialect_has(name: str) -> None:
    dialect = get_dialect(name)
    for mti, table in dialect.conventions.messages.items():
        assert set(table) <= set(dialect.fields), mti


# ---------------------------------------------------------------- hypothesis
@st.composite
def _messages(draw: st.DrawFn, dialect: Dialect) -> IsoMessage:
    numbers = draw(st.sets(st.sampled_from(sorted(dialect.fields)), max_size=14))
    fields = {number: draw(_value(dialect.fields[number])) for number in numbers - {64, 128}}
    mti = draw(st.sampled_from(["0200", "0210", "0220", "0400", "0410", "0500", "0800", "0320"]))
    return IsoMessage(mti, fields)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_fields_roundtrip(name: str, data: st.DataObject) -> None:
    dialect = get_dialect(name)
    codec = Codec(dialect)
    msg = data.draw(_messages(dialect))
    raw = codec.encode(msg, mac_key=TAK)
    decoded = codec.decode(raw)
    expected = dict(msg.fields)
    if codec.needs_mac(msg.mti):
        mac_field = dialect.mac_field(set(msg.fields))
        expected[mac_field] = decoded.fields.get(mac_field, b"")
        codec.verify_mac(raw, decoded, TAK)
    assert (decoded.mti, decoded.fields) == (msg.mti, expected)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_iso87_ascii_messages_read_alike_by_pyiso8583(data: st.DataObject) -> None:
    dialect = get_dialect("iso87-ascii")
    spec = iso8583.specs.default_ascii
    # default_ascii allows more in 54 (240 characters; ISO87APackager 120) and
    # less in 55 (510; 999): the values drawn fit both.
    msg = data.draw(_messages(dialect))
    raw = Codec(dialect).encode(msg)
    doc, _ = iso8583.decode(raw, spec)
    for number, value in msg.fields.items():
        shown = value.hex().upper() if isinstance(value, bytes) else value
        assert doc[str(number)] == shown, number


def test_generic87_keeps_to_the_binary_layout() -> None:
    # generic87 is iso87-binary on the wire for every field it has.
    binary = get_dialect("iso87-binary")
    for number in generic87.DIALECT.fields:
        assert generic87.DIALECT.format(number) == binary.format(number), number


# ---------------------------------------------------------------- the README's worked example
def _readme_dialect() -> Dialect:
    # acquirers/iso8583/README.md, "A worked example": pyiso8583's own `default` spec.
    return Dialect(
        name="myhost",
        description="MyHost POS interface v2.3",
        fields=iso87.fields(binary_var_max=255),
        mac=MacRule(mtis=generic87.MAC_MTIS),
        conventions=generic87.CONVENTIONS,
        mti_encoding="ascii",
        bitmap_encoding="binary",
        numeric_encoding="ascii",
        binary_encoding="binary",
        length_encoding="ascii",
    )


def test_readme_worked_example_is_pyiso8583s_default_spec() -> None:
    dialect = _readme_dialect()
    codec = Codec(dialect)
    for name, msg in requests(dialect):
        if 120 in msg:
            continue  # 120 is text in pyiso8583's default spec
        raw = codec.encode(msg, mac_key=TAK)
        doc, _ = iso8583.decode(raw, iso8583.specs.default)
        for number, value in codec.decode(raw).fields.items():
            shown = value.hex().upper() if isinstance(value, bytes) else value
            assert doc[str(number)] == shown, (name, number)
