"""End of day in several currencies on the simulator terminal (real host simulator over
loopback TCP): settlement one currency after the other (crashes between them, a currency
out of balance), forced settlement of one currency while the others settle as usual, and
`clear` answering and archiving each currency's totals on its own, a batch in one currency
answering byte for byte the manual's single <sreport>."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trio
import trio.testing

from acquirers.iso8583.codec import IsoMessage
from cardcore.endofday.service import EndOfDay
from cardcore.protocol.xmlcodec import Message, decode_error_stack
from tests.cardcore.ecr import RawPeer
from tests.cardcore.harness import Harness, simulated_terminal
from tests.cardcore.test_endofday import (
    PASSWORD,
    Crash,
    approve,
    as_list,
    command,
    errors,
    host,
)

DOLLARS = {"acquirer": {"currencies": ["840", "978"]}}


async def two_currency_day(h: Harness) -> None:
    await approve(h, type="purchase", amount="000000010000")
    await approve(h, type="purchase", amount="000000002500", currency="840")
    await approve(h, type="refund", amount="000000000500", currency="840")
    await h.settle_pending()


def closed_currencies(h: Harness) -> list[str | None]:
    return [batch.currency for _, batch in host(h).ledger.closed_batches]


async def test_two_currencies_settle_one_after_the_other(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, DOLLARS) as h:
        await two_currency_day(h)
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        rub, usd = as_list(answer.body["sreport"])
        assert (rub["cur"], usd["cur"]) == ("643", "840")
        assert rub["orig-amount"] == rub["amount"] == "D000000010000"
        assert usd["orig-amount"] == usd["amount"] == "D000000002000"
        assert (rub["tnum"], usd["tnum"]) == ("1", "2")
        assert rub["settlement-result"] == usd["settlement-result"] == "passed"
        assert closed_currencies(h) == ["643", "840"]
        journal = h.terminal.journal
        batch_id, number = await journal.open_batch()
        rows = await journal.settlements(batch_id - 1)
        assert [(r.currency, r.state) for r in rows] == [("643", "passed"), ("840", "passed")]
        assert number == 2
        await approve(h, type="purchase", amount="000000000100", currency="840")


@pytest.mark.parametrize("point", ["recorded-643", "answered-840", "started-840"])
async def test_a_crash_between_two_currencies_resumes_with_the_next(
    tmp_path: Path, point: str
) -> None:
    async with simulated_terminal(tmp_path, DOLLARS) as h:
        await two_currency_day(h)
        seen: list[str] = []

        async def crash(name: str) -> None:
            await trio.lowlevel.checkpoint()
            # the currency of each checkpoint: the first three are 643's
            name = f"{name}-{'643' if len(seen) < 3 else '840'}"
            seen.append(name)
            if name == point:
                raise Crash(name)

        with pytest.raises(Crash):
            await EndOfDay(h.terminal, checkpoint=crash).settle()
        journal = h.terminal.journal
        batch_id, number = await journal.open_batch()
        assert number == 1  # the batch stays open until every currency passed
        rows = await journal.settlements(batch_id)
        expected = [("643", "passed")] + (
            [] if point == "recorded-643" else [("840", "reconciling")]
        )
        assert [(r.currency, r.state) for r in rows] == expected
        assert closed_currencies(h) == ["643"] + (["840"] if point == "answered-840" else [])
        # 643 is settled at the host: no sale until the rest is, in any currency.
        refused = await h.transaction(type="purchase", amount="000000000100")
        assert refused.status == "failed"
        assert "unfinished" in errors(refused)[0]
        answer = await command(h, "settlement", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        rub, usd = as_list(answer.body["sreport"])
        assert rub["settlement-result"] == usd["settlement-result"] == "passed"
        assert usd["orig-amount"] == usd["amount"] == "D000000002000"
        # Each currency closed once on each side; 643 never sent again.
        assert closed_currencies(h) == ["643", "840"]
        assert host(h).counts["replayed"] == (1 if point == "answered-840" else 0)
        rows = await journal.settlements(batch_id)
        assert [(r.currency, r.state) for r in rows] == [("643", "passed"), ("840", "passed")]
        assert rows[0].attempts == 1
        assert (await journal.open_batch())[1] == 2


async def test_a_currency_out_of_balance_stops_the_run_and_says_which(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, DOLLARS) as h:
        await two_currency_day(h)
        await approve(h, type="purchase", amount="000000000700", currency="978")
        await h.settle_pending()

        async def after_643(name: str) -> None:
            await trio.lowlevel.checkpoint()
            if name == "recorded":  # 840 finds the host out of balance, upload refused
                host(h).control.reconciliation_mismatch = True
                host(h).control.refuse_upload = True

        answer = await EndOfDay(h.terminal, checkpoint=after_643).settle()
        assert answer.body["status"] == "batchuploadfailed"
        rub, usd, eur = answer.body["sreport"]
        assert [s["cur"] for s in (rub, usd, eur)] == ["643", "840", "978"]
        assert [s["settlement-result"] for s in (rub, usd, eur)] == ["passed", "failed", "failed"]
        assert usd["batch-upload"] == "failed" and "resp-code" not in eur
        stack = decode_error_stack(answer.body["error-stack"])
        assert any("batch 000001 in 840 out of balance" in e for e in stack), stack
        assert any("in 978 not started: 840 did not pass" in e for e in stack), stack
        assert closed_currencies(h) == ["643"]
        # The batch is frozen; the next settlement does 840 and 978, not 643.
        refused = await h.transaction(type="purchase", amount="000000000100")
        assert "settled in 643 only" in errors(refused)[0]
        host(h).control.reconciliation_mismatch = False
        host(h).control.refuse_upload = False
        answer = await EndOfDay(h.terminal).settle()
        assert answer.body["status"] == "ok"
        assert [s["settlement-result"] for s in answer.body["sreport"]] == ["passed"] * 3
        assert closed_currencies(h) == ["643", "840", "978"]


# ---------------------------------------------------------------- forced settlement
FORCING = DOLLARS | {"settlement": {"forced-settlement": True}}


def out_of_balance_after_643(h: Harness) -> EndOfDay:
    """A settlement whose 643 passes, after which the host disagrees with 840's totals and
    refuses its batch upload."""

    async def after_643(name: str) -> None:
        await trio.lowlevel.checkpoint()
        if name == "recorded":
            host(h).control.reconciliation_mismatch = True
            host(h).control.refuse_upload = True

    return EndOfDay(h.terminal, checkpoint=after_643)


async def test_forced_settlement_of_the_second_currency(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, FORCING) as h:
        await two_currency_day(h)
        failed = await out_of_balance_after_643(h).settle()
        assert failed.body["status"] == "batchuploadfailed"
        assert closed_currencies(h) == ["643"]
        forced = await command(h, "settlement", password=PASSWORD, force="true")
        assert forced.status == "ok", errors(forced)
        rub, usd = as_list(forced.body["sreport"])
        # 643 as it passed before (never sent again); 840 forced with its own totals
        assert (rub["cur"], rub["rrn"]) == ("643", failed.body["sreport"][0]["rrn"])
        assert rub["orig-amount"] == rub["amount"] == "D000000010000"
        assert usd["cur"] == "840" and usd["settlement-result"] == "passed"
        assert usd["orig-amount"] == usd["amount"] == "D000000002000"
        assert host(h).counts["0520"] == 1 and host(h).counts["0500"] == 2
        assert closed_currencies(h) == ["643", "840"]
        batch_id, number = await h.terminal.journal.open_batch()
        rows = await h.terminal.journal.settlements(batch_id - 1)
        assert [(r.currency, r.state, r.outcome, r.forced) for r in rows] == [
            ("643", "passed", "in-balance", False),
            ("840", "failed", "out-of-balance", False),
            ("840", "passed", "forced", True),
        ]
        assert number == 2
        await approve(h, type="purchase", amount="000000000100", currency="840")


async def test_forced_settlement_of_the_first_currency_then_the_next_as_usual(
    tmp_path: Path,
) -> None:
    async with simulated_terminal(tmp_path, FORCING) as h:
        await two_currency_day(h)
        host(h).control.reconciliation_mismatch = True
        host(h).control.refuse_upload = True
        failed = await command(h, "settlement", password=PASSWORD)
        assert failed.status == "batchuploadfailed"
        assert [s["settlement-result"] for s in failed.body["sreport"]] == ["failed"] * 2
        host(h).control.reconciliation_mismatch = False
        host(h).control.refuse_upload = False
        forced = await command(h, "settlement", password=PASSWORD, force="true")
        assert forced.status == "ok", errors(forced)
        rub, usd = as_list(forced.body["sreport"])
        assert rub["orig-amount"] == "D000000010000" and usd["orig-amount"] == "D000000002000"
        # Only 643 is forced (0520); 840 is reconciled in balance (its own 0500).
        assert host(h).counts["0520"] == 1 and host(h).counts["0500"] == 2
        assert closed_currencies(h) == ["643", "840"]
        batch_id, _ = await h.terminal.journal.open_batch()
        rows = await h.terminal.journal.settlements(batch_id - 1)
        assert [(r.currency, r.outcome, r.forced) for r in rows] == [
            ("643", "out-of-balance", False),
            ("643", "forced", True),
            ("840", "in-balance", False),
        ]


async def test_a_forced_settlement_the_host_did_not_answer_is_repeated(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, FORCING) as h:
        await two_currency_day(h)
        await out_of_balance_after_643(h).settle()
        host(h).control.delay = 1.0  # beyond the 0.5 s response timeout: closed, unheard
        unheard = await command(h, "settlement", password=PASSWORD, force="true")
        assert unheard.status == "timeout"
        assert any("batch 000001 in 840 is unknown" in e for e in errors(unheard))
        assert closed_currencies(h) == ["643", "840"]
        blocked = await h.transaction(type="purchase", amount="000000000100")
        assert "unfinished" in errors(blocked)[0]
        await trio.sleep(1.0)
        host(h).control.delay = 0.0
        # The retry (no `force` needed) repeats the advice; the host's answer again.
        again = await command(h, "settlement", password=PASSWORD)
        assert again.status == "ok", errors(again)
        _, usd = as_list(again.body["sreport"])
        assert usd["orig-amount"] == usd["amount"] == "D000000002000"
        assert host(h).counts["0521"] == 1 and host(h).counts["replayed"] == 1
        assert closed_currencies(h) == ["643", "840"]
        batch_id, number = await h.terminal.journal.open_batch()
        last = (await h.terminal.journal.settlements(batch_id - 1))[-1]
        assert (last.currency, last.state, last.forced, last.attempts) == ("840", "passed", True, 2)
        assert number == 2


# ---------------------------------------------------------------- clear
async def test_clear_answers_and_archives_each_currency_on_its_own(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, DOLLARS) as h:
        await two_currency_day(h)  # 643: 100.00; 840: 25.00 - 5.00
        answer = await command(h, "clear", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        rub, usd = as_list(answer.body["sreport"])
        keys = ["resp-code", "approval-number", "rrn", "orig-amount", "amount", "datetime",
                "tid", "mid", "cur"]  # fmt: skip
        assert list(rub) == keys
        assert list(usd) == [k for k in keys if k != "amount"]
        assert (rub["cur"], usd["cur"]) == ("643", "840")
        assert rub["orig-amount"] == "D000000010000" and usd["orig-amount"] == "D000000002000"
        # The cutover asked for the host's totals in 643, and got them alone.
        assert cutover_request(h).fields[50] == "643"
        assert rub["amount"] == "D000000010000"
        # One cutover for the day: its answer in each currency's report.
        assert all(rub[k] == usd[k] for k in ("resp-code", "approval-number", "rrn"))
        assert host(h).counts["0800"] == 1
        journal = h.terminal.journal
        batch_id, number = await journal.open_batch()
        rows = await journal.settlements(batch_id - 1)
        assert [(r.kind, r.currency, r.state) for r in rows] == [
            ("clear", "643", "cleared"),
            ("clear", "840", "cleared"),
        ]
        assert [r.report for r in rows] == [rub, usd]
        assert rows[0].totals is not None and rows[1].totals is not None
        assert (rows[0].totals["debit-amount"], rows[0].totals["credit-amount"]) == (10_000, 0)
        assert (rows[1].totals["debit-amount"], rows[1].totals["credit-amount"]) == (2_500, 500)
        assert number == 2


def cutover_request(h: Harness) -> IsoMessage:
    (request,) = [r for r in host(h).requests if r.mti == "0800" and r.fields[70] == "201"]
    return request


async def test_a_terminal_of_one_currency_sends_the_plain_cutover(tmp_path: Path) -> None:
    """Only a terminal that takes several currencies names one in its 0800:
    for the others the cutover is on the wire as it always was."""
    async with simulated_terminal(tmp_path) as h:
        await approve(h, type="purchase", amount="000000010000")
        await h.settle_pending()
        answer = await command(h, "clear", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        assert 50 not in cutover_request(h).fields
        # The host's batch is in one currency: its totals come all the same.
        assert answer.body["sreport"]["amount"] == "D000000010000"


async def test_clear_after_one_currency_settled(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, DOLLARS) as h:
        await two_currency_day(h)
        await out_of_balance_after_643(h).settle()
        answer = await command(h, "clear", password=PASSWORD)
        assert answer.status == "ok", errors(answer)
        rub, usd = as_list(answer.body["sreport"])
        # 643 was closed at the host by its settlement: it holds nothing more in 643.
        assert rub["orig-amount"] == "D000000010000" and rub["amount"] == "D000000000000"
        assert usd["orig-amount"] == "D000000002000" and "amount" not in usd
        # Not frozen any more: the cleared batch is no longer "settled in 643 only".
        await approve(h, type="purchase", amount="000000000100", currency="840")


async def raw_clear(h: Harness) -> bytes:
    """The answer to `clear` as the terminal writes it on the wire."""
    client, server_side = trio.testing.memory_stream_pair()
    h.nursery.start_soon(h.server.handle_stream, server_side, "raw")
    peer = RawPeer(client)
    await peer.send(Message("clear", {"password": PASSWORD}))
    packet = await peer.read_packet()
    assert packet is not None
    await client.aclose()
    return packet


async def test_clear_in_one_currency_answers_the_manual_s_single_sreport(
    tmp_path: Path,
) -> None:
    async with simulated_terminal(tmp_path, DOLLARS) as h:
        await approve(h, type="purchase", amount="000000010000")
        await approve(h, type="refund", amount="000000002500")
        await h.settle_pending()
        packet = await raw_clear(h)
    found = re.search(
        rb"<approval-number>(\d{6})</approval-number>\s*<rrn>(\d{12})</rrn>.*"
        rb"<datetime>(\d{12})</datetime>",
        packet,
        re.S,
    )
    assert found is not None, packet
    approval, rrn, when = (g.decode() for g in found.groups())
    expected = (
        "<clear>\n"
        "  <status>ok</status>\n"
        "  <sreport>\n"
        "    <resp-code>000</resp-code>\n"
        f"    <approval-number>{approval}</approval-number>\n"
        f"    <rrn>{rrn}</rrn>\n"
        "    <orig-amount>D000000007500</orig-amount>\n"
        "    <amount>D000000007500</amount>\n"
        f"    <datetime>{when}</datetime>\n"
        "    <tid>10000001</tid>\n"
        "    <mid>123456789012345</mid>\n"
        "  </sreport>\n"
        "</clear>"
    )
    assert packet == expected.encode()
