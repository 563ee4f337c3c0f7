"""End of day through the ECR on the simulator terminal (real host simulator over
loopback TCP): X-reports against a hand-computed table, settlement in balance, out of
balance with batch upload, refused upload and forced settlement, host down and host
silent (the batch stays open and intact, or frozen until the outcome is known), crash
points between the host's answer and the journal, clear, test connection and working
keys, password and token checks."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives.asymmetric import ec

from acquirers.errors import CommunicationError
from acquirers.iso8583.security import kcv
from cardcore.client import EcrConnection, Session, default_message_answer
from cardcore.config import HostConfig
from cardcore.endofday.service import EndOfDay
from cardcore.hostlink import KEY_NAMES
from cardcore.journal import TxnRecord
from cardcore.protocol.secure import client_handshake, derive_key, parse_server_handshake
from cardcore.protocol.xmlcodec import Message, decode_error_stack, encode_message
from hal.interfaces import CardInterface
from simulators.host.control import HostMode
from simulators.sbp.ledger import SimMode
from tests.cardcore.harness import Harness, simulated_terminal

PASSWORD = "12345678"


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def errors(answer: Message) -> list[str]:
    return decode_error_stack(answer.body.get("error-stack"))


async def command(h: Harness, name: str, **body: str) -> Message:
    return await h.connect().command(name, {k.replace("_", "-"): v for k, v in body.items()})


async def report(h: Harness, kind: str = "brief") -> list[dict[str, Any]]:
    answer = await command(h, "report", password=PASSWORD, report_type=kind)
    assert answer.status == "ok", errors(answer)
    return as_list(answer.body["xreport"])


def card_types(xreport: dict[str, Any]) -> dict[str, dict[str, str]]:
    totals = xreport["totals"] or {}
    return {t["name"]: t for t in as_list(totals.get("card-type"))}


async def approve(h: Harness, **params: str) -> dict[str, Any]:
    answer = await h.transaction(**params)
    assert answer.status == "ok", errors(answer)
    receipt: dict[str, Any] = answer.body["receipt"]
    assert receipt["tstatus"] == "approved", receipt
    return receipt


def foreign_row(amount: int, currency: str) -> TxnRecord:
    """An approved VISA purchase in another currency, written through the journal."""
    return TxnRecord(
        channel="card",
        operation="purchase",
        receipt_type="purchase",
        state="approved",
        tstatus="approved",
        amount=amount,
        currency=currency,
        scheme_rid="A000000003",
        scheme_name="VISA",
        rrn="633218000099",
        resp_code="00",
        datetime=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    )


async def open_rows(h: Harness) -> list[TxnRecord]:
    journal = h.terminal.journal
    batch_id, _ = await journal.open_batch()
    return [r for chunk in journal.iter_batch(batch_id) for r in chunk]


def host(h: Harness) -> Any:
    assert h.sim.host is not None
    return h.sim.host


# ---------------------------------------------------------------- the hand-computed table
def sbp_mode(h: Harness, mode: SimMode) -> None:
    assert h.sim.sbp is not None
    h.sim.sbp.control.set_mode(mode)
    h.sim.sbp.control.pay_delay = 0.2


async def sbp_day(h: Harness) -> None:
    """SBP through the engine: a payment, a partial refund of it, a rejected payment."""
    h.sim.slot.remove()
    sbp_mode(h, SimMode.PAY)
    paid = await approve(h, type="purchase", amount="000000030000")
    assert paid["iface"] == "sbp"
    refund = await h.connect().command(
        "transaction", {"type": "refund", "amount": "000000010000", "rrn": paid["rrn"]},
        {"force-sbp": "true"},
    )  # fmt: skip
    assert refund.body["receipt"]["status"] == "approved", errors(refund)
    sbp_mode(h, SimMode.REJECT)
    rejected = await h.transaction(type="purchase", amount="000000009900")
    assert rejected.body["receipt"]["status"] == "declined"
    sbp_mode(h, SimMode.NONE)
    h.sim.slot.present("default", CardInterface.CONTACT)


async def mixed_day(h: Harness) -> None:
    """Purchases, cashback, a refund, voids (whole and partial, of a purchase and of a
    refund), a host decline, a Mir card and SBP payments and a refund."""
    await sbp_day(h)
    p1 = await approve(h, type="purchase", amount="000000010000")
    p2 = await approve(h, type="purchase", amount="000000005000")
    await approve(
        h, type="purchase-with-cashback", amount="000000003000", amount_other="000000001000"
    )
    # A refund of a purchase made elsewhere (a voided purchase is not refunded too).
    refund = await approve(h, type="refund", amount="000000002000", rrn="000000000042")
    await approve(h, type="void", number=p2["seq"])  # whole
    await approve(h, type="void", number=refund["seq"], amount="000000000500")  # partial
    await approve(h, type="void", number=p1["seq"], amount="000000002500")  # partial
    host(h).control.mode = HostMode.DECLINE
    declined = await h.transaction(type="purchase", amount="000000007000")
    assert declined.body["receipt"]["tstatus"] == "declined"
    host(h).control.mode = HostMode.APPROVE
    h.sim.slot.present("mir", CardInterface.CONTACT)
    await approve(h, type="purchase", amount="000000001234")
    h.sim.slot.present("default", CardInterface.CONTACT)
    await h.settle_pending()


# card type -> category -> (count, sum); total-card-sum; total-card-count
EXPECTED = {
    "VISA": ({"purchase": (2, 15000), "refund": (1, 2000), "purchase-with-cashback": (1, 4000),
              "purchase-reversal": (2, 7500), "refund-reversal": (1, 500)},
             "D000000010000", 7),
    "MIR": ({"purchase": (1, 1234)}, "D000000001234", 1),
    "SBP": ({"purchase": (1, 30000), "refund": (1, 10000)}, "D000000020000", 2),
}  # fmt: skip
GRAND = {
    "purchase": (4, 46234),
    "refund": (2, 12000),
    "purchase-with-cashback": (1, 4000),
    "purchase-reversal": (2, 7500),
    "refund-reversal": (1, 500),
}
CATEGORIES = (
    "purchase",
    "refund",
    "purchase-with-cashback",
    "purchase-reversal",
    "refund-reversal",
)


async def test_report_totals_match_the_hand_computed_table(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        await mixed_day(h)
        (brief,) = await report(h, "brief")
        header = brief["header"]
        assert (header["mid"], header["tid"], header["cur"]) == (
            "123456789012345",
            "10000001",
            "643",
        )
        assert header["title"] == {"line1": "CARDCORE SIMULATOR", "line2": "TEST ONLY"}
        assert len(header["time"]) == 12 and "transactions" not in brief
        types = card_types(brief)
        assert list(types) == ["VISA", "MIR", "SBP"]  # by RID, SBP last
        assert (types["VISA"]["rid"], types["MIR"]["rid"], types["SBP"]["rid"]) == (
            "A000000003", "A000000658", None,
        )  # fmt: skip
        for name, (cells, total, count) in EXPECTED.items():
            t = types[name]
            for category in CATEGORIES:
                n, amount = cells.get(category, (0, 0))
                assert (int(t[f"{category}-count"]), t[f"{category}-sum"]) == (
                    n, f"{amount:012d}",
                ), (name, category)  # fmt: skip
            assert (t["total-card-sum"], int(t["total-card-count"])) == (total, count)
        grand = brief["grand-totals"]
        for category, (n, amount) in GRAND.items():
            assert grand[f"{category}-total-count"] == str(n)
            assert grand[f"{category}-total-sum"] == f"{amount:012d}"
        assert (grand["total-sum"], grand["total-count"]) == ("D000000031234", "10")

        (full,) = await report(h, "full")
        lines = as_list(full["transactions"]["t"])
        rows = await open_rows(h)
        assert len(lines) == len(rows) == 12  # every row, declined ones too
        assert [t["seq"] for t in lines] == [r.seq for r in rows]
        declined = [t for t in lines if t["status"] == "declined"]
        assert [t["aa"] for t in declined] == ["000000009900", "000000007000"]
        sbp = lines[:3]  # SBP rows: no card data
        assert all("pan" not in t and "aid" not in t for t in sbp)
        assert [t["type"] for t in sbp] == ["purchase", "refund", "purchase"]
        cashback = next(t for t in lines if "ao" in t)
        assert (cashback["aa"], cashback["ao"], cashback["type"]) == (
            "000000004000", "000000001000", "purchase",
        )  # fmt: skip
        voids = [t["type"] for t in lines if t["type"].endswith("reversal")]
        assert sorted(voids) == ["purchasereversal", "purchasereversal", "refundreversal"]
        visa = lines[3]
        assert visa["pan"].endswith("0010") and visa["aid"] == "A0000000031010"
        assert visa["arc"] == "000" and len(visa["rrn"]) == 12 and visa["state"] == "active"
        assert full["totals"] == brief["totals"]


async def test_mixed_day_settles_in_balance_and_leaves_an_empty_batch(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, {"settlement": {"cutover": True}}) as h:
        await mixed_day(h)
        before = await open_rows(h)
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        assert answer.body["bank-name"] == "SIMULATOR BANK"
        sreport = answer.body["sreport"]
        # host view: debits 10000+5000+4000+1234 (voids 2500+5000 off them),
        # a 2000 refund (500 of it voided): net 11234 in 5 transactions
        assert sreport["orig-amount"] == sreport["amount"] == "D000000011234"
        assert sreport["tnum"] == "5" and sreport["settlement-result"] == "passed"
        assert sreport["resp-code"] == "000" and len(sreport["rrn"]) == 12
        assert sreport["approval-number"] and sreport["cur"] == "643"
        assert sreport["from"] <= sreport["to"] and len(sreport["datetime"]) == 12
        assert "batch-upload" not in sreport and "art-resp-code" not in sreport
        assert sreport["cov-resp-code"] == "00" and len(sreport["cov-rrn"]) == 12
        assert list(sreport) == [
            "resp-code", "approval-number", "rrn", "orig-amount", "amount", "datetime", "tid",
            "mid", "cur", "from", "to", "tnum", "cov-resp-code", "cov-rrn", "settlement-result",
        ]  # fmt: skip
        assert host(h).counts["0320"] == 0 and len(host(h).ledger.closed_batches) == 1
        assert host(h).business_day == 2  # the cutover
        # The closed batch is archived, out of reports; a new one is open.
        (after,) = await report(h, "full")
        assert after["totals"] is None and after["transactions"] is None
        assert after["grand-totals"]["total-count"] == "0"
        assert after["grand-totals"]["total-sum"] == "D000000000000"
        journal = h.terminal.journal
        batch_id, number = await journal.open_batch()
        assert number == 2 and await open_rows(h) == []
        archived = [r for chunk in journal.iter_batch(batch_id - 1) for r in chunk]
        assert [r.id for r in archived] == [r.id for r in before]
        (row,) = await journal.settlements(batch_id - 1)
        assert (row.state, row.outcome) == ("passed", "in-balance")
        assert row.report is not None and row.report["cov-rrn"] == sreport["cov-rrn"]
        # Business goes on in the new batch.
        await approve(h, type="purchase", amount="000000000100")


async def test_report_sections_per_currency_and_the_secure_channel(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        await approve(h, type="purchase", amount="000000010000")
        await h.terminal.journal.create_many([foreign_row(1000, "840")])
        # the report travels sealed when the command is
        own = ec.generate_private_key(ec.SECP256R1())
        conn = h.connect()
        await conn.send_raw(
            encode_message(
                Message(
                    "login",
                    {"password": PASSWORD},
                    {"client-handshake": client_handshake(own.public_key())},
                )
            )
        )
        login = await conn.receive()
        key = derive_key(own, parse_server_handshake(login.attrs["server-handshake"]))
        client, server_side = trio.testing.memory_stream_pair()
        h.nursery.start_soon(h.server.handle_stream, server_side, "secure")
        secure = EcrConnection(client, Session(key=key), default_message_answer, timeout=60)
        answer = await secure.command(
            "report", {"password": PASSWORD, "report-type": "full"}, secure=True
        )
        assert answer.status == "ok"
        rub, usd_report = as_list(answer.body["xreport"])
        assert (rub["header"]["cur"], usd_report["header"]["cur"]) == ("643", "840")
        assert as_list(rub["transactions"]["t"])[0]["cur"] == "643"
        assert as_list(usd_report["transactions"]["t"])[0]["aa"] == "000000001000"
        assert card_types(usd_report)["VISA"]["total-card-sum"] == "D000000001000"
        assert rub["grand-totals"]["total-sum"] == "D000000010000"


# ---------------------------------------------------------------- out of balance
async def test_out_of_balance_uploads_the_batch_and_closes(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        p = await approve(h, type="purchase", amount="000000010000")
        await approve(
            h, type="purchase-with-cashback", amount="000000003000", amount_other="000000001000"
        )
        await approve(h, type="void", number=p["seq"], amount="000000001000")
        await h.settle_pending()
        host(h).control.lose_transaction = True
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        sreport = answer.body["sreport"]
        assert sreport["batch-upload"] == "passed" and sreport["art-resp-code"] == "00"
        assert sreport["settlement-result"] == "passed" and sreport["resp-code"] == "000"
        assert sreport["orig-amount"] == sreport["amount"] == "D000000013000"
        assert host(h).counts["0320"] == 2
        ((_, closed),) = host(h).ledger.closed_batches
        uploaded = sorted(
            (r.type.value, r.amount, r.reversed_amount, r.cashback) for r in closed.uploaded
        )
        assert uploaded == [("cashback", 4000, 0, 1000), ("purchase", 10000, 1000, 0)]
        assert (await report(h))[0]["grand-totals"]["total-count"] == "0"


async def test_keepalives_during_a_batch_upload_say_how_far_it_is(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, {"server": {"keepalive-interval": 0.1}}) as h:
        for amount in ("000000001000", "000000002000", "000000003000"):
            await approve(h, type="purchase", amount=amount)
        await h.settle_pending()
        host(h).control.lose_transaction = True
        host(h).control.delay = 0.3  # before each answer: the upload takes a while
        keepalives: list[dict[str, Any]] = []

        def on_message(message: Message) -> dict[str, Any]:
            if message.name == "keepalive":
                keepalives.append(dict(message.body))
            return default_message_answer(message)

        answer = await h.connect(on_message).command("settlement", {"password": PASSWORD})
        assert answer.body["sreport"]["batch-upload"] == "passed", errors(answer)
        # The manual's bare keepalive while the totals are compared, then the upload's count.
        assert keepalives[0] == {}
        progress = [k["progress"] for k in keepalives if k]
        assert progress and {p["operation"] for p in progress} == {"batch-upload"}
        assert {p["total"] for p in progress} == {"3"}
        done = [int(p["done"]) for p in progress]
        assert done == sorted(done) and done[-1] <= 3
        assert len(set(done)) > 1, done  # seen moving: the upload takes over a second


async def test_refused_upload_fails_then_forced_settlement(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        await approve(h, type="purchase", amount="000000010000")
        await h.settle_pending()
        ledger = host(h).ledger
        host(h).control.reconciliation_mismatch = True
        host(h).control.refuse_upload = True
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "batchuploadfailed"
        sreport = answer.body["sreport"]
        assert sreport["batch-upload"] == "failed" and sreport["settlement-result"] == "failed"
        assert sreport["resp-code"] == "095" and sreport["amount"] == "D000000010100"
        assert "art-resp-code" not in sreport  # the closing never went
        assert any("refused (58)" in e for e in errors(answer))
        assert ledger.closed_batches == [] and len(await open_rows(h)) == 1
        # Transactions go on in the open batch.
        await approve(h, type="purchase", amount="000000000100")
        # force: this acquirer does not allow it
        denied = await command(h, "settlement", password=PASSWORD, force="on")
        assert denied.status == "invalidarguments"
        assert "does not allow" in errors(denied)[0]

    async with simulated_terminal(tmp_path, {"settlement": {"forced-settlement": True}}) as h:
        # a new host simulator: the totals disagree, the upload is refused again
        host(h).control.refuse_upload = True
        failed = await command(h, "settlement", password=PASSWORD)
        assert failed.status == "batchuploadfailed"
        forced = await command(h, "settlement", password=PASSWORD, force="on")
        assert forced.status == "ok", errors(forced)
        sreport = forced.body["sreport"]
        assert sreport["settlement-result"] == "passed" and sreport["resp-code"] == "000"
        assert sreport["orig-amount"] == "D000000010100"
        assert sreport["amount"] == "D000000000000"  # this host had booked nothing
        assert host(h).counts["0520"] == 1 and len(host(h).ledger.closed_batches) == 1
        batch_id, _ = await h.terminal.journal.open_batch()
        states = [
            (r.state, r.outcome, r.forced)
            for r in await h.terminal.journal.settlements(batch_id - 1)
        ]
        assert states == [
            ("failed", "out-of-balance", False),
            ("failed", "out-of-balance", False),
            ("passed", "forced", True),
        ]
        # force after a settlement that passed (nothing failed in this batch): refused
        again = await command(h, "settlement", password=PASSWORD, force="true")
        assert again.status == "invalidarguments"
        assert "only after a settlement that failed out of balance" in errors(again)[0]


# ---------------------------------------------------------------- host down / silent
async def test_host_down_keeps_the_batch_open_and_intact(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        await approve(h, type="purchase", amount="000000010000")
        await approve(h, type="refund", amount="000000001000")
        await h.settle_pending()
        before_rows = await open_rows(h)
        before_report = await report(h, "full")
        host(h).control.mode = HostMode.DOWN
        await host(h).wait_listening(False)
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "communicationerror"
        text = " ".join(errors(answer))
        assert "main host 127.0.0.1" in text and "connection refused" in text
        assert "stays open" in text
        sreport = answer.body["sreport"]
        assert sreport["settlement-result"] == "failed" and "resp-code" not in sreport
        assert sreport["orig-amount"] == "D000000009000" and sreport["tnum"] == "2"
        assert await open_rows(h) == before_rows
        after_report = await report(h, "full")
        for one in (before_report[0], after_report[0]):
            one["header"].pop("time")
        assert after_report == before_report
        batch_id, number = await h.terminal.journal.open_batch()
        assert number == 1
        (row,) = await h.terminal.journal.settlements(batch_id)
        assert (row.state, row.outcome) == ("failed", "not-sent")
        # not frozen: the request never left
        host(h).control.mode = HostMode.APPROVE
        await host(h).wait_listening(True)
        await approve(h, type="purchase", amount="000000000100")
        settled = await command(h, "settlement", password=PASSWORD)
        assert settled.body["sreport"]["settlement-result"] == "passed"
        assert settled.body["sreport"]["orig-amount"] == "D000000009100"


async def test_pending_reversals_go_first_or_nothing_starts(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        p = await approve(h, type="purchase", amount="000000010000")
        host(h).control.mode = HostMode.DOWN
        await host(h).wait_listening(False)
        await approve(h, type="void", number=p["seq"])  # queued reversal
        assert await h.terminal.journal.count_pending() == 1
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "communicationerror"
        assert "1 pending reversal(s)/advice(s) could not be delivered" in errors(answer)[0]
        batch_id, _ = await h.terminal.journal.open_batch()
        assert await h.terminal.journal.settlements(batch_id) == []  # not started at all
        host(h).control.mode = HostMode.APPROVE
        await host(h).wait_listening(True)
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        # the void reached the host before the totals: in balance, net zero
        assert answer.body["sreport"]["orig-amount"] == "D000000000000"
        assert answer.body["sreport"]["amount"] == "D000000000000"
        assert "batch-upload" not in answer.body["sreport"]


async def test_a_stuck_sbp_refund_does_not_hold_the_card_settlement(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        await approve(h, type="purchase", amount="000000010000")
        await h.settle_pending()
        assert h.sim.sbp is not None
        h.sim.sbp.control.set_fault(503)  # the SBP agent refuses everything
        lost = TxnRecord(
            channel="sbp", operation="purchase", receipt_type="purchase", state="cancelled",
            tstatus="declined", amount=500, currency="643", rrn="A1",
            datetime=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        )  # fmt: skip
        refund = json.dumps({"amount": 500, "refund-id": "lost-1", "operation-id": "A1"})
        await h.terminal.journal.create(
            lost, seq_counter="seq-sbp", pending=[("sbp-refund", refund.encode())]
        )
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        assert answer.body["sreport"]["orig-amount"] == "D000000010000"
        assert await h.terminal.journal.count_pending() == 1  # still the agent's to take
        (row,) = await h.terminal.journal.settlements(
            (await h.terminal.journal.open_batch())[0] - 1
        )
        assert row.state == "passed"


async def test_silent_host_freezes_the_batch_until_settlement_completes(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        await approve(h, type="purchase", amount="000000010000")
        await h.settle_pending()
        host(h).control.delay = 1.0  # beyond the 0.5 s response timeout: the host closes, unheard
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "timeout"
        assert any(
            "outcome of the settlement of batch 000001 is unknown" in e for e in errors(answer)
        )
        assert answer.body["sreport"]["settlement-result"] == "failed"
        assert len(host(h).ledger.closed_batches) == 1  # the host did close
        blocked = await h.transaction(type="purchase", amount="000000000100")
        assert blocked.status == "failed"
        assert "settlement of batch 000001 is unfinished" in errors(blocked)[0]
        await trio.sleep(1.0)
        host(h).control.delay = 0.0
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        assert answer.body["sreport"]["orig-amount"] == "D000000010000"
        assert len(host(h).ledger.closed_batches) == 1 and host(h).counts["replayed"] == 1
        batch_id, number = await h.terminal.journal.open_batch()
        (row,) = await h.terminal.journal.settlements(batch_id - 1)
        assert (row.state, row.attempts, number) == ("passed", 2, 2)
        await approve(h, type="purchase", amount="000000000100")


# ---------------------------------------------------------------- crash points
class Crash(BaseException):
    """Stands for the process dying at a checkpoint (nothing after it runs)."""


@pytest.mark.parametrize("point", ["started", "answered", "recorded"])
async def test_crash_points(tmp_path: Path, point: str) -> None:
    async with simulated_terminal(tmp_path) as h:
        await approve(h, type="purchase", amount="000000010000")
        await h.settle_pending()

        async def crash(name: str) -> None:
            await trio.lowlevel.checkpoint()
            if name == point:
                raise Crash(name)

        with pytest.raises(Crash):
            await EndOfDay(h.terminal, checkpoint=crash).settle()
        journal = h.terminal.journal
        batch_id, number = await journal.open_batch()
        host_closed = len(host(h).ledger.closed_batches)
        if point == "started":  # the row is written, nothing left
            assert (number, host_closed) == (1, 0)
        elif point == "answered":  # the host closed; the terminal never recorded it
            assert (number, host_closed) == (1, 1)
        else:  # recorded: closed on both sides
            assert (number, host_closed) == (2, 1)
            (row,) = await journal.settlements(batch_id - 1)
            assert row.state == "passed"
            return
        (row,) = await journal.settlements(batch_id)
        assert row.state == "reconciling"
        assert await journal.unresolved_settlement() == row
        refused = await h.transaction(type="purchase", amount="000000000100")
        assert refused.status == "failed"
        # The next settlement finishes it: one close on each side, money intact.
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        assert answer.body["sreport"]["orig-amount"] == "D000000010000"
        assert answer.body["sreport"]["amount"] == "D000000010000"
        assert len(host(h).ledger.closed_batches) == 1
        assert host(h).counts["replayed"] == (1 if point == "answered" else 0)
        new_batch, number = await journal.open_batch()
        assert number == 2 and new_batch == batch_id + 1
        (row,) = await journal.settlements(batch_id)
        assert (row.state, row.attempts) == ("passed", 2)


async def test_a_cutover_cut_short_by_a_crash_is_sent_later(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, {"settlement": {"cutover": True}}) as h:
        await approve(h, type="purchase", amount="000000010000")
        await h.settle_pending()

        async def crash(name: str) -> None:
            await trio.lowlevel.checkpoint()
            if name == "recorded":
                raise Crash(name)

        with pytest.raises(Crash):
            await EndOfDay(h.terminal, checkpoint=crash).settle()
        journal = h.terminal.journal
        assert host(h).business_day == 1  # closed on both sides, no cutover yet
        assert len(await journal.pending("cutover")) == 1
        # After the restart, store-and-forward runs it and completes the sreport.
        await h.settle_pending()
        assert host(h).business_day == 2
        batch_id, _ = await journal.open_batch()
        (row,) = await journal.settlements(batch_id - 1)
        assert row.report is not None and row.report["cov-resp-code"] == "00"
        assert list(row.report)[-1] == "settlement-result"


async def test_a_cutover_the_host_missed_is_sent_when_it_is_back(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, {"settlement": {"cutover": True}}) as h:
        await approve(h, type="purchase", amount="000000010000")
        await h.settle_pending()
        link = h.terminal.host.require()
        cutover = link.cutover

        async def unreachable(currency: str | None = None) -> object:
            raise CommunicationError("cannot reach the acquirer: test")

        link.cutover = unreachable  # type: ignore[method-assign]
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "ok"  # the settlement passed; the cutover did not
        assert "cov-resp-code" not in answer.body["sreport"]
        assert any("cutover failed" in e for e in errors(answer))
        assert len(await h.terminal.journal.pending("cutover")) == 1
        link.cutover = cutover  # type: ignore[method-assign]
        await h.settle_pending()
        assert host(h).business_day == 2
        assert await h.terminal.journal.pending("cutover") == []


# ---------------------------------------------------------------- clear
async def test_clear_archives_and_runs_the_cutover(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        p = await approve(h, type="purchase", amount="000000010000")
        await h.settle_pending()
        # a settlement whose outcome is unknown, and a void queued while the host is down
        host(h).control.delay = 1.0
        stuck = await command(h, "settlement", password=PASSWORD)
        assert stuck.status == "timeout"
        await trio.sleep(1.0)
        host(h).control.delay = 0.0
        answer = await command(h, "clear", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        sreport = answer.body["sreport"]
        assert list(sreport) == [
            "resp-code", "approval-number", "rrn", "orig-amount", "amount", "datetime", "tid",
            "mid",
        ]  # fmt: skip
        assert sreport["resp-code"] == "000" and sreport["orig-amount"] == "D000000010000"
        # The settlement the terminal gave up on went through at the host, which
        # closed its batch: the host's amount says it holds nothing more.
        assert sreport["amount"] == "D000000000000"
        assert len(sreport["approval-number"]) == 6
        assert "bank-name" not in answer.body
        assert host(h).business_day == 2
        journal = h.terminal.journal
        batch_id, number = await journal.open_batch()
        assert number == 2 and await open_rows(h) == []
        old = await journal.settlements(batch_id - 1)
        assert [(r.kind, r.state) for r in old] == [
            ("settlement", "abandoned"),
            ("clear", "cleared"),
        ]
        assert old[1].report is not None and old[1].report["rrn"] == sreport["rrn"]
        # Not frozen any more, and the archived rows are kept.
        await approve(h, type="purchase", amount="000000000100")
        archived = [r for chunk in journal.iter_batch(batch_id - 1) for r in chunk]
        assert [r.seq for r in archived] == [p["seq"]]


async def test_clear_reports_what_the_host_holds(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        await approve(h, type="purchase", amount="000000010000")
        await approve(h, type="refund", amount="000000002500")
        await h.settle_pending()
        answer = await command(h, "clear", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        sreport = answer.body["sreport"]
        assert sreport["orig-amount"] == sreport["amount"] == "D000000007500"


async def test_clear_with_the_host_down_still_clears(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        await approve(h, type="purchase", amount="000000010000")
        host(h).control.mode = HostMode.DOWN
        await host(h).wait_listening(False)
        answer = await command(h, "clear", password=PASSWORD)
        assert answer.status == "communicationerror"
        assert errors(answer)[0].startswith("journal cleared; cutover failed: cannot reach")
        assert "resp-code" not in answer.body["sreport"]
        assert await open_rows(h) == []


# ---------------------------------------------------------------- host checks and keys
async def login(h: Harness) -> str:
    answer = await command(h, "login", password=PASSWORD)
    token: str = answer.body["token"]
    return token


async def test_testconnection(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        token = await login(h)
        assert (await command(h, "testconnection", token=token)).status == "ok"
        assert host(h).counts["0800"] == 1
        host(h).control.mode = HostMode.DOWN
        await host(h).wait_listening(False)
        down = await command(h, "testconnection", token=token)
        assert down.status == "communicationerror"
        (text,) = errors(down)
        assert text.startswith("connection test failed: main host 127.0.0.1:")
        assert "connection refused" in text
        assert (await command(h, "testconnection", token="0" * 32)).status == "notauthorized"
        assert (await command(h, "testconnection")).status == "notauthorized"  # no token
        # main dead, the mirror answers; then both dead: both named
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            dead = probe.getsockname()[1]
        config = h.terminal.config
        acquirer = msgspec.structs.replace(
            config.acquirer,
            main=HostConfig(host="127.0.0.1", port=dead),
            mirror=HostConfig(host="127.0.0.1", port=host(h).port),
        )
        h.terminal.reconfigure(msgspec.structs.replace(config, acquirer=acquirer))
        host(h).control.mode = HostMode.APPROVE
        await host(h).wait_listening(True)
        assert (await command(h, "testconnection", token=token)).status == "ok"
        host(h).control.mode = HostMode.DOWN
        await host(h).wait_listening(False)
        (text,) = errors(await command(h, "testconnection", token=token))
        assert f"main host 127.0.0.1:{dead}: connection refused" in text
        assert f"mirror host 127.0.0.1:{host(h).port}: connection refused" in text


async def test_loadworkkeys(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        token = await login(h)
        store = h.terminal.keystore
        old = (store.get(KEY_NAMES["tpk"]), store.get(KEY_NAMES["tak"]))
        host(h).control.wrong_kcv = True
        wrong = await command(h, "loadworkkeys", token=token)
        assert wrong.status == "verificationfailed"
        assert "working key rejected" in errors(wrong)[0]
        assert (store.get(KEY_NAMES["tpk"]), store.get(KEY_NAMES["tak"])) == old
        host(h).control.wrong_kcv = False
        answer = await command(h, "loadworkkeys", token=token)
        assert answer.status == "ok", errors(answer)
        assert len(answer.body["mac-change-receipt"]["rrn"]) == 12
        assert len(answer.body["net-change-receipt"]["rrn"]) == 12
        new = (store.get(KEY_NAMES["tpk"]), store.get(KEY_NAMES["tak"]))
        assert kcv(new[0]) != kcv(old[0]) and kcv(new[1]) != kcv(old[1])
        link = h.terminal.host.require()
        assert link.keys is not None and (link.keys.tpk, link.keys.tak) == new
        keys = host(h).terminal("10000001")
        assert (keys.pending_tpk, keys.pending_tak) == new
        # the next MACed message uses the new TAK and the host takes it
        await approve(h, type="purchase", amount="000000010000")
        assert keys.tak == new[1]
        assert (await command(h, "loadworkkeys", token="0" * 32)).status == "notauthorized"


# ---------------------------------------------------------------- access
@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("report", {"password": "00000000"}, "notauthorized"),
        ("report", {}, "invalidarguments"),
        ("report", {"password": PASSWORD, "report-type": "long"}, "invalidarguments"),
        ("settlement", {"password": "00000000"}, "notauthorized"),
        ("settlement", {"password": PASSWORD, "force": "maybe"}, "invalidarguments"),
        ("settlement", {"token": "0" * 32}, "invalidarguments"),
        ("clear", {"password": "1234"}, "invalidarguments"),
        ("clear", {"password": "00000000"}, "notauthorized"),
    ],
)
async def test_password_checks(
    tmp_path: Path, name: str, body: dict[str, str], status: str
) -> None:
    async with simulated_terminal(tmp_path) as h:
        await approve(h, type="purchase", amount="000000010000")
        answer = await h.connect().command(name, body)
        assert answer.status == status
        assert len(await open_rows(h)) == 1  # nothing happened
        assert host(h).counts["0500"] == 0
