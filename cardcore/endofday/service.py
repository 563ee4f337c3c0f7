# Strategy: the end-of-day operations behind the ECR commands.
# - report (manual «Отчет»): an Answer whose X-report is streamed from the
#   journal into the answer (report.py, server: Answer.stream).
# - settlement (manual «Сверка итогов»), a durable state machine (states.py)
#   kept in the journal's `settlements` table:
#     1. pending reversals and advices go first (store-and-forward order: the
#        host must have them before the totals are compared); if they cannot
#        be delivered, nothing else happens and the batch stays open;
#     2. the terminal's totals (totals.py) are computed and the settlement is
#        recorded as `reconciling` BEFORE the first message leaves: from then
#        on transactions are refused until the outcome is known;
#     3. 0500 92 (or, forced, 0520); on 95 every transaction is uploaded
#        (0320) and the batch closed with 0500 96 on the same connection
#        (acquirers.link.settle); from the record in 2 to the one in 4
#        nothing is interrupted by a cancel;
#     4. the answer decides, in one commit: passed -> the batch is archived and
#        the next opened; refused or never sent -> failed, the batch stays open;
#        no answer to a message that may have arrived -> still reconciling;
#     5. a retry of a `reconciling` settlement re-sends the same batch number
#        and totals; the host answers a repeat of a batch it has closed with
#        the answer that closed it (simulators.host), so a crash anywhere
#        neither loses the batch nor closes it twice;
#     6. with `[settlement] cutover = true`, the cutover (0800, 201) follows a
#        passed settlement; its result is added to the recorded sreport.
#   A batch holding card transactions in currencies besides the terminal's
#   (acquirer.currencies) is settled once per currency, the terminal's
#   first, then by code: steps 2-4 run for each, with its own row in
#   `settlements` (its currency, totals and state) and its own 0500 (fields
#   49 and 50 name it). A currency whose row passed is never sent again; the
#   batch closes in the commit of the last currency's success. The run stops
#   at the first currency that does not pass; while some currencies of the
#   open batch passed and others not, transactions are refused as for an
#   unknown outcome (the host closed part of its batch), until a settlement
#   finishes the rest or `clear` archives the batch. The answer has an
#   <sreport> per currency.
#   `force` is accepted only when the acquirer allows it (`[settlement]
#   forced-settlement`) and the last settlement of this batch failed out of
#   balance; it sends a 0520 reconciliation advice for the currency that
#   failed, and the currencies after it are reconciled as usual.
# - clear (manual «Очистка журнала»): clear.py.
# - testconnection: 0800 echo, main host then mirror; loadworkkeys: 0800 key
#   exchange under the master keys, KCV-checked before anything is stored.
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import trio

from acquirers.errors import AcquirerError, MessageBuildError
from acquirers.iso8583.messages import BatchRecord, NetworkResponse
from acquirers.iso8583.messages import ReconciliationResponse as Answer0510
from acquirers.link import AcquirerLink
from base.errors import CardcoreError
from cardcore.connection import Answer
from cardcore.endofday import answers
from cardcore.endofday import totals as rules
from cardcore.endofday.clear import clear_journal, run_cutover
from cardcore.endofday.report import write_xreport
from cardcore.endofday.states import SettlementEvent as Event
from cardcore.endofday.states import SettlementState as State
from cardcore.endofday.states import next_state
from cardcore.engine.receipt import format_datetime, response_code_3
from cardcore.journal import CUTOVER_KIND, Journal, JournalError, Pending, SettlementRow
from cardcore.ledger.ledger import StanCounter
from cardcore.protocol.status import status_of
from cardcore.protocol.xmlcodec import Body, XmlWriter
from cardcore.terminal import Terminal

__all__ = [
    "EndOfDay",
    "ForceNotAllowed",
    "HostRefused",
    "Progress",
    "SettlementUnfinished",
    "check_no_unfinished_settlement",
]

log = logging.getLogger(__name__)


class SettlementUnfinished(CardcoreError):
    """A settlement's outcome is unknown: transactions wait for it."""


class ForceNotAllowed(CardcoreError):
    """`force` given where a forced settlement is not allowed."""


class HostRefused(CardcoreError):
    """The host answered, but not with success."""


async def check_no_unfinished_settlement(journal: Journal) -> None:
    """Refuse a transaction while a settlement's outcome at the host is unknown."""
    row = await journal.unresolved_settlement()
    if row is not None and row.state == State.PASSED:
        number = await journal.batch_number(row.batch_id)
        raise SettlementUnfinished(
            f"settlement of batch {number:06d} is unfinished (settled in {row.currency} only):"
            " run settlement again before new transactions"
        )
    if row is not None:
        number = await journal.batch_number(row.batch_id)
        raise SettlementUnfinished(
            f"settlement of batch {number:06d} is unfinished (the host's answer was not"
            " received): run settlement again before new transactions"
        )


@dataclass
class Attempt:
    """What one exchange with the host established."""

    event: Event
    outcome: str  # in-balance, uploaded, forced, out-of-balance, refused, not-sent, unknown
    status: str = "ok"
    errors: list[str] = field(default_factory=list)
    final: Answer0510 | None = None
    upload: bool | None = None
    art: str | None = None


@dataclass
class Progress:
    """How far a long part of an operation is, for the keepalives the cash
    register gets meanwhile: `<keepalive><progress><operation>batch-upload
    </operation><done>120</done><total>1000</total></progress></keepalive>`
    (docs/protocol-decisions.md). Nothing while no such part runs: the
    manual's bare `<keepalive/>`."""

    operation: str | None = None
    done: int = 0
    total: int = 0

    def start(self, operation: str, total: int) -> None:
        self.operation, self.done, self.total = operation, 0, total

    def keepalive_body(self) -> Body:
        if self.operation is None:
            return {}
        return {
            "progress": {
                "operation": self.operation,
                "done": str(self.done),
                "total": str(self.total),
            }
        }


class ReservedStans:
    """STANs for one settlement, reserved from the terminal's counter a block
    at a time: one write per block instead of one per message, as a batch
    upload sends a 0320 per transaction. STANs left unused are skipped, which
    costs nothing (they must be unique, not contiguous)."""

    def __init__(self, stans: StanCounter, block: int) -> None:
        self._stans = stans
        self._block = max(1, min(block, 10_000))
        self._next = 0
        self._left = 0

    def next_stan(self) -> str:
        if not self._left:
            self._next = self._stans.reserve(self._block)
            self._left = self._block
        value = self._next
        self._next = value % 999_999 + 1
        self._left -= 1
        return f"{value:06d}"


# The store-and-forward messages of the acquirer (the rest are the SBP agent's).
ISO_PENDING = ("reversal", "advice")

# Crash points the tests stop at (a no-op in the terminal).
Checkpoint = Callable[[str], Awaitable[None]]


async def _no_checkpoint(name: str) -> None:
    await trio.lowlevel.checkpoint()


class EndOfDay:
    def __init__(self, terminal: Terminal, checkpoint: Checkpoint = _no_checkpoint) -> None:
        self.terminal = terminal
        self.checkpoint = checkpoint

    # --- helpers ------------------------------------------------------------
    def _sreport(
        self,
        summary: rules.HostSummary,
        now: dt.datetime,
        currency: str,
        *,
        attempt: Attempt | None,
        passed: bool,
        cutover: NetworkResponse | None = None,
    ) -> dict[str, str]:
        """Every field of the manual's «Сверка итогов» sreport, in its order."""
        term = self.terminal.config.terminal
        final = attempt.final if attempt else None
        out: dict[str, str] = {}
        if final is not None:
            out["resp-code"] = response_code_3(final.response_code) or ""
            if final.approval_code:
                out["approval-number"] = final.approval_code
            if final.rrn:
                out["rrn"] = final.rrn
        out["orig-amount"] = rules.signed_amount(summary.totals.net)
        if final is not None and final.host_totals is not None:
            out["amount"] = rules.signed_amount(final.host_totals.net)
        out["datetime"] = answers.stamp(now)
        out["tid"] = term.tid or ""
        out["mid"] = term.mid or ""
        out["cur"] = currency
        if summary.first and summary.last:
            out["from"] = format_datetime(summary.first)
            out["to"] = format_datetime(summary.last)
        out["tnum"] = str(summary.count)
        if attempt is not None and attempt.upload is not None:
            out["batch-upload"] = "passed" if attempt.upload else "failed"
        if attempt is not None and attempt.art is not None:
            out["art-resp-code"] = attempt.art
        if cutover is not None:
            out["cov-resp-code"] = cutover.response_code
            if cutover.approved and cutover.rrn:
                out["cov-rrn"] = cutover.rrn
        out["settlement-result"] = "passed" if passed else "failed"
        return out

    def _answer(self, status: str, sreports: list[dict[str, str]], errors: list[str]) -> Answer:
        """Settlement's answer: an <sreport> per currency, in the order they
        were settled."""
        bank = self.terminal.config.acquirer.bank_name
        return answers.answer(status, sreports, errors, bank_name=bank)

    # --- report ---------------------------------------------------------------
    async def report(self, *, full: bool) -> Answer:
        journal, config = self.terminal.journal, self.terminal.config
        batch_id, _ = await journal.open_batch()
        now = answers.now()

        def stream(writer: XmlWriter) -> None:
            write_xreport(writer, journal, config, batch_id, full=full, now=now)

        return Answer(stream=stream)

    # --- settlement -----------------------------------------------------------
    def _check_force(self, history: list[SettlementRow]) -> None:
        if not self.terminal.config.settlement.forced_settlement:
            raise ForceNotAllowed("the acquirer does not allow forced settlement")
        done = [row for row in history if row.kind == "settlement"]
        if not done or done[-1].state != State.FAILED or done[-1].outcome != "out-of-balance":
            raise ForceNotAllowed(
                "forced settlement is allowed only after a settlement that failed out of balance"
            )

    async def settle(self, *, force: bool = False, progress: Progress | None = None) -> Answer:
        terminal = self.terminal
        journal, host = terminal.journal, terminal.host
        link = host.require()
        own = terminal.config.terminal.currency
        batch_id, number = await journal.open_batch()
        batch = f"{number:06d}"
        groups = await journal.batch_groups(batch_id)
        approved = rules.host_approved(link)
        currencies = rules.batch_currencies(own, groups, approved)
        history = await journal.settlements(batch_id)
        # Each currency's last settlement: passed ones are never sent again.
        latest = {(r.currency or own): r for r in history if r.kind == "settlement"}
        todo = [c for c in currencies if getattr(latest.get(c), "state", None) != State.PASSED]
        unresolved = next((r for r in reversed(history) if r.state == State.RECONCILING), None)
        if unresolved is not None:
            if force and not unresolved.forced:
                raise ForceNotAllowed(
                    f"the outcome of the last settlement of batch {batch} is not known yet:"
                    " run settlement without force"
                )
            forced_currency = (unresolved.currency or own) if unresolved.forced else None
        elif force:
            self._check_force(history)
            forced_currency = history[-1].currency or own
        else:
            forced_currency = None
        now = answers.now()
        summaries = {c: rules.host_summary(groups, approved, c) for c in currencies}
        reports = {c: latest[c].report or {} for c in currencies if c not in todo}
        # 1. Store-and-forward first. Only the acquirer's lane must be empty:
        # an SBP refund the agent has not taken yet does not hold the card batch.
        await host.ensure_working_keys()
        await host.flush()
        left = await journal.count_pending(ISO_PENDING)
        if left:
            for c in todo:
                reports[c] = self._sreport(summaries[c], now, c, attempt=None, passed=False)
            return self._answer(
                "communicationerror",
                [reports[c] for c in currencies],
                [
                    f"{left} pending reversal(s)/advice(s) could not be delivered to the host;"
                    f" settlement of batch {batch} not started, the batch stays open"
                ],
            )
        # 2-4, once per currency in order, each on record before its first
        # message leaves; the batch is closed with the last one's success.
        status, errors = "ok", []
        owed: tuple[SettlementRow, Attempt] | None = None
        several = len(currencies) > 1
        for i, cur in enumerate(todo):
            summary = summaries[cur]
            label = f"{batch} in {cur}" if several else batch
            last = i == len(todo) - 1
            attempt, row, state = await self._settle_currency(
                link, batch_id, cur, batch, label, summary, latest.get(cur),
                forced=cur == forced_currency, last=last, progress=progress, now=now,
            )  # fmt: skip
            reports[cur] = self._sreport(
                summary, now, cur, attempt=attempt, passed=state == State.PASSED
            )
            if state != State.PASSED:
                status, errors = attempt.status, list(attempt.errors)
                for rest in todo[i + 1 :]:
                    reports[rest] = self._sreport(
                        summaries[rest], now, rest, attempt=None, passed=False
                    )
                    errors.append(
                        f"settlement of batch {batch} in {rest} not started: {cur} did not pass"
                    )
                break
            if last and terminal.config.settlement.cutover:
                owed = row, attempt
        # 6. Cutover after the batch closed (the last currency's settlement).
        if owed is not None:
            row, attempt = owed
            cur = row.currency or own
            async with host.lock:
                queued = [
                    p for p in await journal.pending(CUTOVER_KIND) if p.payload == b"%d" % row.id
                ]
                if queued:  # (else store-and-forward got there first)
                    cutover, error = await run_cutover(self.terminal, link)
                    if error:
                        errors.append(error)
                    # No answer: no cov-resp-code (the error stack says why);
                    # the queued cutover stays for store-and-forward.
                    reports[cur] = self._sreport(
                        summaries[cur], now, cur, attempt=attempt,
                        passed=True, cutover=cutover,
                    )  # fmt: skip
                    await journal.annotate_settlement(
                        row.id, reports[cur], resolve=queued[0].id if cutover is not None else None
                    )
        return self._answer(status, [reports[c] for c in currencies], errors)

    async def _settle_currency(
        self,
        link: AcquirerLink,
        batch_id: int,
        currency: str,
        number: str,
        label: str,
        summary: rules.HostSummary,
        previous: SettlementRow | None,
        *,
        forced: bool,
        last: bool,
        progress: Progress | None,
        now: dt.datetime,
    ) -> tuple[Attempt, SettlementRow, State]:
        """One currency's reconciliation, from its record to the record of its
        outcome; nothing in it is interrupted by a cancel (each exchange is
        bounded by the link's timeouts)."""
        journal = self.terminal.journal
        totals = answers.totals_json(summary.totals)
        with trio.CancelScope(shield=True):
            if previous is not None and previous.state == State.RECONCILING:
                if previous.totals != totals:  # cannot happen: the batch was frozen
                    log.error("batch %s changed during an unfinished settlement", label)
                row = await journal.retry_settlement(
                    previous.id, next_state(previous.state, Event.SENDING)
                )
            else:
                row = await journal.begin_settlement(
                    batch_id,
                    kind="settlement",
                    state=next_state(State.NEW, Event.SENDING),
                    forced=forced,
                    totals=totals,
                    currency=currency,
                )
            log.info(
                "settlement of batch %s (attempt %d%s): %d transactions, net %d",
                label, row.attempts, ", forced" if row.forced else "", summary.count,
                summary.totals.net,
            )  # fmt: skip
            await self.checkpoint("started")
            attempt = await self._exchange(
                link, row, summary, batch_id, number, progress, currency, label
            )
            await self.checkpoint("answered")
            state = next_state(row.state, attempt.event)
            passed = state == State.PASSED
            close = passed and last
            sreport = self._sreport(summary, now, currency, attempt=attempt, passed=passed)
            # The cutover a passed settlement owes is queued in the same
            # commit that closes the batch: a crash before it ran leaves it to
            # store-and-forward (send_cutover), never forgotten.
            owed = close and self.terminal.config.settlement.cutover
            if state in (State.PASSED, State.FAILED):
                await journal.finish_settlement(
                    row.id,
                    state,
                    outcome=attempt.outcome,
                    report=sreport,
                    close_batch=close,
                    queue=CUTOVER_KIND if owed else None,
                )
            await self.checkpoint("recorded")
        log.info("settlement of batch %s: %s (%s)", label, state, attempt.outcome)
        return attempt, row, state

    async def send_cutover(self, pending: Pending) -> bool:
        """Store-and-forward of a cutover a settlement queued (the terminal
        stopped before it ran, or the host was unreachable): run it and add
        its answer to the settlement's recorded sreport."""
        journal, host = self.terminal.journal, self.terminal.host
        link = host.link
        if link is None:
            return False
        cutover, error = await run_cutover(self.terminal, link)
        if cutover is None:
            await journal.pending_attempt(pending.id, error)
            return False
        if error:
            log.warning("queued %s", error)
        row = await journal.settlement(int(pending.payload))
        report = dict(row.report or {})
        result = report.pop("settlement-result", None)
        report["cov-resp-code"] = cutover.response_code
        if cutover.approved and cutover.rrn:
            report["cov-rrn"] = cutover.rrn
        if result is not None:
            report["settlement-result"] = result  # the manual's order: last
        await journal.annotate_settlement(row.id, report, resolve=pending.id)
        log.info("queued cutover after settlement %d: %s", row.id, cutover.response_code)
        return True

    async def _exchange(
        self,
        link: AcquirerLink,
        row: SettlementRow,
        summary: rules.HostSummary,
        batch_id: int,
        batch: str,
        progress: Progress | None = None,
        currency: str | None = None,
        label: str | None = None,
    ) -> Attempt:
        """``label``: how the errors name the batch (with the currency when
        it holds several)."""
        retry = row.attempts > 1
        number, batch = batch, label or batch
        try:
            if row.forced:
                answer = await link.force_close(
                    summary.totals, batch=number, repeat=retry, currency=currency
                )
                if answer.in_balance:
                    return Attempt(Event.AGREED, "forced", final=answer)
                return Attempt(
                    Event.REFUSED,
                    "refused",
                    "failed",
                    [f"forced settlement of batch {batch} refused ({answer.response_code})"],
                    final=answer,
                )
            stans = ReservedStans(self.terminal.ledger.stans, summary.count + 2)
            records_of = self._upload_records(
                link, batch_id, summary.count, progress, currency or row.currency
            )
            async with aclosing(records_of) as records:
                result = await link.settle(
                    summary.totals, records, batch=number, stan=stans, currency=currency
                )
        except AcquirerError as exc:
            if exc.request_sent or retry:
                return Attempt(
                    Event.UNKNOWN,
                    "unknown",
                    status_of(exc),
                    [
                        exc.message,
                        f"the outcome of the settlement of batch {batch} is unknown: transactions"
                        " are held until settlement is run again",
                    ],
                )
            return Attempt(
                Event.NOT_SENT,
                "not-sent",
                status_of(exc),
                [exc.message, f"settlement of batch {batch} not done; the batch stays open"],
            )
        upload = result.batch_upload
        art = result.closing.response_code if result.closing is not None else None
        if result.passed:
            outcome = "uploaded" if upload else "in-balance"
            return Attempt(Event.AGREED, outcome, final=result.final, upload=upload, art=art)
        if result.closing_unknown:
            return Attempt(
                Event.UNKNOWN,
                "unknown",
                "communicationerror",
                [
                    result.upload_error or "no answer to the closing of the batch upload",
                    f"the outcome of the settlement of batch {batch} is unknown: transactions"
                    " are held until settlement is run again",
                ],
                final=result.reconciliation,
                upload=upload,
            )
        if result.reconciliation.out_of_balance:
            errors = [f"batch {batch} out of balance and the batch upload did not settle it"]
            if result.upload_error:
                errors.append(result.upload_error)
            return Attempt(
                Event.REFUSED,
                "out-of-balance",
                "batchuploadfailed",
                errors,
                final=result.final,
                upload=upload,
                art=art,
            )
        code = result.reconciliation.response_code
        return Attempt(
            Event.REFUSED,
            "refused",
            "failed",
            [f"settlement of batch {batch} refused by the host ({code})"],
            final=result.reconciliation,
        )

    async def _upload_records(
        self,
        link: AcquirerLink,
        batch_id: int,
        total: int,
        progress: Progress | None,
        currency: str | None,
    ) -> AsyncGenerator[BatchRecord, None]:
        """The acquirer's records of the batch, streamed for the batch upload
        (which the host asks for only after the totals: this runs then), each
        counted in ``progress`` as the link takes it."""
        journal = self.terminal.journal
        approved = rules.host_approved(link)
        conv = link.dialect.conventions
        if progress is not None:
            progress.start("batch-upload", total)
        own = self.terminal.config.terminal.currency
        async for chunk in journal.batch_chunks(
            batch_id,
            where="channel = 'card' AND operation != 'void' AND currency = ?",
            args=(currency or own,),
        ):
            for record in chunk:
                try:
                    pan = journal.reveal_pan(record)
                except JournalError as exc:
                    raise MessageBuildError(f"transaction {record.seq}: {exc.message}") from None
                found = rules.batch_record(record, pan, approved, conv)
                if found is not None:
                    yield found
                    if progress is not None:
                        progress.done += 1

    # --- clear ----------------------------------------------------------------
    async def clear(self) -> Answer:
        return await clear_journal(self.terminal, self.checkpoint)

    # --- host checks and keys -------------------------------------------------
    async def test_connection(self) -> Answer:
        link = self.terminal.host.require()
        host, answer = await link.test_connection()
        if not answer.approved:
            raise HostRefused(f"{host}: echo test answered {answer.response_code}")
        log.info("connection test: %s answered", host)
        return Answer()

    async def load_work_keys(self) -> Answer:
        # KeyCheckError (verificationfailed) leaves every key as it was.
        result = await self.terminal.host.exchange_working_keys()
        body: dict[str, Any] = {}
        if result.mac_rrn:
            body["mac-change-receipt"] = {"rrn": result.mac_rrn}
        if result.pin_rrn:
            body["net-change-receipt"] = {"rrn": result.pin_rrn}
        return Answer(body)
