"""The SBP agent simulator: ledger rules (no I/O), control object, control API, standalone run."""

from __future__ import annotations

import datetime
import os
import sys
from functools import partial
from subprocess import DEVNULL, PIPE

import httpx
import pytest
import trio

from acquirers.sbp import (
    PaymentStatus,
    RefundStatus,
    SbpAgentError,
    SbpClient,
    SbpInvalidArgument,
    SbpNotFoundError,
)
from cardcore.protocol.status import status_of
from simulators.sbp import QrState, SbpLedger, SbpSimControl, SimMode
from simulators.sbp.agent import _lifetime
from simulators.sbp.ledger import PAYMENT_STATUS, TRANSITIONS

from .conftest import RunningSim, make_config

WALL = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def _ledger() -> SbpLedger:
    return SbpLedger(first_operation_id=100001, wall_clock=lambda: WALL)


def _register(
    ledger: SbpLedger,
    qrc_id: str = "AD" + "1" * 30,
    *,
    order: str = "o1",
    amount: int = 1000,
    now: float = 0.0,
):  # type: ignore[no-untyped-def]
    return ledger.register(
        qrc_id=qrc_id,
        order=order,
        amount=amount,
        merchant_id="MA0000000552",
        terminal_id="T1",
        payload="https://qr.nspk.ru/x",
        now=now,
        lifetime=300,
    )


def test_transition_table_is_complete_for_every_state() -> None:
    assert set(PAYMENT_STATUS) == set(QrState)
    finals = {QrState.PAID, QrState.REJECTED, QrState.CANCELLED, QrState.EXPIRED}
    assert not any(state in finals for state, _ in TRANSITIONS)


@pytest.mark.parametrize(
    ("mode", "times", "states"),
    [
        (SimMode.PAY, [0, 2.9, 3.0], [QrState.NEW, QrState.NEW, QrState.PAID]),
        (SimMode.REJECT, [1, 5], [QrState.NEW, QrState.REJECTED]),
        (SimMode.NONE, [5, 299], [QrState.NEW, QrState.NEW]),
        (SimMode.NONE, [300], [QrState.EXPIRED]),
        (SimMode.PAY, [400], [QrState.EXPIRED]),  # nobody looked before it expired
    ],
)
def test_customer_timeline(mode: SimMode, times: list[float], states: list[QrState]) -> None:
    ledger = _ledger()
    record = _register(ledger)
    for now, state in zip(times, states, strict=True):
        record = ledger.advance(record.qrc_id, now=now, mode=mode, pay_delay=3)
        assert record.state is state
    if record.state is QrState.PAID:
        assert record.operation_id == 100001 and record.transaction_date == WALL.isoformat()


def test_confirm_delay_shows_in_progress() -> None:
    ledger = _ledger()
    qrc_id = _register(ledger).qrc_id
    kwargs = {"mode": SimMode.PAY, "pay_delay": 1.0, "confirm_delay": 2.0}
    assert ledger.advance(qrc_id, now=1.5, **kwargs).payment_status is PaymentStatus.IN_PROGRESS  # type: ignore[arg-type]
    # Switching to "none" after the scan does not stop the payment.
    kwargs["mode"] = SimMode.NONE
    assert ledger.advance(qrc_id, now=3.5, **kwargs).payment_status is PaymentStatus.SUCCESS  # type: ignore[arg-type]


def test_operation_ids_are_sequential_and_fit_an_rrn() -> None:
    ledger = SbpLedger()
    ids = []
    for n in range(3):
        qrc_id = _register(ledger, f"AD{n:030d}", order=f"o{n}").qrc_id
        ids.append(ledger.advance(qrc_id, now=10, mode=SimMode.PAY, pay_delay=0).operation_id)
    assert ids[1] == ids[0] + 1 and ids[2] == ids[1] + 1  # type: ignore[operator]
    assert all(len(str(i)) <= 12 for i in ids)


def test_cancel_only_unscanned() -> None:
    ledger = _ledger()
    a = _register(ledger, "AD" + "A" * 30).qrc_id
    b = _register(ledger, "AD" + "B" * 30, order="o2").qrc_id
    assert ledger.cancel(a).state is QrState.CANCELLED
    assert ledger.cancel(a).state is QrState.CANCELLED  # repeatable
    ledger.advance(b, now=5, mode=SimMode.PAY, pay_delay=0)
    assert ledger.cancel(b).state is QrState.PAID
    with pytest.raises(SbpNotFoundError):
        ledger.cancel("AD" + "C" * 30)


def _paid(ledger: SbpLedger, amount: int = 1000, order: str = "o1") -> int:
    qrc_id = _register(ledger, f"AD{len(ledger.records()):030d}", order=order, amount=amount).qrc_id
    record = ledger.advance(qrc_id, now=5, mode=SimMode.PAY, pay_delay=0)
    assert record.operation_id is not None
    return record.operation_id


@pytest.mark.parametrize(
    ("refunds", "code"),
    [
        ([("r1", 1000)], None),
        ([("r1", 400), ("r2", 600)], None),
        ([("r1", 1000), ("r1", 1000)], None),  # idempotent repeat
        ([("r1", 1000), ("r2", 1)], "ERROR.REFUND_INSUFFICIENT_FUNDS"),
        ([("r1", 1001)], "ERROR.REFUND_INSUFFICIENT_FUNDS"),
        ([("r1", 500), ("r1", 400)], "ERROR.INVALID_REQUEST"),  # id reused for another amount
        ([("r1", 0)], "ERROR.INVALID_REQUEST"),
    ],
)
def test_refund_rules(refunds: list[tuple[str, int]], code: str | None) -> None:
    ledger = _ledger()
    operation_id = _paid(ledger)
    error = None
    for refund_id, amount in refunds:
        try:
            ledger.refund(
                refund_id=refund_id, amount=amount, operation_id=operation_id, order=None, now=6
            )
        except SbpAgentError as exc:
            error = exc.code
    assert error == code
    assert ledger.refunded_total <= ledger.paid_total == 1000


def test_refund_targets() -> None:
    ledger = _ledger()
    first = _paid(ledger, order="A")
    second = _paid(ledger, order="B")
    ledger.refund(refund_id="x1", amount=10, operation_id=None, order="B", now=0)
    assert ledger.refunds()[0].operation_id == second
    with pytest.raises(SbpAgentError) as mismatch:
        ledger.refund(refund_id="x2", amount=10, operation_id=first, order="B", now=0)
    assert mismatch.value.code == "ERROR.INVALID_REQUEST"
    with pytest.raises(SbpAgentError):
        ledger.refund(refund_id="x3", amount=10, operation_id=None, order=None, now=0)
    with pytest.raises(SbpNotFoundError):
        ledger.refund(refund_id="x4", amount=10, operation_id=999, order=None, now=0)
    _register(ledger, "AD" + "U" * 30, order="unpaid")
    with pytest.raises(SbpNotFoundError) as unpaid:
        ledger.refund(refund_id="x5", amount=10, operation_id=None, order="unpaid", now=0)
    assert "не был оплачен" in unpaid.value.agent_message


def test_refund_delay_and_snapshot() -> None:
    ledger = _ledger()
    operation_id = _paid(ledger)
    record = ledger.refund(
        refund_id="slow", amount=300, operation_id=operation_id, order=None, now=10, delay=5
    )
    assert record.status is RefundStatus.IN_PROGRESS
    assert ledger.refund_info("slow", now=14).status is RefundStatus.IN_PROGRESS
    assert ledger.refund_info("slow", now=15).status is RefundStatus.COMPLETED
    with pytest.raises(SbpNotFoundError):
        ledger.refund_info("nope", now=15)
    snapshot = ledger.snapshot()
    assert snapshot["paidTotal"] == 1000 and snapshot["refundedTotal"] == 300
    assert snapshot["qrs"][0]["refunded"] == 300 and snapshot["qrs"][0]["state"] == "paid"


def test_duplicate_paid_order_is_refused() -> None:
    ledger = _ledger()
    _paid(ledger, order="same")
    with pytest.raises(SbpAgentError) as caught:
        _register(ledger, "AD" + "Z" * 30, order="same")
    assert caught.value.code == "ERROR.ORDER_NUMBER_ALREADY_REGISTERED"


def test_control_object() -> None:
    control = SbpSimControl()
    assert control.set_mode("reject") is SimMode.REJECT and control.mode is SimMode.REJECT
    with pytest.raises(SbpInvalidArgument) as caught:
        control.set_mode("maybe")
    assert status_of(caught.value) == "invalidarguments"
    with pytest.raises(SbpInvalidArgument):
        control.set_fault(200)
    with pytest.raises(SbpInvalidArgument):
        SbpSimControl(mode="bogus")  # type: ignore[arg-type]
    assert control.snapshot()["mode"] == "reject"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (None, 3 * 24 * 3600),
        ("+5m", 300),
        ("+1d5m", 86700),
        ("+90s", 90),
    ],
)
def test_expiration_formats(text: str | None, seconds: float) -> None:
    assert _lifetime(text) == seconds


@pytest.mark.parametrize(
    "text", ["+", "+0s", "2020-01-01T00:00:00+03:00", "2099-01-01T00:00:00", "soon"]
)
def test_bad_expirations(text: str) -> None:
    with pytest.raises(SbpAgentError) as caught:
        _lifetime(text)
    assert caught.value.code == "ERROR.QR_EXPIRATION_DATE_NOT_VALID"


def test_iso_expiration() -> None:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
    assert 590 < _lifetime(moment.isoformat()) <= 600


# --- over HTTP -------------------------------------------------------------------


async def test_agent_refuses_bad_requests(agent: RunningSim) -> None:
    url = agent.url + "/api/sbp/v1/qr/register"
    cases = [
        (b"{", 400, "ERROR.INVALID_REQUEST"),
        (
            b'{"qrType":"QRStatic","sbpMerchantId":"MA0000000552","order":"o"}',
            400,
            "ERROR.INVALID_REQUEST",
        ),
        (b'{"qrType":"QRDynamic","order":"o","amount":1}', 400, "ERROR.SBP_MERCHANT_ID_IS_MISSING"),
        (
            b'{"qrType":"QRDynamic","sbpMerchantId":"MA0000000552","order":"o"}',
            400,
            "ERROR.DYNAMIC_QR_WITHOUT_AMOUNT",
        ),
        (
            b'{"qrType":"QRDynamic","sbpMerchantId":"MA0000000552","order":"o","amount":0.001}',
            400,
            "ERROR.INVALID_REQUEST",
        ),
        (
            b'{"qrType":"QRDynamic","sbpMerchantId":"MA0000000552","order":"o","amount":-1}',
            400,
            "ERROR.INVALID_REQUEST",
        ),
        (
            b'{"qrType":"QRDynamic","sbpMerchantId":"MA0000000552","order":"a b","amount":1}',
            400,
            "ERROR.INVALID_ORDER",
        ),
        (
            b'{"qrType":"QRDynamic","sbpMerchantId":"MA0000000552","order":"o","amount":1,"currency":"USD"}',
            400,
            "ERROR.INVALID_REQUEST",
        ),
    ]
    async with httpx.AsyncClient() as http:
        for body, status, code in cases:
            response = await http.post(url, content=body)
            assert (response.status_code, response.json()["code"]) == (status, code), body
        missing = await http.get(agent.url + "/api/sbp/v1/nothing")
        assert missing.status_code == 404 and missing.json()["code"] == "ERROR.NOT_FOUND"
        wrong = await http.put(url)
        assert wrong.status_code == 405 and wrong.json()["code"] == "ERROR.INVALID_REQUEST"
        huge = await http.post(url, content=b"x" * 100_000)
        assert huge.status_code == 413
    assert agent.ledger.records() == ()


async def test_qr_info(agent: RunningSim, client: SbpClient) -> None:
    qr = await client.register_qr(100)
    async with httpx.AsyncClient() as http:
        info = await http.get(f"{agent.url}/api/sbp/v1/qr/{qr.qrc_id}/info")
    assert info.json() == {"code": "SUCCESS", "qrId": qr.qrc_id, "payload": qr.payload}


async def test_control_api(nursery: trio.Nursery) -> None:
    from simulators.sbp import SbpAgentSimulator

    from .conftest import start_sim

    running = await start_sim(nursery, SbpAgentSimulator(control_api=True))
    async with httpx.AsyncClient(base_url=running.url) as http:
        assert (await http.get("/sim/state")).json()["mode"] == "pay"
        assert (await http.post("/sim/mode", json={"mode": "none"})).json()["mode"] == "none"
        assert running.control.mode is SimMode.NONE
        assert (await http.post("/sim/mode", json={"mode": "x"})).status_code == 400
        assert (await http.post("/sim/fault", json={"status": 503})).status_code == 200
        assert (await http.post("/api/sbp/v1/refund", json={})).status_code == 503
        assert (await http.post("/sim/fault", json={"status": None})).status_code == 200
        assert (await http.get("/sim/ledger")).json()["qrs"] == []
    # Off by default: the application holds the control object instead.
    plain = await start_sim(nursery, SbpAgentSimulator())
    async with httpx.AsyncClient(base_url=plain.url) as http:
        assert (await http.get("/sim/state")).status_code == 404


async def test_standalone_program() -> None:
    command = [sys.executable, "-m", "simulators.sbp", "--port", "0", "--pay-delay", "0"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    run = partial(trio.run_process, command, env=env, stdout=PIPE, stderr=DEVNULL, check=False)
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(run)
        try:
            assert process.stdout is not None
            line = b""
            with trio.fail_after(30):
                while not line.endswith(b"\n"):
                    chunk = await process.stdout.receive_some(1)
                    assert chunk, "the simulator exited"
                    line += chunk
            url = line.decode().split()[-1]
            assert url.startswith("http://127.0.0.1:")
            async with SbpClient(make_config(url)) as sbp:
                qr = await sbp.register_qr(4200)
                info = await sbp.payment_info(qr.qrc_id)  # pay delay 0: paid at first look
            assert (info.status, info.amount) == (PaymentStatus.SUCCESS, 4200)
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.post("/sim/mode", json={"mode": "reject"})).status_code == 200
                ledger = (await http.get("/sim/ledger")).json()
            assert ledger["paidTotal"] == 4200
        finally:
            process.terminate()
            nursery.cancel_scope.cancel()
