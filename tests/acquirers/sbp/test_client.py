"""SBP agent client against the real simulator (and a misbehaving agent) over loopback."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import msgspec
import pytest
import trio

from acquirers.http import Request, Response, Router, ServerConfig, serve, server_ssl_context
from acquirers.sbp import (
    PaymentStatus,
    RefundStatus,
    SbpAgentError,
    SbpClient,
    SbpCommunicationError,
    SbpConfigError,
    SbpInvalidArgument,
    SbpNotFoundError,
    SbpProtocolError,
    SbpTimeoutError,
    SbpTlsOptions,
    parse_payload_url,
)
from cardcore.protocol.status import status_of
from simulators.sbp import SIM_BANK_ID, QrState, SbpAgentSimulator, SbpSimControl

from ..certs import make_pki
from .conftest import MERCHANT, TID_SBP, RunningSim, make_config, start_sim


async def test_register_gives_a_valid_payload(client: SbpClient, agent: RunningSim) -> None:
    qr = await client.register_qr(12300, order="ord-1")
    payload = parse_payload_url(qr.payload)
    assert payload.qrc_id == qr.qrc_id and qr.qrc_id.startswith("AD")
    assert payload.amount == 12300 and payload.bank == SIM_BANK_ID and payload.currency == "RUB"
    (record,) = agent.ledger.records()
    assert (record.qrc_id, record.amount, record.order) == (qr.qrc_id, 12300, "ord-1")
    assert (record.merchant_id, record.terminal_id) == (MERCHANT, TID_SBP)
    assert record.state is QrState.NEW
    assert 250 < record.expires_at - record.created_at <= 300  # qr_lifetime sent as a date


async def test_status_follows_the_customer(
    client: SbpClient, agent: RunningSim, autojump_clock: trio.testing.MockClock
) -> None:
    agent.control.confirm_delay = 2.0
    qr = await client.register_qr(500)
    assert (await client.payment_info(qr.qrc_id)).status is PaymentStatus.NO_INFO
    await trio.sleep(3.0)  # pay_delay: the customer scans
    info = await client.payment_info(qr.qrc_id)
    assert info.status is PaymentStatus.IN_PROGRESS and info.operation_id is None
    await trio.sleep(2.0)
    info = await client.payment_info(qr.qrc_id)
    assert info.status is PaymentStatus.SUCCESS
    assert info.amount == 500 and info.operation_id is not None
    assert info.operation_id.isdigit() and len(info.operation_id) <= 12
    assert info.transaction_date is not None
    assert agent.ledger.qr(qr.qrc_id).operation_id == int(info.operation_id)


async def test_reject_and_none_modes(
    client: SbpClient, agent: RunningSim, autojump_clock: trio.testing.MockClock
) -> None:
    agent.control.set_mode("reject")
    rejected = await client.register_qr(100)
    agent.control.set_mode("none")
    ignored = await client.register_qr(100)
    await trio.sleep(60)
    # The mode is read when a poll looks at the QR: "none" now for both.
    assert (await client.payment_info(rejected.qrc_id)).status is PaymentStatus.NO_INFO
    agent.control.set_mode("reject")
    assert (await client.payment_info(rejected.qrc_id)).status is PaymentStatus.DECLINED
    agent.control.set_mode("pay")
    assert (await client.payment_info(rejected.qrc_id)).status is PaymentStatus.DECLINED  # final
    agent.control.set_mode("none")
    assert (await client.payment_info(ignored.qrc_id)).status is PaymentStatus.NO_INFO
    assert agent.ledger.paid_total == 0


async def test_cancel_qr(
    client: SbpClient, agent: RunningSim, autojump_clock: trio.testing.MockClock
) -> None:
    early = await client.register_qr(100)
    cancelled = await client.cancel_qr(early.qrc_id)
    assert cancelled.status is PaymentStatus.NO_INFO
    assert agent.ledger.qr(early.qrc_id).state is QrState.CANCELLED
    await trio.sleep(10)
    assert (await client.payment_info(early.qrc_id)).status is PaymentStatus.NO_INFO  # not payable

    late = await client.register_qr(100)
    await trio.sleep(10)  # paid before the cancel arrives
    race = await client.cancel_qr(late.qrc_id)
    assert race.status is PaymentStatus.SUCCESS and race.operation_id is not None


async def test_expired_qr_is_never_paid(
    nursery: trio.Nursery, agent: RunningSim, autojump_clock: trio.testing.MockClock
) -> None:
    agent.control.pay_delay = 100
    async with SbpClient(make_config(agent.url, qr_lifetime=60)) as sbp:
        qr = await sbp.register_qr(100)
        await trio.sleep(120)
        assert (await sbp.payment_info(qr.qrc_id)).status is PaymentStatus.NO_INFO
    assert agent.ledger.qr(qr.qrc_id).state is QrState.EXPIRED


async def _paid(client: SbpClient, agent: RunningSim, amount: int) -> str:
    agent.control.pay_delay = 0
    qr = await client.register_qr(amount)
    info = await client.payment_info(qr.qrc_id)
    assert info.status is PaymentStatus.SUCCESS and info.operation_id
    return info.operation_id


async def test_refund_full_and_double(client: SbpClient, agent: RunningSim) -> None:
    rrn = await _paid(client, agent, 12300)
    first = await client.refund(amount=12300, refund_id="rf-1", operation_id=rrn)
    assert (first.status, first.amount) == (RefundStatus.COMPLETED, 12300)
    again = await client.refund(amount=12300, refund_id="rf-1", operation_id=rrn)
    assert again == first  # idempotent: same refund id, no second refund
    with pytest.raises(SbpAgentError) as double:
        await client.refund(amount=12300, refund_id="rf-2", operation_id=rrn)
    assert double.value.code == "ERROR.REFUND_INSUFFICIENT_FUNDS"
    assert status_of(double.value) == "failed"
    with pytest.raises(SbpAgentError) as reused:
        await client.refund(amount=100, refund_id="rf-1", operation_id=rrn)
    assert reused.value.code == "ERROR.INVALID_REQUEST"
    assert agent.ledger.refunded_total == 12300 and len(agent.ledger.refunds()) == 1


async def test_partial_refunds_up_to_the_payment(client: SbpClient, agent: RunningSim) -> None:
    rrn = await _paid(client, agent, 1000)
    await client.refund(amount=400, refund_id="p-1", operation_id=rrn)
    await client.refund(amount=600, refund_id="p-2", operation_id=rrn)
    with pytest.raises(SbpAgentError):
        await client.refund(amount=1, refund_id="p-3", operation_id=rrn)
    assert agent.ledger.refunded(agent.ledger.by_operation(int(rrn)).qrc_id) == 1000  # type: ignore[union-attr]


async def test_refund_by_order(client: SbpClient, agent: RunningSim) -> None:
    agent.control.pay_delay = 0
    qr = await client.register_qr(700, order="order-77")
    await client.payment_info(qr.qrc_id)
    result = await client.refund(amount=700, refund_id="o-1", order="order-77")
    assert result.status is RefundStatus.COMPLETED


async def test_refund_of_unknown_or_unpaid_operation(client: SbpClient, agent: RunningSim) -> None:
    with pytest.raises(SbpNotFoundError) as unknown:
        await client.refund(amount=100, refund_id="u-1", operation_id="999999999999")
    assert status_of(unknown.value) == "transactionnotfound"
    agent.control.set_mode("none")
    qr = await client.register_qr(100, order="unpaid")
    with pytest.raises(SbpNotFoundError):
        await client.refund(amount=100, refund_id="u-2", order=qr.order)


async def test_refund_in_progress_is_polled(
    client: SbpClient, agent: RunningSim, autojump_clock: trio.testing.MockClock
) -> None:
    rrn = await _paid(client, agent, 300)
    agent.control.refund_delay = 5
    pending = await client.refund(amount=300, refund_id="slow-1", operation_id=rrn, wait=False)
    assert pending.status is RefundStatus.IN_PROGRESS
    done = await client.refund(amount=300, refund_id="slow-1", operation_id=rrn)
    assert done.status is RefundStatus.COMPLETED
    assert (await client.refund_info("slow-1")).status is RefundStatus.COMPLETED


async def test_refund_wait_is_bounded(
    agent: RunningSim, autojump_clock: trio.testing.MockClock
) -> None:
    async with SbpClient(make_config(agent.url, refund_wait=10)) as sbp:
        rrn = await _paid(sbp, agent, 300)
        agent.control.refund_delay = 3600
        result = await sbp.refund(amount=300, refund_id="stuck", operation_id=rrn)
    assert result.status is RefundStatus.IN_PROGRESS


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("register_qr", {"amount": 0}),
        ("register_qr", {"amount": -5}),
        ("register_qr", {"amount": 10**12}),
        ("register_qr", {"amount": 1, "order": "bad order with spaces"}),
        ("refund", {"amount": 1, "refund_id": "x", "operation_id": "12AB"}),
        ("refund", {"amount": 1, "refund_id": "x"}),
        ("refund", {"amount": 1, "refund_id": "bad id/"}),
        ("payment_info", {"qrc_id": "../../etc"}),
    ],
)
async def test_invalid_arguments_fail_before_the_wire(
    client: SbpClient, agent: RunningSim, call: str, kwargs: dict[str, object]
) -> None:
    with pytest.raises(SbpInvalidArgument) as caught:
        if call == "register_qr":
            await client.register_qr(kwargs.pop("amount"), **kwargs)  # type: ignore[arg-type]
        else:
            await getattr(client, call)(**kwargs)
    assert status_of(caught.value) == "invalidarguments"
    assert sum(agent.sim.calls.values()) == 0


async def test_unknown_qr_is_not_found(client: SbpClient) -> None:
    with pytest.raises(SbpNotFoundError):
        await client.payment_info("AD" + "0" * 30)


async def test_merchant_and_secret_are_checked(nursery: trio.Nursery) -> None:
    sim = SbpAgentSimulator(merchant_id=MERCHANT, secret_key="s3cret")
    running = await start_sim(nursery, sim)
    async with SbpClient(make_config(running.url, secret_key="s3cret")) as good:
        await good.register_qr(100)
    async with SbpClient(make_config(running.url, secret_key="wrong")) as bad:
        with pytest.raises(SbpAgentError) as caught:
            await bad.register_qr(100)
    assert caught.value.code == "ERROR.UNAUTHORIZED"
    async with SbpClient(
        make_config(running.url, secret_key="s3cret", merchant_id="MA0000000001")
    ) as other:
        with pytest.raises(SbpAgentError) as caught:
            await other.register_qr(100)
    assert caught.value.code == "ERROR.MERCHANT_NOT_REGISTERED"


# --- transport failures -------------------------------------------------------


async def test_http_500_is_a_communication_error(client: SbpClient, agent: RunningSim) -> None:
    agent.control.set_fault(500)
    with pytest.raises(SbpCommunicationError) as caught:
        await client.register_qr(100)
    assert status_of(caught.value) == "communicationerror"
    agent.control.set_fault(None)
    await client.register_qr(100)


async def test_stopped_agent_is_a_communication_error(client: SbpClient, agent: RunningSim) -> None:
    qr = await client.register_qr(100)
    agent.stop()
    await trio.sleep(0.05)  # let the server task unwind
    with pytest.raises(SbpCommunicationError) as caught:
        await client.payment_info(qr.qrc_id)
    assert type(caught.value) is SbpCommunicationError


async def test_slow_agent_is_a_timeout(
    agent: RunningSim, autojump_clock: trio.testing.MockClock
) -> None:
    agent.control.response_delay = 60
    async with SbpClient(make_config(agent.url, request_timeout=5)) as sbp:
        with pytest.raises(SbpTimeoutError) as caught:
            await sbp.register_qr(100)
    assert status_of(caught.value) == "timeout"


async def test_cancellation_is_not_translated(
    agent: RunningSim, client: SbpClient, autojump_clock: trio.testing.MockClock
) -> None:
    agent.control.response_delay = 60
    with trio.move_on_after(1) as scope:
        await client.register_qr(100)
    assert scope.cancelled_caught


# --- an agent that does not keep to the API ---------------------------------


def _fake_agent(answers: dict[str, Response]) -> Router:
    router = Router()

    async def answer(name: str, request: Request) -> Response:
        return answers[name]

    router.add("POST", "/api/sbp/v1/qr/register", partial(answer, "register"))
    router.add("GET", "/api/sbp/v1/qr/{qrId}/payment-info", partial(answer, "info"))
    router.add("POST", "/api/sbp/v1/refund", partial(answer, "refund"))
    return router


QR_ID = "AD100004BAL7227F9BNP6KNE007J9B3K"
VECTOR_PAYLOAD = "https://qr.nspk.ru/AD100004BAL7227F9BNP6KNE007J9B3K?type=02&bank=100000000007&sum=1&cur=RUB&crc=AB75"


def _json(obj: object, status: int = 200) -> Response:
    return Response(status, msgspec.json.encode(obj), "application/json")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (_json({"code": "SUCCESS", "qrId": QR_ID, "payload": VECTOR_PAYLOAD}), None),
        (
            _json({"code": "SUCCESS", "qrId": QR_ID, "payload": VECTOR_PAYLOAD[:-1] + "6"}),
            SbpProtocolError,
        ),
        (
            _json({"code": "SUCCESS", "qrId": "AD" + "1" * 30, "payload": VECTOR_PAYLOAD}),
            SbpProtocolError,
        ),
        (_json({"code": "SUCCESS", "qrId": QR_ID}), SbpProtocolError),
        (_json({"code": "SUCCESS", "qrId": QR_ID, "payload": 5}), SbpProtocolError),
        (Response(200, b"<html>", "text/html"), SbpProtocolError),
        (Response(200, b"[" * 70000, "application/json"), SbpProtocolError),
        (
            _json({"code": "ERROR.DYNAMIC_QR_WITHOUT_AMOUNT", "message": "нет суммы"}, 400),
            SbpAgentError,
        ),
        (_json({"code": "ERROR.SOMETHING"}, 200), SbpAgentError),
        (Response(404, b"not json", "text/plain"), SbpProtocolError),
        (Response(503, b"", None), SbpCommunicationError),
    ],
)
async def test_registration_answers(
    nursery: trio.Nursery, answer: Response, error: type[Exception] | None
) -> None:
    port = await nursery.start(partial(serve, _fake_agent({"register": answer})))
    async with SbpClient(make_config(f"http://127.0.0.1:{port}")) as sbp:
        if error is None:
            qr = await sbp.register_qr(1)
            assert qr.payload == VECTOR_PAYLOAD
        else:
            with pytest.raises(error):
                await sbp.register_qr(1)


async def test_payload_sum_check_can_be_relaxed(nursery: trio.Nursery) -> None:
    # The vector's own example registers 100 but shows sum=1.
    answer = _json({"code": "SUCCESS", "qrId": QR_ID, "payload": VECTOR_PAYLOAD})
    port = await nursery.start(partial(serve, _fake_agent({"register": answer})))
    url = f"http://127.0.0.1:{port}"
    async with SbpClient(make_config(url)) as strict:
        with pytest.raises(SbpProtocolError):
            await strict.register_qr(100)
    async with SbpClient(make_config(url, check_payload_sum=False)) as lenient:
        assert (await lenient.register_qr(100)).qrc_id == QR_ID


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            _json(
                {"code": "SUCCESS", "paymentStatus": "SUCCESS", "transactionId": 5, "amount": 1.5}
            ),
            None,
        ),
        (_json({"code": "SUCCESS", "paymentStatus": "EXPIRED"}), SbpProtocolError),
        (_json({"code": "SUCCESS"}), SbpProtocolError),
        (_json({"code": "SUCCESS", "paymentStatus": "SUCCESS"}), SbpProtocolError),
        (
            _json({"code": "SUCCESS", "paymentStatus": "SUCCESS", "transactionId": -1}),
            SbpProtocolError,
        ),
        (_json({"code": "SUCCESS", "paymentStatus": "NO_INFO", "amount": 1.001}), SbpProtocolError),
        (_json({"code": "SUCCESS", "paymentStatus": "NO_INFO", "amount": "NaN"}), SbpProtocolError),
        (_json({"code": "SUCCESS", "paymentStatus": "NO_INFO", "amount": 1e300}), SbpProtocolError),
        (
            _json({"code": "SUCCESS", "paymentStatus": "NO_INFO", "qrId": "AD" + "9" * 30}),
            SbpProtocolError,
        ),
        (_json({"code": "ERROR.NOT_FOUND", "message": "нет"}, 404), SbpNotFoundError),
    ],
)
async def test_payment_info_answers(
    nursery: trio.Nursery, answer: Response, error: type[Exception] | None
) -> None:
    port = await nursery.start(partial(serve, _fake_agent({"info": answer})))
    async with SbpClient(make_config(f"http://127.0.0.1:{port}")) as sbp:
        if error is None:
            info = await sbp.payment_info(QR_ID)
            assert (info.status, info.operation_id, info.amount) == (
                PaymentStatus.SUCCESS,
                "5",
                150,
            )
        else:
            with pytest.raises(error):
                await sbp.payment_info(QR_ID)


async def test_wire_amounts_are_roubles(nursery: trio.Nursery) -> None:
    seen: list[bytes] = []

    async def register(request: Request) -> Response:
        seen.append(request.body)
        return _json({"code": "ERROR.TEST"}, 400)

    router = Router()
    router.add("POST", "/api/sbp/v1/qr/register", register)
    port = await nursery.start(partial(serve, router))
    async with SbpClient(make_config(f"http://127.0.0.1:{port}", secret_key="k")) as sbp:
        with pytest.raises(SbpAgentError):
            await sbp.register_qr(12345, order="o-1", purpose="Оплата")
    body = msgspec.json.decode(seen[0])
    assert b'"amount":123.45' in seen[0]
    assert body["qrType"] == "QRDynamic" and body["currency"] == "RUB"
    assert body["sbpMerchantId"] == MERCHANT and body["terminalId"] == TID_SBP
    assert body["order"] == "o-1" and body["paymentDetails"] == "Оплата"
    assert body["qrExpirationDate"].endswith("+00:00")


# --- TLS to the agent -----------------------------------------------------------


async def test_agent_over_mutual_tls(nursery: trio.Nursery, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    context = server_ssl_context(
        pki.server.cert_file, pki.server.key_file, client_ca_file=pki.ca.cert_file
    )
    sim = SbpAgentSimulator(
        SbpSimControl(pay_delay=0), server_config=ServerConfig(ssl_context=context)
    )
    running = await start_sim(nursery, sim)
    url = f"https://127.0.0.1:{running.port}"
    tls = SbpTlsOptions(
        ca_file=str(pki.ca.cert_file),
        client_cert_file=str(pki.client.cert_file),
        client_key_file=str(pki.client.key_file),
    )
    async with SbpClient(make_config(url, tls=tls)) as sbp:
        qr = await sbp.register_qr(100)
        assert (await sbp.payment_info(qr.qrc_id)).status is PaymentStatus.SUCCESS
    no_cert = SbpTlsOptions(ca_file=str(pki.ca.cert_file))
    async with SbpClient(make_config(url, tls=no_cert)) as sbp:
        with pytest.raises(SbpCommunicationError):
            await sbp.register_qr(100)
    wrong_ca = SbpTlsOptions(ca_file=str(pki.other_ca.cert_file))
    async with SbpClient(make_config(url, tls=wrong_ca)) as sbp:
        with pytest.raises(SbpCommunicationError):
            await sbp.register_qr(100)


def test_missing_tls_files_are_a_config_error(tmp_path: Path) -> None:
    tls = SbpTlsOptions(ca_file=str(tmp_path / "absent.pem"))
    with pytest.raises(SbpConfigError):
        SbpClient(make_config("https://127.0.0.1:1", tls=tls))


async def test_poll_survives_the_agent_closing_an_idle_connection(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    control = SbpSimControl(mode="none")  # type: ignore[arg-type]
    sim = SbpAgentSimulator(control, server_config=ServerConfig(idle_timeout=5))
    running = await start_sim(nursery, sim)
    async with SbpClient(make_config(running.url)) as sbp:
        qr = await sbp.register_qr(100)
        for _ in range(3):
            await trio.sleep(5)  # the agent drops the kept-alive connection meanwhile
            assert (await sbp.payment_info(qr.qrc_id)).status is PaymentStatus.NO_INFO
