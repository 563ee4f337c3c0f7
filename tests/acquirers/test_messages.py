"""Typed builders and parsers of the generic87 dialect: what each message carries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquirers.errors import Iso8583Error, KeyCheckError, MessageBuildError
from acquirers.iso8583 import messages as m
from acquirers.iso8583 import response_codes
from acquirers.iso8583.codec import Codec, IsoMessage
from acquirers.iso8583.dialects import generic87, get_dialect
from acquirers.iso8583.security import (
    MasterKeys,
    WorkingKeys,
    encipher_pin_block,
    generate_key,
    kcv,
    wrap_key,
)
from simulators.testkeys import load_test_keys

H = bytes.fromhex
D = generic87.DIALECT
CODEC = Codec(D)
MSK = timezone(timedelta(hours=3))
WHEN = datetime(2025, 3, 1, 12, 30, 5, tzinfo=MSK)
TERMINAL = m.CardAcceptor("29110001", "1001001")
KEYS = load_test_keys()
PAN = "4000001234562000"


def _card(**kw: object) -> m.Card:
    base: dict[str, object] = {
        "pan": PAN,
        "expiry": "2512",
        "sequence": "01",
        "icc_data": H("9F2608A1B2C3D4E5F601029F02060000000150005F340101"),
    }
    base.update(kw)
    return m.Card(**base)  # type: ignore[arg-type]


def _request(kind: m.TxnType = m.TxnType.PURCHASE, **kw: object) -> m.FinancialRequest:
    base: dict[str, object] = {
        "type": kind,
        "amount": 15000,
        "card": _card(),
        "stan": "000123",
        "when": WHEN,
        "batch": "000007",
    }
    base.update(kw)
    return m.FinancialRequest(**base)  # type: ignore[arg-type]


def test_dialect_registry() -> None:
    assert get_dialect("generic87") is D
    with pytest.raises(KeyError, match="generic87"):
        get_dialect("tieto")


@pytest.mark.parametrize(
    ("kind", "extra", "code", "field54"),
    [
        (m.TxnType.PURCHASE, {}, "000000", None),
        (m.TxnType.CASHBACK, {"cashback": 5000}, "090000", "0040643D000000005000"),
        (m.TxnType.REFUND, {"original_rrn": "503412000042"}, "200000", None),
    ],
)
def test_financial_request_fields(
    kind: m.TxnType, extra: dict[str, object], code: str, field54: str | None
) -> None:
    pin_block = encipher_pin_block(KEYS.working.tpk or b"", "1234", PAN)
    req = _request(kind, card=_card(pin_block=pin_block), **extra)
    msg = m.build_financial(req, TERMINAL, D)
    f = msg.fields
    assert msg.mti == "0200"
    assert (f[3], f[4], f[11], f[2], f[14], f[23], f[22]) == (
        code,
        "000000015000",
        "000123",
        PAN,
        "2512",
        "001",
        "051",
    )
    assert (f[7], f[12], f[13]) == ("0301093005", "123005", "0301")  # 7 in UTC, 12/13 local
    assert (f[41], f[42], f[49], f[60]) == ("29110001", "1001001        ", "643", "000007")
    assert f[52] == pin_block and f[55] == req.card.icc_data
    assert f.get(54) == field54
    assert f.get(37) == extra.get("original_rrn")
    decoded = CODEC.decode(CODEC.encode(msg, mac_key=KEYS.working.tak))
    assert {k: v for k, v in decoded.fields.items() if k != 64} == f


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"amount": 0}, "amount out of range"),
        ({"amount": 10**12}, "amount out of range"),
        ({"amount": 1.5}, "integer"),
        ({"stan": "12345"}, "STAN"),
        ({"cashback": 100}, "cashback only"),
        ({"original_rrn": "123"}, "12 characters"),
        ({"batch": "1"}, "batch"),
    ],
)
def test_financial_request_validation(kw: dict[str, object], match: str) -> None:
    with pytest.raises(MessageBuildError, match=match):
        _request(**kw)


def test_cashback_validation() -> None:
    with pytest.raises(MessageBuildError, match="exceeds"):
        _request(m.TxnType.CASHBACK, cashback=20000)
    with pytest.raises(MessageBuildError, match="cashback amount"):
        _request(m.TxnType.CASHBACK)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"pan": "4000"}, "PAN"),
        ({"pan": "400000123456200A"}, "PAN"),
        ({"expiry": "251"}, "expiry"),
        ({"sequence": "0001"}, "sequence"),
        ({"track2": "4000=25X"}, "track 2"),
        ({"pin_block": b"1234"}, "8 bytes"),
        ({"entry_mode": "51"}, "entry mode"),
    ],
)
def test_card_validation(kw: dict[str, object], match: str) -> None:
    with pytest.raises(MessageBuildError, match=match):
        _card(**kw)


def test_card_repr_masks_pan_and_luhn() -> None:
    card = _card(pin_block=bytes(8))
    assert PAN not in repr(card) and "400000******2000" in repr(card)
    assert m.Card("4000001234562000").luhn_valid is False
    assert m.Card("4111111111111111").luhn_valid is True


def test_advice_carries_offline_code_and_no_secrets() -> None:
    req = _request(card=_card(pin_block=bytes(8), track2=PAN + "=2512"))
    advice = m.build_advice(req, TERMINAL, D, auth_code="Y1")
    assert advice.mti == "0220" and advice.fields[39] == "Y1" and advice.fields[38] == "Y1    "
    assert 52 not in advice and 35 not in advice and advice.fields[55] == req.card.icc_data
    assert m.build_advice(req, TERMINAL, D, unable_online=True).fields[39] == "Y3"
    assert m.as_repeat(advice).mti == "0221"


def test_reversal_carries_original_data_elements() -> None:
    original = m.build_financial(_request(card=_card(pin_block=bytes(8))), TERMINAL, D)
    later = WHEN + timedelta(seconds=40)
    rev = m.build_reversal(
        original,
        D,
        stan="000124",
        when=later,
        reason=m.ReversalReason.TIMEOUT,
    )
    f = rev.fields
    assert rev.mti == "0400" and f[11] == "000124" and f[39] == "68"
    assert f[90] == "0200" + "000123" + "0301093005" + "0" * 22
    assert m.parse_original_data(f[90]) == ("0200", "000123", "0301093005")  # type: ignore[arg-type]
    assert f[7] == "0301093045" and f[4] == "000000015000" and f[3] == "000000"
    assert 52 not in rev and 35 not in rev and 37 not in rev
    repeat = m.as_repeat(rev)
    assert repeat.mti == "0401" and repeat.fields == rev.fields
    with pytest.raises(MessageBuildError):
        m.as_repeat(IsoMessage("0210", {}))
    raw = CODEC.encode(repeat, mac_key=KEYS.working.tak)
    assert 128 in CODEC.decode(raw)  # field 90 forces the secondary bitmap


def test_void_reversal_with_host_data_and_partial_amount() -> None:
    original = m.build_financial(_request(), TERMINAL, D)
    rev = m.build_reversal(
        original,
        D,
        stan="000200",
        when=WHEN,
        reason=m.ReversalReason.CANCEL,
        rrn="503409000123",
        auth_code="A1B2C3",
        remaining_amount=5000,
    )
    assert rev.fields[37] == "503409000123" and rev.fields[38] == "A1B2C3"
    assert rev.fields[39] == "17" and rev.fields[95] == "000000005000" + "0" * 12 + "D00000000" * 2
    with pytest.raises(MessageBuildError, match="below"):
        m.build_reversal(
            original,
            D,
            stan="000201",
            when=WHEN,
            reason=m.ReversalReason.CANCEL,
            remaining_amount=15000,
        )


def test_reversal_from_track2_only_original() -> None:
    original = IsoMessage(
        "0200",
        {3: "000000", 4: "000000000100", 7: "0301093005", 11: "000001", 35: PAN + "=2512101"},
    )
    rev = m.build_reversal(
        original, D, stan="000002", when=WHEN, reason=m.ReversalReason.MALFUNCTION
    )
    assert rev.fields[2] == PAN and 35 not in rev and rev.fields[39] == "22"
    with pytest.raises(MessageBuildError, match="incomplete"):
        m.build_reversal(
            IsoMessage("0200", {2: PAN}),
            D,
            stan="000002",
            when=WHEN,
            reason=m.ReversalReason.TIMEOUT,
        )
    with pytest.raises(MessageBuildError, match="cannot reverse"):
        m.build_reversal(
            IsoMessage("0800", {}), D, stan="000002", when=WHEN, reason=m.ReversalReason.TIMEOUT
        )


def test_financial_response_parse() -> None:
    msg = IsoMessage(
        "0210",
        {
            39: "00",
            38: "A1B2C3",
            37: "503409000123",
            55: H("910A1122334455667788303072"),
            54: "0002643C000000100000",
        },
    )
    resp = m.FinancialResponse.from_message(msg, D)
    assert resp.approved and resp.auth_code == "A1B2C3" and resp.rrn == "503409000123"
    assert resp.additional_amounts == [("00", "02", "643", 100000)]
    assert resp.description_ru == "Одобрено" and resp.description_en == "Approved"
    declined = m.FinancialResponse.from_message(IsoMessage("0210", {39: "51", 38: "      "}), D)
    assert not declined.approved and declined.auth_code is None
    assert declined.description_en == "Insufficient funds"
    with pytest.raises(Iso8583Error):
        m.FinancialResponse.from_message(IsoMessage("0210", {}), D)
    with pytest.raises(Iso8583Error):
        m.FinancialResponse.from_message(IsoMessage("0410", {39: "00"}), D)


@pytest.mark.parametrize(
    ("code", "outcome", "approved"),
    [
        ("00", response_codes.Outcome.APPROVED, True),
        ("Y1", response_codes.Outcome.APPROVED, True),
        ("05", response_codes.Outcome.DECLINED, False),
        ("55", response_codes.Outcome.DECLINED, False),
        ("91", response_codes.Outcome.RETRY, False),
        ("95", response_codes.Outcome.RECONCILE, False),
        ("Q9", response_codes.Outcome.DECLINED, False),
    ],
)
def test_response_code_table(code: str, outcome: response_codes.Outcome, approved: bool) -> None:
    entry = response_codes.lookup(code)
    assert (entry.outcome, entry.approved) == (outcome, approved)
    assert entry.ru and entry.en


def test_response_code_table_is_complete() -> None:
    table = response_codes.table()
    assert len(table) >= 50
    for code, entry in table.items():
        assert len(code) == 2 and entry.code == code
        assert any("а" <= c <= "я" for c in entry.ru.lower()), code


def test_additional_amounts_parse_errors() -> None:
    with pytest.raises(Iso8583Error):
        m.parse_additional_amounts("0040643D00000000500")
    with pytest.raises(Iso8583Error):
        m.parse_additional_amounts("0040643X000000005000")


# ---------------------------------------------------------------- network management
@pytest.mark.parametrize(
    ("builder", "code"),
    [(m.build_echo, "301"), (m.build_sign_on, "001"), (m.build_cutover, "201")],
)
def test_network_messages(builder: object, code: str) -> None:
    msg = builder(TERMINAL, D, stan="000001", when=WHEN)  # type: ignore[operator]
    assert msg.mti == "0800" and msg.fields[70] == code and msg.fields[11] == "000001"
    assert CODEC.decode(CODEC.encode(msg)).fields == msg.fields
    # A plain 0800 names no currency (a terminal of one currency sends these).
    assert 49 not in msg.fields and 50 not in msg.fields


def test_a_cutover_asks_for_totals_in_a_currency_where_the_dialect_can() -> None:
    dollars = m.build_cutover(TERMINAL, D, stan="000002", when=WHEN, currency="840")
    assert dollars.fields[50] == "840" and 49 not in dollars.fields
    assert CODEC.decode(CODEC.encode(dollars)).fields == dollars.fields
    silent = replace(D, conventions=replace(D.conventions, settlement_currency_field=None))
    bare = m.build_cutover(TERMINAL, silent, stan="000003", when=WHEN, currency="840")
    assert 50 not in bare.fields and 49 not in bare.fields


def test_key_change_request_and_answer() -> None:
    msg = m.build_key_change(TERMINAL, D, key_type="mac", stan="000009", when=WHEN)
    assert msg.fields[70] == "161" and msg.fields[53] == "0200000000000000"
    with pytest.raises(MessageBuildError):
        m.build_key_change(TERMINAL, D, key_type="data", stan="000009", when=WHEN)
    new = generate_key()
    cryptogram, check = wrap_key(KEYS.master.mac, new)
    answer = IsoMessage(
        "0810", {39: "00", 53: "0200000000000000", 120: cryptogram + check, 37: "503412000009"}
    )
    parsed = m.KeyExchangeResponse.from_message(answer, D)
    assert parsed.key_type == "mac" and parsed.rrn == "503412000009"
    assert parsed.unwrap(KEYS.master) == new
    assert new.hex() not in repr(parsed).lower()
    wrong = IsoMessage("0810", {39: "00", 53: "0200000000000000", 120: cryptogram + b"\0\0\0"})
    with pytest.raises(KeyCheckError):
        m.KeyExchangeResponse.from_message(wrong, D).unwrap(KEYS.master)
    other_master = MasterKeys(pin=KEYS.master.pin, mac=KEYS.master.pin)
    with pytest.raises(KeyCheckError):
        parsed.unwrap(other_master)
    with pytest.raises(Iso8583Error, match="usable key"):
        m.KeyExchangeResponse.from_message(IsoMessage("0810", {39: "00", 53: "02"}), D)


def test_key_objects_never_show_keys() -> None:
    text = repr(KEYS) + repr(KEYS.working) + repr(KEYS.master)
    for key in (KEYS.master.pin, KEYS.master.mac, KEYS.working.tpk, KEYS.working.tak):
        assert key is not None and key.hex().upper() not in text
        assert kcv(key).hex().upper() in text
    assert WorkingKeys().replace("pin", KEYS.master.pin).tpk == KEYS.master.pin
    with pytest.raises(MessageBuildError):
        WorkingKeys(tak=b"short")


# ---------------------------------------------------------------- reconciliation
def _record(
    kind: m.TxnType, amount: int, reversed_amount: int = 0, stan: str = "000001"
) -> m.BatchRecord:
    return m.BatchRecord(
        type=kind,
        amount=amount,
        pan=PAN,
        stan=stan,
        when=WHEN,
        transmission="0301093005",
        rrn="503409" + stan,
        auth_code="AB12CD",
        cashback=1000 if kind is m.TxnType.CASHBACK else 0,
        reversed_amount=reversed_amount,
    )


RECORDS = [
    _record(m.TxnType.PURCHASE, 10000),
    _record(m.TxnType.CASHBACK, 6000),
    _record(m.TxnType.PURCHASE, 2500, reversed_amount=2500),
    _record(m.TxnType.PURCHASE, 4000, reversed_amount=1000),
    _record(m.TxnType.REFUND, 3000),
    _record(m.TxnType.REFUND, 700, reversed_amount=700),
]


def test_batch_totals_hand_computed() -> None:
    totals = m.BatchTotals.of(RECORDS)
    assert totals == m.BatchTotals(
        debit_count=4,
        debit_amount=22500,
        debit_reversal_count=2,
        debit_reversal_amount=3500,
        credit_count=2,
        credit_amount=3700,
        credit_reversal_count=1,
        credit_reversal_amount=700,
    )
    assert totals.net == 22500 - 3500 - 3700 + 700
    assert totals.count == 6


def test_reconciliation_message_and_totals_roundtrip() -> None:
    totals = m.BatchTotals.of(RECORDS)
    msg = m.build_reconciliation(totals, TERMINAL, D, stan="000300", when=WHEN, batch="000007")
    f = msg.fields
    assert msg.mti == "0500" and f[3] == "920000" and f[60] == "000007"
    assert (f[76], f[88], f[77], f[89]) == (
        "0000000004",
        "0000000000022500",
        "0000000002",
        "0000000000003500",
    )
    assert (f[74], f[86], f[75], f[87]) == (
        "0000000002",
        "0000000000003700",
        "0000000001",
        "0000000000000700",
    )
    assert f[97] == "D0000000000016000"
    closing = m.build_reconciliation(
        totals, TERMINAL, D, stan="000301", when=WHEN, batch="000007", closing=True
    )
    assert closing.fields[3] == "960000"
    decoded = CODEC.decode(CODEC.encode(msg, mac_key=KEYS.working.tak))
    assert m.BatchTotals.from_message(decoded, D) == totals
    negative = m.BatchTotals(credit_count=1, credit_amount=500)
    assert negative.to_fields(D)[97] == "C0000000000000500"


def test_reconciliation_response() -> None:
    totals = m.BatchTotals.of(RECORDS)
    fields: dict[int, str | bytes] = {39: "95", 37: "503412000300", 38: "ST0001"}
    fields.update(totals.to_fields(D))
    resp = m.ReconciliationResponse.from_message(IsoMessage("0510", fields), D)
    assert resp.out_of_balance and not resp.in_balance and resp.host_totals == totals
    assert resp.approval_code == "ST0001"
    fields[97] = "C0000000000016000"
    with pytest.raises(Iso8583Error, match="disagrees"):
        m.ReconciliationResponse.from_message(IsoMessage("0510", fields), D)
    bare = m.ReconciliationResponse.from_message(IsoMessage("0510", {39: "00"}), D)
    assert bare.in_balance and bare.host_totals is None


def test_batch_upload_roundtrip() -> None:
    for record in RECORDS:
        msg = m.build_batch_upload(record, TERMINAL, D, stan="000400", when=WHEN, batch="000007")
        assert msg.mti == "0320" and msg.fields[90][:10] == "0200000001"  # type: ignore[index]
        assert (95 in msg) is bool(record.reversed_amount)
        decoded = CODEC.decode(CODEC.encode(msg, mac_key=KEYS.working.tak))
        back = m.batch_record_from_upload(decoded, D, year=2025)
        assert (
            back.type,
            back.amount,
            back.reversed_amount,
            back.stan,
            back.rrn,
            back.cashback,
        ) == (
            record.type,
            record.amount,
            record.reversed_amount,
            record.stan,
            record.rrn,
            record.cashback,
        )
        assert back.when == WHEN.replace(tzinfo=None)
    assert m.BatchTotals.of(
        m.batch_record_from_upload(
            m.build_batch_upload(r, TERMINAL, D, stan="000400", when=WHEN, batch="000007"),
            D,
            year=2025,
        )
        for r in RECORDS
    ) == m.BatchTotals.of(RECORDS)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(m.TxnType)),
            st.integers(1, 10**9),
            st.integers(0, 100),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_totals_survive_the_wire(rows: list[tuple[m.TxnType, int, int, bool]]) -> None:
    records = [
        _record(kind, amount, amount * pct // 100 if rev else 0) for kind, amount, pct, rev in rows
    ]
    totals = m.BatchTotals.of(records)
    msg = m.build_reconciliation(totals, TERMINAL, D, stan="000001", when=WHEN, batch="000001")
    assert m.BatchTotals.from_message(CODEC.decode(CODEC.encode(msg)), D) == totals


def test_transmission_time_is_utc() -> None:
    naive_utc = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    msg = m.build_echo(TERMINAL, D, stan="000001", when=naive_utc.astimezone(MSK))
    assert msg.fields[7] == "1231235959"
