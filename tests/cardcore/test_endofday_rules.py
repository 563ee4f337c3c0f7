"""End-of-day building blocks without a network: the counting rules (case tables,
and a property test of the journal's aggregates against a row-by-row reference and
the streamed upload records), the X-report line layout, streamed answers and their
sealing, the settlement state table and the journal's settlement records."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquirers.iso8583 import response_codes
from acquirers.iso8583.codec import IsoMessage
from acquirers.iso8583.dialects.generic87 import CONVENTIONS as CONV
from acquirers.iso8583.messages import BatchTotals, NetworkResponse, TxnType
from cardcore.endofday import totals as rules
from cardcore.endofday.clear import host_amounts
from cardcore.endofday.report import write_lines
from cardcore.endofday.states import (
    TRANSITIONS,
    IllegalSettlementTransition,
    SettlementEvent,
    SettlementState,
    next_state,
)
from cardcore.journal import Journal, JournalError, PanProtector, TxnRecord
from cardcore.protocol.secure import seal, seal_stream, unseal
from cardcore.protocol.xmlcodec import XmlWriter, decode_message, encode_body

PAN = "4761739001010010"
WHEN = dt.datetime(2026, 11, 28, 12, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=3)))


def approved(code: str) -> bool:
    return response_codes.lookup(code).approved


def open_journal(path: Path | str) -> Journal:
    return Journal(Path(path), PanProtector(b"h" * 32, b"k" * 32))


def row(
    operation: str = "purchase",
    amount: int = 1000,
    *,
    channel: str = "card",
    receipt_type: str | None = None,
    tstatus: str | None = "approved",
    state: str | None = None,
    resp_code: str | None = "00",
    reversed_amount: int = 0,
    currency: str = "643",
    rid: str | None = "A000000003",
    name: str | None = "VISA",
    other: int = 0,
    stan: str = "000001",
    when: dt.datetime = WHEN,
) -> TxnRecord:
    if receipt_type is None:
        receipt_type = "refund" if operation == "refund" else "purchase"
    if state is None:
        state = "approved" if tstatus == "approved" else "declined"
    return TxnRecord(
        channel=channel,
        operation=operation,
        receipt_type=receipt_type,
        state=state,
        tstatus=tstatus,
        amount=amount,
        amount_other=other,
        currency=currency,
        scheme_rid=rid if channel == "card" else None,
        scheme_name=name if channel == "card" else None,
        aid=(rid + "1010") if rid and channel == "card" else None,
        resp_code=resp_code,
        reversed_amount=reversed_amount,
        stan=stan,
        rrn="633218000001",
        auth_code="123456",
        expiry="301231",
        datetime=when.isoformat(timespec="seconds"),
    )


# ---------------------------------------------------------------- case tables
@pytest.mark.parametrize(
    ("operation", "receipt_type", "category"),
    [
        ("purchase", "purchase", "purchase"),
        ("purchase-with-cashback", "purchase", "purchase-with-cashback"),
        ("refund", "refund", "refund"),
        ("void", "purchasereversal", "purchase-reversal"),
        ("void", "refundreversal", "refund-reversal"),
        ("purchase", "something-else", None),
    ],
)
def test_report_category(operation: str, receipt_type: str, category: str | None) -> None:
    assert rules.report_category(operation, receipt_type) == category


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "D000000000000"), (1, "D000000000001"), (-1, "C000000000001"),
     (123456789012, "D123456789012"), (-5000, "C000000005000")],
)  # fmt: skip
def test_signed_amount(value: int, text: str) -> None:
    assert rules.signed_amount(value) == text


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, (TxnType.PURCHASE, False)),
        ({"operation": "purchase-with-cashback"}, (TxnType.CASHBACK, False)),
        ({"operation": "refund"}, (TxnType.REFUND, False)),
        ({"operation": "void", "receipt_type": "purchasereversal"}, None),  # on the original
        ({"channel": "sbp"}, None),  # the SBP agent settles these
        ({"tstatus": "declined", "resp_code": "05"}, None),
        # host approved, then the terminal reversed it: booked and wholly reversed
        ({"tstatus": "declined", "state": "cancelled"}, (TxnType.PURCHASE, True)),
        # no answer, reversed: the terminal cannot know; not counted
        ({"tstatus": "declined", "state": "cancelled", "resp_code": None}, None),
        ({"tstatus": "approved", "resp_code": "Y1"}, (TxnType.PURCHASE, False)),  # advice
    ],
)
def test_host_view(kwargs: dict[str, Any], expected: tuple[TxnType, bool] | None) -> None:
    r = row(**kwargs)
    found = rules.host_type(r.channel, r.operation, r.tstatus, r.state, r.resp_code, approved)
    assert found == expected


def test_batch_record_of_a_row() -> None:
    # An offline approval as the engine records it: no host answer (no
    # response code), the advice named as the original message.
    r = row("purchase-with-cashback", 4000, other=1000, reversed_amount=500, resp_code=None)
    r.extra = {"entry-mode": "071", "psn": "01", "original-mti": "0220"}
    rec = rules.batch_record(r, PAN, approved, CONV)
    assert rec is not None
    assert (rec.type, rec.amount, rec.cashback, rec.reversed_amount) == (
        TxnType.CASHBACK, 4000, 1000, 500,
    )  # fmt: skip
    assert (rec.mti, rec.response_code, rec.entry_mode, rec.sequence) == ("0220", "Y1", "071", "01")
    assert rec.auth_code == "Y1    "
    assert rec.transmission == "1128090005"  # field 7 in UTC
    assert rec.expiry == "3012"
    r.extra["unable-online"] = True
    unable = rules.batch_record(r, PAN, approved, CONV)
    assert unable is not None and (unable.mti, unable.response_code) == ("0220", "Y3")
    paid = row()
    paid.auth_code = "A1B2C3"
    online = rules.batch_record(paid, PAN, approved, CONV)
    assert online is not None
    assert (online.mti, online.response_code, online.auth_code) == ("0200", "00", "A1B2C3")
    cancelled = row(tstatus="declined", state="cancelled")
    whole = rules.batch_record(cancelled, PAN, approved, CONV)
    assert whole is not None and whole.reversed_amount == whole.amount
    assert rules.batch_record(row(channel="sbp"), None, approved, CONV) is None
    from acquirers.errors import MessageBuildError

    with pytest.raises(MessageBuildError, match="no card data"):
        rules.batch_record(row(), None, approved, CONV)


def test_settlement_state_table() -> None:
    S, E = SettlementState, SettlementEvent
    assert next_state(S.NEW, E.SENDING) is S.RECONCILING
    assert next_state(S.RECONCILING, E.UNKNOWN) is S.RECONCILING
    assert next_state(S.RECONCILING, E.AGREED) is S.PASSED
    assert next_state(S.RECONCILING, E.CLEARED) is S.ABANDONED
    # final states take nothing
    for state in (S.PASSED, S.FAILED, S.ABANDONED, S.CLEARED):
        for event in E:
            assert (state, event) not in TRANSITIONS
            with pytest.raises(IllegalSettlementTransition):
                next_state(state, event)


# ---------------------------------------------------------------- property: one rule, three views
ROWS = st.builds(
    row,
    operation=st.sampled_from(["purchase", "purchase-with-cashback", "refund"]),
    amount=st.integers(1, 10**9),
    channel=st.sampled_from(["card", "card", "sbp"]),
    tstatus=st.sampled_from(["approved", "approved", "declined", None]),
    state=st.sampled_from([None, "cancelled"]),
    resp_code=st.sampled_from(["00", "05", "Y1", None]),
    currency=st.sampled_from(["643", "643", "840"]),
    rid=st.sampled_from(["A000000003", "A000000658", None]),
    when=st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2026, 12, 31)).map(
        lambda d: d.replace(tzinfo=dt.UTC)
    ),
)


def reference_report(rows: list[TxnRecord]) -> dict[tuple[str, str, str, str], list[int]]:
    """Row by row: (currency, rid, name, category) -> [count, sum]."""
    out: dict[tuple[str, str, str, str], list[int]] = {}
    for r in rows:
        if r.tstatus != "approved":
            continue
        category = rules.report_category(r.operation, r.receipt_type)
        assert category is not None
        if r.channel == "sbp":
            rid, name = "", "SBP"
        else:
            rid, name = r.scheme_rid or "", r.scheme_name or r.scheme_rid or "OTHER"
        cell = out.setdefault((r.currency, rid, name, category), [0, 0])
        cell[0] += 1
        cell[1] += r.amount
    return out


@settings(max_examples=40, deadline=None)
@given(
    plan=st.lists(st.tuples(ROWS, st.integers(0, 100)), max_size=25),
)
async def test_aggregates_agree_with_rows_and_upload_records(
    plan: list[tuple[TxnRecord, int]],
) -> None:
    journal = open_journal(":memory:")
    rows = []
    for i, (r, percent) in enumerate(plan):
        r.stan = f"{i + 1:06d}"
        if r.tstatus == "approved" and r.channel == "card":
            r.reversed_amount = r.amount * percent // 100  # voided off since
        journal.protect_pan(r, PAN, keep=True)
        rows.append(r)
    await journal.create_many(rows)
    batch_id, _ = await journal.open_batch()
    groups = await journal.batch_groups(batch_id)

    got = {
        (cur, t.rid, t.name, c): [t.counts[c], t.sums[c]]
        for cur, per in rules.report_totals(groups).items()
        for t in per.card_types.values()
        for c in rules.CATEGORIES
        if t.counts[c]
    }
    assert got == reference_report(rows)

    streamed = [
        (r.currency, rec)
        async for chunk in journal.batch_chunks(batch_id, chunk=7)
        for r in chunk
        if (rec := rules.batch_record(r, journal.reveal_pan(r), approved, CONV)) is not None
    ]
    counted = [
        r
        for r in rows
        if rules.host_type(r.channel, r.operation, r.tstatus, r.state, r.resp_code, approved)
    ]
    # The terminal's currency always, then those of the host's records by code.
    currencies = rules.batch_currencies("643", groups, approved)
    assert currencies == ["643", *sorted({r.currency for r in counted} - {"643"})]
    for currency in currencies:  # each currency's totals of its own records only
        summary = rules.host_summary(groups, approved, currency)
        assert summary.totals == BatchTotals.of(rec for cur, rec in streamed if cur == currency)
        mine = [r for r in counted if r.currency == currency]
        assert summary.count == len(mine)
        assert summary.first == min((r.datetime for r in mine), default=None)
        assert summary.last == max((r.datetime for r in mine), default=None)
    journal.close()


# ---------------------------------------------------------------- report lines and streaming
def _t_body(r: TxnRecord) -> dict[str, str]:
    """The manual's `t` built the slow, obvious way."""
    body = {
        "status": r.tstatus or "declined",
        "state": "active",
        "type": r.receipt_type,
        "seq": r.seq,
        "aa": f"{r.amount:012d}",
        "ao": f"{r.amount_other:012d}" if r.amount_other else None,
        "rrn": r.rrn,
        "time": dt.datetime.fromisoformat(r.datetime).strftime("%y%m%d%H%M%S"),
        "apn": r.auth_code,
        "arc": (r.resp_code.rjust(3, "0") if re.fullmatch("[0-9]+", r.resp_code) else r.resp_code)
        if r.resp_code
        else None,
        "cur": r.currency,
        "pan": r.masked_pan,
        "aed": r.expiry,
        "aid": r.aid,
        "tvr": r.tvr,
        "tsi": r.tsi,
    }
    return {k: x for k, x in body.items() if x}


def _reference(journal: Journal, batch_id: int, currency: str = "643") -> str:
    out = io.BytesIO()
    writer = XmlWriter(out, depth=3)
    for chunk in journal.iter_batch(batch_id):
        for r in chunk:
            if r.currency == currency:
                writer.element("t", _t_body(r))
    return out.getvalue().decode()


def _report_text(journal: Journal, batch_id: int, currency: str = "643") -> str:
    out = io.BytesIO()
    write_lines(XmlWriter(out, depth=3), journal, batch_id, currency)
    return out.getvalue().decode()


async def test_report_lines_are_the_writer_layout(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite")
    first = row(rid="A000000003")
    first.rrn, first.auth_code, first.masked_pan = "633218000001", "AFK045", "************0010"
    first.expiry, first.aid, first.tvr, first.tsi = "301231", "A0000000031010", "0000008000", "E800"
    odd = row("refund", 500, channel="sbp", tstatus=None, resp_code=None)
    odd.rrn = "R<&>"
    cashback = row("purchase-with-cashback", 4000, other=1000, resp_code="Y1")
    declined = row(tstatus="declined", resp_code="5")
    declined.datetime = "2026-11-28 12:00:05"  # a space for the T: the same digits
    await journal.create_many([first, odd, cashback, declined])
    batch_id, _ = await journal.open_batch()
    text = _report_text(journal, batch_id)
    assert text == _reference(journal, batch_id) and text.count("<t>") == 4
    assert "<rrn>R&lt;&amp;&gt;</rrn>" in text and "<arc>Y1</arc>" in text
    assert "<ao>000000001000</ao>" in text and "<status>declined</status>" in text
    assert "<arc>005</arc>" in text and "<time>261128120005</time>" in text
    journal.close()


TEXT = st.one_of(
    st.none(),
    st.just(""),
    st.text(alphabet="0123456789ABCDEF*", max_size=12),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=6),
)
LINE_ROWS = st.builds(
    row,
    operation=st.sampled_from(["purchase", "purchase-with-cashback", "refund"]),
    amount=st.integers(1, 10**13),
    channel=st.sampled_from(["card", "sbp"]),
    tstatus=st.sampled_from(["approved", "declined", None, ""]),
    resp_code=st.one_of(TEXT, st.sampled_from(["0", "00", "5", "Y1", "000", "A&B"])),
    other=st.sampled_from([0, 1, 1000]),
)


@settings(max_examples=60, deadline=None)
@given(plan=st.lists(st.tuples(LINE_ROWS, TEXT, TEXT, TEXT), min_size=1, max_size=12))
def test_report_lines_for_any_row(
    plan: list[tuple[TxnRecord, str | None, str | None, str | None]],
) -> None:
    """The layout table's SQL lays out `t` as the obvious way (a dict through
    XmlWriter) does, for any field values."""
    import trio

    async def run() -> None:
        journal = open_journal(":memory:")
        rows = []
        for r, rrn, auth, pan in plan:
            r.rrn, r.auth_code, r.masked_pan, r.tvr = rrn, auth, pan, pan
            rows.append(r)
        await journal.create_many(rows)
        batch_id, _ = await journal.open_batch()
        assert _report_text(journal, batch_id) == _reference(journal, batch_id)
        journal.close()

    trio.run(run)


def test_writer_matches_encode_body() -> None:
    body = {"status": "ok", "sreport": {"a": "1", "b": ["x", "y&z"]}, "empty": {}}
    out = io.BytesIO()
    out.write(b"<answer>\n")
    writer = XmlWriter(out, depth=1)
    for name, value in body.items():
        writer.element(name, value)
    writer.open("more")
    writer.element("c", "3")
    writer.close("more")
    out.write(b"</answer>")
    expected = encode_body("answer", {**body, "more": {"c": "3"}})
    assert out.getvalue() == expected
    assert decode_message(out.getvalue()).body["sreport"]["b"] == ["x", "y&z"]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 100, 3 * 1024 + 1])
def test_seal_stream_is_seal(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import cardcore.protocol.secure as secure

    monkeypatch.setattr(secure, "_CHUNK", 1024)  # several chunks, uneven tails
    key, iv = bytes(range(32)), bytes(range(16))
    plain = bytes(i % 251 for i in range(size))
    out = io.BytesIO()
    seal_stream(key, io.BytesIO(plain), out, iv=iv)
    assert out.getvalue().decode() == seal(key, plain, iv=iv)
    assert unseal(key, out.getvalue().decode()) == plain
    base64.b64decode(out.getvalue(), validate=True)


# ---------------------------------------------------------------- journal settlement records
async def test_settlement_records_and_close(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite")
    await journal.create(row())
    batch_id, number = await journal.open_batch()
    first = await journal.begin_settlement(
        batch_id, kind="settlement", state="reconciling", forced=False, totals={"n": 1}
    )
    assert (await journal.unresolved_settlement()) == first
    again = await journal.retry_settlement(first.id, "reconciling")
    assert again.attempts == 2
    new_batch = await journal.finish_settlement(
        first.id, "passed", outcome="in-balance", report={"rrn": "1"}, close_batch=True
    )
    assert new_batch is not None and new_batch != batch_id
    assert (await journal.open_batch()) == (new_batch, number + 1)
    assert await journal.unresolved_settlement() is None
    (done,) = await journal.settlements(batch_id)
    assert (done.state, done.outcome, done.report) == ("passed", "in-balance", {"rrn": "1"})
    # A closed batch is never closed again, and settles nothing new.
    with pytest.raises(JournalError, match="already closed"):
        await journal.finish_settlement(
            first.id, "passed", outcome="x", report=None, close_batch=True
        )
    with pytest.raises(JournalError, match="not the open batch"):
        await journal.begin_settlement(
            batch_id, kind="settlement", state="reconciling", forced=False, totals={}
        )
    journal.close()


def test_the_cutover_totals_count_only_in_the_currency_they_are_in() -> None:
    totals = BatchTotals(debit_count=1, debit_amount=7500)

    def answer(currency: str | None) -> NetworkResponse:
        message = IsoMessage("0810", {39: "00"})
        return NetworkResponse("00", True, None, "201", message, None, totals, currency)

    assert host_amounts(answer("840"), ["643", "840"]) == {"840": "D000000007500"}
    assert host_amounts(answer("643"), ["643"]) == {"643": "D000000007500"}
    # A host that does not say which currency: believed for a batch in one currency only
    # (its totals may add up every currency it holds).
    assert host_amounts(answer(None), ["643"]) == {"643": "D000000007500"}
    assert host_amounts(answer(None), ["643", "840"]) == {}
    assert host_amounts(None, ["643", "840"]) == {}


async def test_clear_ends_an_unresolved_settlement_in_one_commit(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite")
    await journal.create(row())
    batch_id, _ = await journal.open_batch()
    stuck = await journal.begin_settlement(
        batch_id, kind="settlement", state="reconciling", forced=False, totals={}
    )
    (cleared_id, dollars_id), new_batch = await journal.clear_batch(
        batch_id,
        state="cleared",
        abandon_state="abandoned",
        parts=[("643", {"debit-count": 1}, {"tid": "1"}), ("840", {}, {"cur": "840"})],
    )
    rows = {r.id: r for r in await journal.settlements(batch_id)}
    assert rows[stuck.id].state == "abandoned" and rows[cleared_id].state == "cleared"
    # a row per currency, each with its own totals and report
    assert [(r.currency, r.totals, r.report) for r in (rows[cleared_id], rows[dollars_id])] == [
        ("643", {"debit-count": 1}, {"tid": "1"}),
        ("840", {}, {"cur": "840"}),
    ]
    assert await journal.unresolved_settlement() is None
    assert (await journal.open_batch())[0] == new_batch
    # the archived batch keeps its rows, for audit
    assert [r.amount for chunk in journal.iter_batch(batch_id) for r in chunk] == [1000]
    journal.close()


async def test_report_lines_come_by_currency_in_chunks(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite")
    await journal.create_many([row(currency="643" if i % 3 else "840") for i in range(25)])
    batch_id, _ = await journal.open_batch()
    sql = (
        "SELECT id FROM transactions WHERE batch_id = :batch AND currency = :currency "
        "AND id > :after ORDER BY id LIMIT :chunk"
    )
    chunks = list(journal.iter_chunks(sql, {"batch": batch_id, "currency": "643"}, chunk=4))
    assert [len(c) for c in chunks] == [4, 4, 4, 4]
    ids = [line[0] for c in chunks for line in c]
    assert ids == sorted(ids)
    assert _report_text(journal, batch_id).count("<t>") == 16
    assert _report_text(journal, batch_id, "840").count("<t>") == 9
    journal.close()


async def test_report_lines_follow_every_update_of_a_transaction(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite")
    pending = row(tstatus=None, resp_code=None)
    pending.rrn = None
    await journal.create(pending)
    batch_id, _ = await journal.open_batch()
    text = _report_text(journal, batch_id)
    assert "<status>declined</status>" in text and "<rrn>" not in text
    pending.tstatus, pending.resp_code, pending.rrn = "approved", "0", "633218000009"
    await journal.update(pending, ["tstatus", "resp_code", "rrn"])
    text = _report_text(journal, batch_id)
    assert "<status>approved</status>" in text and "<arc>000</arc>" in text
    assert "<rrn>633218000009</rrn>" in text
    journal.close()


async def test_a_version_2_journal_drops_its_report_lines(tmp_path: Path) -> None:
    """Version 2 laid the report lines out in triggers at every write; opened
    now, it loses them and reports the same."""
    journal = open_journal(tmp_path / "j.sqlite")
    await journal.create_many([row(amount=100 + i) for i in range(5)])
    batch_id, _ = await journal.open_batch()
    expected = _report_text(journal, batch_id)

    def as_version_2(db: Any) -> None:
        db.execute("CREATE TABLE report_lines (txn_id INTEGER PRIMARY KEY, line TEXT)")
        db.execute(
            "CREATE TRIGGER report_line_insert AFTER INSERT ON transactions BEGIN "
            "INSERT INTO report_lines(txn_id, line) VALUES (NEW.id, 'x'); END"
        )
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")

    journal._sync(as_version_2)
    journal.close()
    journal = open_journal(tmp_path / "j.sqlite")
    assert _report_text(journal, batch_id) == expected and expected.count("<t>") == 5
    await journal.create(row(amount=999))  # no trigger writes into a table that is gone
    assert _report_text(journal, batch_id).count("<t>") == 6
    tables = journal._sync(
        lambda db: [r[0] for r in db.execute("SELECT name FROM sqlite_master").fetchall()]
    )
    assert "report_lines" not in tables and "report_line_insert" not in tables
    version = journal._sync(
        lambda db: db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
    )
    assert version == "4"
    journal._sync(lambda db: db.execute("UPDATE meta SET value = '5' WHERE key = 'schema'"))
    journal.close()
    with pytest.raises(JournalError, match="schema 5 is newer"):
        open_journal(tmp_path / "j.sqlite")


async def test_a_version_3_journal_gets_the_settlement_currency(tmp_path: Path) -> None:
    """Version 3 had one settlement per batch: its rows are in the terminal's
    currency (no currency recorded), and new ones record theirs."""
    journal = open_journal(tmp_path / "j.sqlite")
    batch_id, _ = await journal.open_batch()
    await journal.begin_settlement(
        batch_id, kind="settlement", state="reconciling", forced=False, totals={}
    )

    def as_version_3(db: Any) -> None:
        db.execute("ALTER TABLE settlements DROP COLUMN currency")
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")

    journal._sync(as_version_3)
    journal.close()
    journal = open_journal(tmp_path / "j.sqlite")
    (old,) = await journal.settlements(batch_id)
    assert old.currency is None and old.state == "reconciling"
    new = await journal.begin_settlement(
        batch_id, kind="settlement", state="reconciling", forced=False, totals={}, currency="840"
    )
    assert new.currency == "840"


def test_common_part_carries_the_settlement_options() -> None:
    import xml.etree.ElementTree as ET

    from cardcore.config import build_config
    from cardcore.provisioning.documents import TerminalDocument, translate

    terminal = TerminalDocument(
        "/common/header_x", "ROOT", "t", "1",
        ET.fromstring(
            '<ROOT><options><application><tag name="9F1C">3130303030303031</tag>'
            '<tag name="9F16">313233</tag></application></options></ROOT>'
        ),
    )  # fmt: skip
    common = ET.fromstring('<cconf><settlement cutover="true"/></cconf>')
    overlay = translate(terminal, {"cconf": common})
    # What the part does not say is not the server's: the local value stays.
    assert overlay["settlement"] == {"cutover": True}
    config = build_config(overlay)
    assert config.settlement.cutover and not config.settlement.forced_settlement
    assert not build_config({}).settlement.cutover  # off unless configured
