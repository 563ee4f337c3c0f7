"""pay_by_qr against the real simulator on a virtual clock: outcomes, failures, cancellation."""

from __future__ import annotations

from functools import partial

import msgspec
import pytest
import trio
from trio.testing import MockClock

from acquirers.http import Request, Response, Router, serve
from acquirers.sbp import (
    PaymentStatus,
    RegisteredQr,
    SbpClient,
    SbpCommunicationError,
    SbpFailed,
    SbpPaid,
    SbpProtocolError,
    SbpRejected,
    SbpTimeoutError,
    pay_by_qr,
)
from cardcore.protocol.status import status_of
from simulators.sbp import QrState

from .conftest import RunningSim, make_config


class Screen:
    """Stands in for the engine's displayqrcode show."""

    def __init__(self, agent: RunningSim | None = None) -> None:
        self.shown: list[RegisteredQr] = []
        self.polls_before_show: int | None = None
        self.agent = agent

    async def show(self, qr: RegisteredQr) -> None:
        if self.agent is not None:
            self.polls_before_show = self.agent.sim.calls["payment-info"]
        self.shown.append(qr)


async def test_paid(autojump_clock: MockClock, client: SbpClient, agent: RunningSim) -> None:
    screen = Screen(agent)
    outcome = await pay_by_qr(client, 12300, on_qr=screen.show, order="seq-000001")
    assert isinstance(outcome, SbpPaid)
    assert screen.shown == [outcome.qr] and screen.polls_before_show == 0
    assert outcome.amount == 12300 and outcome.qr.order == "seq-000001"
    assert outcome.operation_id.isdigit() and outcome.info.status is PaymentStatus.SUCCESS
    record = agent.ledger.qr(outcome.qr.qrc_id)
    assert record.state is QrState.PAID and str(record.operation_id) == outcome.operation_id
    assert agent.sim.calls["payment-info"] >= 3  # polled until the customer paid


async def test_rejected(autojump_clock: MockClock, client: SbpClient, agent: RunningSim) -> None:
    agent.control.set_mode("reject")
    screen = Screen()
    outcome = await pay_by_qr(client, 500, on_qr=screen.show)
    assert isinstance(outcome, SbpRejected)
    assert outcome.info.status is PaymentStatus.DECLINED and len(screen.shown) == 1
    assert agent.ledger.paid_total == 0


async def test_never_paid_polls_until_cancelled(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim
) -> None:
    agent.control.set_mode("none")
    screen = Screen()
    outcome = None
    with trio.move_on_after(120) as scope:  # the engine's detection timeout
        outcome = await pay_by_qr(client, 500, on_qr=screen.show)
    assert scope.cancelled_caught and outcome is None
    assert agent.sim.calls["payment-info"] > 100
    assert agent.ledger.qr(screen.shown[0].qrc_id).state is QrState.NEW


async def test_mode_switched_while_the_qr_is_shown(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim, nursery: trio.Nursery
) -> None:
    agent.control.set_mode("none")

    async def operator() -> None:
        await trio.sleep(30)
        agent.control.set_mode("pay")  # `cardcore sim sbp pay`

    nursery.start_soon(operator)
    outcome = await pay_by_qr(client, 500, on_qr=Screen().show)
    assert isinstance(outcome, SbpPaid)
    assert trio.current_time() >= 30


async def test_in_progress_keeps_polling(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim
) -> None:
    agent.control.confirm_delay = 5
    outcome = await pay_by_qr(client, 500, on_qr=Screen().show)
    assert isinstance(outcome, SbpPaid)


async def test_registration_failure_shows_nothing(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim
) -> None:
    agent.control.set_fault(500)
    screen = Screen()
    outcome = await pay_by_qr(client, 500, on_qr=screen.show)
    assert isinstance(outcome, SbpFailed)
    assert outcome.qr is None and not outcome.shown and screen.shown == []
    assert isinstance(outcome.error, SbpCommunicationError)


async def test_poll_answered_500(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim
) -> None:
    async def show_then_break(qr: RegisteredQr) -> None:
        agent.control.set_fault(500)

    outcome = await pay_by_qr(client, 500, on_qr=show_then_break)
    assert isinstance(outcome, SbpFailed) and outcome.shown
    assert status_of(outcome.error) == "communicationerror"
    assert agent.sim.calls["payment-info"] == 1  # max_poll_errors 0: the first failure ends it


async def test_agent_stopped_during_polling(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim
) -> None:
    async def show_then_stop(qr: RegisteredQr) -> None:
        agent.stop()

    outcome = await pay_by_qr(client, 500, on_qr=show_then_stop)
    assert isinstance(outcome, SbpFailed) and outcome.shown
    assert isinstance(outcome.error, SbpCommunicationError)


async def test_poll_timeout(autojump_clock: MockClock, agent: RunningSim) -> None:
    async def show_then_slow(qr: RegisteredQr) -> None:
        agent.control.response_delay = 60

    async with SbpClient(make_config(agent.url, request_timeout=5)) as sbp:
        outcome = await pay_by_qr(sbp, 500, on_qr=show_then_slow)
    assert isinstance(outcome, SbpFailed) and isinstance(outcome.error, SbpTimeoutError)
    assert status_of(outcome.error) == "timeout"


async def test_tolerated_poll_errors(
    autojump_clock: MockClock, agent: RunningSim, nursery: trio.Nursery
) -> None:
    async def heal() -> None:
        await trio.sleep(2.5)  # two failed polls
        agent.control.set_fault(None)

    async def show_then_break(qr: RegisteredQr) -> None:
        agent.control.set_fault(502)
        nursery.start_soon(heal)

    async with SbpClient(make_config(agent.url, max_poll_errors=2)) as sbp:
        outcome = await pay_by_qr(sbp, 500, on_qr=show_then_break)
    assert isinstance(outcome, SbpPaid)

    async with SbpClient(make_config(agent.url, max_poll_errors=1)) as sbp:
        outcome = await pay_by_qr(sbp, 500, on_qr=show_then_break)
    assert isinstance(outcome, SbpFailed)


@pytest.mark.parametrize("where", ["sleeping", "requesting", "showing"])
async def test_cancellation_propagates(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim, where: str
) -> None:
    agent.control.set_mode("none")
    reached = trio.Event()

    async def show(qr: RegisteredQr) -> None:
        if where == "showing":
            reached.set()
            await trio.sleep_forever()  # the ECR client is slow to answer
        if where == "requesting":
            agent.control.response_delay = 1000  # polls hang inside httpx
        reached.set()

    outcome = None
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:

            async def canceller() -> None:
                await reached.wait()
                await trio.sleep(2.5)  # mid-sleep or mid-request
                scope.cancel()

            nursery.start_soon(canceller)
            outcome = await pay_by_qr(client, 500, on_qr=show)
    assert scope.cancelled_caught and outcome is None


async def test_callback_errors_propagate(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim
) -> None:
    class EcrGone(Exception):
        pass

    async def show(qr: RegisteredQr) -> None:
        raise EcrGone

    with pytest.raises(EcrGone):
        await pay_by_qr(client, 500, on_qr=show)
    (record,) = agent.ledger.records()
    assert (await client.cancel_qr(record.qrc_id)).status is PaymentStatus.NO_INFO
    assert agent.ledger.qr(record.qrc_id).state is QrState.CANCELLED


async def test_paid_with_another_amount_is_not_paid(
    autojump_clock: MockClock, nursery: trio.Nursery
) -> None:
    qrc_id = "AD100004BAL7227F9BNP6KNE007J9B3K"
    payload = "https://qr.nspk.ru/AD100004BAL7227F9BNP6KNE007J9B3K?type=02&bank=100000000007&sum=1&cur=RUB&crc=AB75"
    router = Router()

    async def register(request: Request) -> Response:
        body = {"code": "SUCCESS", "qrId": qrc_id, "payload": payload}
        return Response(200, msgspec.json.encode(body), "application/json")

    async def info(request: Request) -> Response:
        body = {"code": "SUCCESS", "paymentStatus": "SUCCESS", "transactionId": 7, "amount": 2}
        return Response(200, msgspec.json.encode(body), "application/json")

    router.add("POST", "/api/sbp/v1/qr/register", register)
    router.add("GET", "/api/sbp/v1/qr/{qrId}/payment-info", info)
    port = await nursery.start(partial(serve, router))
    async with SbpClient(make_config(f"http://127.0.0.1:{port}")) as sbp:
        outcome = await pay_by_qr(sbp, 1, on_qr=Screen().show)
    assert isinstance(outcome, SbpFailed) and isinstance(outcome.error, SbpProtocolError)


# --- the detection race as the engine will run it ------------------------------


async def _race(client: SbpClient, card_after: float) -> tuple[str, object, RegisteredQr | None]:
    """Card detection and SBP race; the first to finish cancels the other."""
    winner: list[tuple[str, object]] = []
    shown: list[RegisteredQr] = []

    async def show(qr: RegisteredQr) -> None:
        shown.append(qr)

    async with trio.open_nursery() as race:

        async def sbp() -> None:
            outcome = await pay_by_qr(client, 12300, on_qr=show)
            if isinstance(outcome, SbpFailed):
                await trio.sleep_forever()  # hide the QR; card detection goes on
            winner.append(("sbp", outcome))
            race.cancel_scope.cancel()

        async def card() -> None:
            await trio.sleep(card_after)
            winner.append(("card", None))
            race.cancel_scope.cancel()

        race.start_soon(sbp)
        race.start_soon(card)
    return winner[0][0], winner[0][1], shown[0] if shown else None


async def test_race_qr_paid_while_waiting_for_a_card(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim
) -> None:
    who, outcome, _ = await _race(client, card_after=60)
    assert who == "sbp" and isinstance(outcome, SbpPaid)


async def test_race_card_tapped_while_the_qr_is_shown(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim
) -> None:
    who, _, qr = await _race(client, card_after=1.5)
    assert who == "card" and qr is not None
    # The engine then makes sure the QR is not paid as well.
    with trio.CancelScope(shield=True):
        final = await client.cancel_qr(qr.qrc_id)
    assert final.status is PaymentStatus.NO_INFO
    await trio.sleep(10)
    assert agent.ledger.qr(qr.qrc_id).state is QrState.CANCELLED
    assert agent.ledger.paid_total == 0


async def test_race_poll_failure_leaves_card_detection_running(
    autojump_clock: MockClock, client: SbpClient, agent: RunningSim
) -> None:
    agent.control.set_fault(500)
    who, _, _ = await _race(client, card_after=30)
    assert who == "card"
