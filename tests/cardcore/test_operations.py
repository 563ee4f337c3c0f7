"""The operations' decisions without a terminal: canned kernel outcomes and
host answers against a ledger that records what it is told (the real
transition table, no journal). Each case checks which events reach the
ledger and what happens to the transaction's queued reversal and advice."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from acquirers.iso8583.messages import FinancialResponse
from cardcore.config import build_config
from cardcore.engine import online
from cardcore.engine.card import CardOperation
from cardcore.engine.flow import Flow, Till
from cardcore.engine.request import Operation, TxnCommand
from cardcore.journal import TxnRecord
from cardcore.ledger.ledger import Entry, Ledger
from cardcore.ledger.states import Event, TxnState
from kernel.outcome import Decision, Outcome
from kernel.services import OnlineResponse, OnlineResult

APPROVED = Outcome(Decision.APPROVED_ONLINE)
DECLINED = Outcome(Decision.DECLINED, decline_reason="carddeclined")
OFFLINE = Outcome(Decision.APPROVED_OFFLINE, data={0x5A: bytes.fromhex("4761739001010010")})
UNABLE = Outcome(
    Decision.APPROVED_OFFLINE, unable_to_go_online=True,
    data={0x5A: bytes.fromhex("4761739001010010")},
)  # fmt: skip


class Stans:
    def __init__(self) -> None:
        self.value = 0

    def take(self) -> str:
        self.value += 1
        return f"{self.value:06d}"


@dataclass
class Commit:
    state: str
    drop: list[str]
    add: list[str]  # kinds
    inserted: bool


class RecordingLedger(Ledger):
    """The real table and consequences; commits recorded, not written."""

    def __init__(self) -> None:
        self.stans = Stans()  # type: ignore[assignment]
        self.events: list[Event] = []
        self.commits: list[Commit] = []

    def apply(self, entry: Entry, event: Event, **kwargs: Any) -> None:
        self.events.append(event)
        super().apply(entry, event, **kwargs)

    async def commit(self, entry: Entry, *names: str) -> None:
        inserted = not entry.stored
        self.commits.append(
            Commit(entry.record.state, list(entry._drop), [k for k, _ in entry._add], inserted)
        )
        if inserted:
            entry.record.id = 1
        entry._drop, entry._add, entry._names = [], [], set()


@dataclass
class FakeHost:
    """The host link as the operations see it: messages stored as their repr."""

    link: Any = field(default_factory=lambda: SimpleNamespace(terminal=None, dialect=None))
    pokes: int = 0

    def require(self) -> Any:
        return self.link

    def store(self, message: Any) -> bytes:
        return repr(message).encode()

    def poke(self) -> None:
        self.pokes += 1


class FakeTill(Till):
    def answer(self, ctx: Any, record: TxnRecord, outcome: Any) -> Any:
        return record

    async def batch(self) -> str:
        return "000001"


@pytest.fixture
def till() -> FakeTill:
    terminal = SimpleNamespace(
        config=build_config({}),
        ledger=RecordingLedger(),
        host=FakeHost(),
        journal=SimpleNamespace(protect_pan=lambda record, pan, keep: None),
        devices=SimpleNamespace(display=None, pinpad=None),
    )
    return FakeTill(terminal)  # type: ignore[arg-type]


def _flow(till: Till) -> Flow:
    command = TxnCommand(Operation.PURCHASE, 1500, 0, "643")
    return till.new_flow(command)


async def _online(till: Till, flow: Flow, approved: bool | None) -> None:
    """A request sent (its reversal queued and committed) and the host's
    answer (None: none came)."""
    ledger = till.ledger
    assert isinstance(ledger, RecordingLedger)
    flow.request = SimpleNamespace(name="0200")  # type: ignore[assignment]
    till.stans(flow)
    ledger.apply(flow.entry, Event.REQUEST_SENT, undo=b"timeout reversal")
    await ledger.commit(flow.entry)
    ledger.commits.clear()
    flow.request_sent = True
    if approved is not None:
        flow.response = FinancialResponse(
            response_code="00" if approved else "05", rrn="633218000001",
            auth_code="AB12CD" if approved else None, approved=approved, icc_data=None,
            additional_amounts=[], message=None,  # type: ignore[arg-type]
        )  # fmt: skip
        ledger.apply(flow.entry, Event.HOST_APPROVED if approved else Event.HOST_DECLINED)


@pytest.fixture(autouse=True)
def _reversals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reversals as the reason they carry, advices as their name."""
    monkeypatch.setattr(online, "build_reversal", lambda *a, reason, **k: f"reversal {reason}")
    monkeypatch.setattr("cardcore.engine.card.original_message", lambda *a, **k: "advice 0220")
    monkeypatch.setattr(
        online,
        "reversal",
        lambda till, flow, reason: f"reversal naming the answer {reason}".encode(),
    )


async def _finish(till: Till, flow: Flow, outcome: Outcome) -> RecordingLedger:
    op = CardOperation(till, sbp=None)  # type: ignore[arg-type]
    await op._finish(SimpleNamespace(secure=False), flow, outcome)  # type: ignore[arg-type]
    ledger = till.ledger
    assert isinstance(ledger, RecordingLedger)
    return ledger


async def test_host_and_card_approve_the_reversal_goes(till: Till) -> None:
    flow = _flow(till)
    await _online(till, flow, approved=True)
    ledger = await _finish(till, flow, APPROVED)
    assert ledger.events[-1] is Event.CARD_APPROVED
    (commit,) = ledger.commits
    assert (commit.state, commit.drop, commit.add) == ("approved", ["reversal"], [])
    assert flow.record.tstatus == "approved"


async def test_host_approves_and_the_card_declines_the_reversal_names_the_answer(
    till: Till,
) -> None:
    flow = _flow(till)
    await _online(till, flow, approved=True)
    ledger = await _finish(till, flow, DECLINED)
    (commit,) = ledger.commits
    assert commit.state == TxnState.CANCELLED
    assert (commit.drop, commit.add) == (["reversal"], ["reversal"])  # renewed
    assert (flow.record.tstatus, flow.record.decline_reason) == ("declined", "carddeclined")


async def test_host_declines_nothing_is_left_to_undo(till: Till) -> None:
    flow = _flow(till)
    await _online(till, flow, approved=False)
    ledger = await _finish(till, flow, DECLINED)
    assert ledger.events[-1] is Event.HOST_DECLINED  # the card's decline changes nothing
    (commit,) = ledger.commits
    assert (commit.state, commit.drop, commit.add) == ("declined", ["reversal"], [])
    assert flow.record.decline_reason == "onlinedeclined"


async def test_offline_approval_is_one_insert_with_its_advice(till: Till) -> None:
    flow = _flow(till)
    ledger = await _finish(till, flow, OFFLINE)
    (commit,) = ledger.commits
    assert (commit.state, commit.add, commit.inserted) == ("approved", ["advice"], True)
    assert flow.record.stan and flow.record.extra["original-mti"] == "0220"


async def test_host_unreachable_and_the_card_approves_keeps_the_reversal_and_tells(
    till: Till,
) -> None:
    flow = _flow(till)
    await _online(till, flow, approved=None)
    ledger = await _finish(till, flow, UNABLE)
    (commit,) = ledger.commits
    assert (commit.state, commit.drop, commit.add) == ("approved", [], ["advice"])


async def test_a_request_that_never_left_drops_its_reversal(till: Till) -> None:
    flow = _flow(till)
    await _online(till, flow, approved=None)
    till.ledger.apply(flow.entry, Event.NOT_SENT)
    ledger = await _finish(till, flow, DECLINED)
    (commit,) = ledger.commits
    assert (commit.state, commit.drop) == (TxnState.CANCELLED, ["reversal"])


@pytest.mark.parametrize(
    ("approved", "expected"),
    [
        (True, ("cancelled", ["reversal"], ["reversal"])),  # renewed, naming the answer
        (None, ("cancelled", [], [])),  # the stored reversal goes as it is
        (False, ("declined", ["reversal"], [])),  # the host declined: nothing to undo
    ],
)
async def test_an_interrupted_flow_undoes_what_reached_the_host(
    till: Till, approved: bool | None, expected: tuple[str, list[str], list[str]]
) -> None:
    flow = _flow(till)
    await _online(till, flow, approved=approved)
    await online.abort(till, flow)
    ledger = till.ledger
    assert isinstance(ledger, RecordingLedger)
    (commit,) = ledger.commits
    assert (commit.state, commit.drop, commit.add) == expected


async def test_an_approval_cancelled_before_its_answer_went_out_is_reversed(
    till: Till, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = _flow(till)
    ledger = await _finish(till, flow, OFFLINE)

    async def original(record: TxnRecord) -> str:
        return "the 0220"

    monkeypatch.setattr(till, "original_message", original)
    await online.abort(till, flow)
    assert ledger.events[-1] is Event.CANCELLED_AFTER_APPROVAL
    commit = ledger.commits[-1]
    assert (commit.state, commit.drop, commit.add) == ("cancelled", ["advice"], ["reversal"])


@pytest.mark.parametrize(
    ("result", "state", "drop"),
    [
        (OnlineResult.APPROVED, "approved", ["reversal"]),
        (OnlineResult.UNABLE_TO_GO_ONLINE, "cancelled", []),
        (OnlineResult.DECLINED, "declined", ["reversal"]),
    ],
)
async def test_the_host_alone_decides_without_the_card(
    till: Till, result: OnlineResult, state: str, drop: list[str]
) -> None:
    flow = _flow(till)
    await _online(till, flow, approved=None if result is OnlineResult.UNABLE_TO_GO_ONLINE else
            result is OnlineResult.APPROVED)  # fmt: skip

    async def display(*args: Any, **kwargs: Any) -> None:
        pass

    till.display = display  # type: ignore[method-assign]
    await online.finish_host_only(till, SimpleNamespace(), flow, OnlineResponse(result))  # type: ignore[arg-type]
    ledger = till.ledger
    assert isinstance(ledger, RecordingLedger)
    (commit,) = ledger.commits
    assert (commit.state, commit.drop) == (state, drop)
    if result is OnlineResult.UNABLE_TO_GO_ONLINE:
        assert flow.record.decline_reason == "unabletoonline"


def test_flow_time_is_whole_seconds(till: Till) -> None:
    flow = _flow(till)
    assert flow.when.microsecond == 0 and flow.when.tzinfo is not None
    assert dt.datetime.fromisoformat(flow.record.datetime) == flow.when
