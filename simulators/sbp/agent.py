# Strategy: the SBP agent simulator, a real HTTP(S) server on the project's
# server core (acquirers/http) speaking the agent API of acquirers/sbp/api.py,
# so the terminal's client is exercised over real loopback sockets
# (docs/architecture.md). Its behaviour is switched at run time through an
# in-process `SbpSimControl` (the application maps `cardcore sim sbp
# pay|reject|none` onto `control.set_mode`): the mode decides what the
# simulated customer does with a QR when a status poll looks at it, so a
# switch also applies to a QR already on screen. Faults for tests: every API
# call answered with a given HTTP status, or answered late. The books are an
# `SbpLedger`. Standalone (`python -m simulators.sbp`) it also serves a
# small control API under /sim/ (mode, fault, ledger).
from __future__ import annotations

import dataclasses
import datetime
import hmac
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgspec
import trio

from acquirers.http import HTTPException, Request, Response, Router, ServerConfig, serve
from acquirers.sbp import api
from acquirers.sbp.errors import SbpAgentError, SbpInvalidArgument, SbpProtocolError
from acquirers.sbp.qr import build_payload_url, new_qrc_id
from simulators.sbp.ledger import QrRecord, RefundRecord, SbpLedger, SimMode

__all__ = ["SIM_BANK_ID", "SbpAgentSimulator", "SbpSimControl"]

# The SBP member id the simulator puts in payload URLs (`bank=`); a made-up
# value for the simulator, not meant to name a real participant.
SIM_BANK_ID = "100000000999"
DEFAULT_QR_LIFETIME = 3 * 24 * 3600.0  # the API's default for dynamic QRs
_ORDER = re.compile(r"^[A-Za-z0-9_\-.:,'\"]{1,40}$")
_RELATIVE = re.compile(r"^\+(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_NOT_FOUND = SbpAgentError.NOT_FOUND_CODES


@dataclass
class SbpSimControl:
    """Run-time switches of the simulator, shared with the application.

    - ``mode``: pay / reject / none, see ``SimMode``;
    - ``pay_delay``: seconds from registration until the customer scans;
    - ``confirm_delay``: seconds the payment then stays IN_PROGRESS;
    - ``refund_delay``: seconds a refund stays IN_PROGRESS;
    - ``fault_status``: when set (4xx/5xx), every API call gets that status;
    - ``response_delay``: seconds every API call waits before answering.
    """

    mode: SimMode = SimMode.PAY
    pay_delay: float = 3.0
    confirm_delay: float = 0.0
    refund_delay: float = 0.0
    fault_status: int | None = None
    response_delay: float = 0.0

    def __post_init__(self) -> None:
        self.set_mode(self.mode)
        self.set_fault(self.fault_status)

    def set_mode(self, mode: SimMode | str) -> SimMode:
        try:
            self.mode = SimMode(mode)
        except ValueError:
            choices = "|".join(m.value for m in SimMode)
            raise SbpInvalidArgument(f"SBP simulator mode must be {choices}") from None
        return self.mode

    def set_fault(self, status: int | None) -> None:
        if status is not None and not 400 <= status <= 599:
            raise SbpInvalidArgument("SBP simulator fault must be an HTTP status 400-599")
        self.fault_status = status

    def snapshot(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "payDelay": self.pay_delay,
            "confirmDelay": self.confirm_delay,
            "refundDelay": self.refund_delay,
            "faultStatus": self.fault_status,
            "responseDelay": self.response_delay,
        }


def _agent_error_renderer(status: int, message: str) -> Response:
    """Errors the server core answers itself, in the agent API's shape."""
    if status == 404:
        code = "ERROR.NOT_FOUND"
    elif status >= 500:
        code = "ERROR.INTERNAL"
    else:
        code = "ERROR.INVALID_REQUEST"
    return Response.json({"code": code, "message": message}, status=status)


class _ModeBody(msgspec.Struct):
    mode: str


class _FaultBody(msgspec.Struct):
    status: int | None = None


class SbpAgentSimulator:
    """A simulated SBP agent; run it with ``port = await nursery.start(sim.serve)``.

    ``merchant_id`` set: registrations for another sbpMerchantId are refused.
    ``secret_key`` set: API calls without ``Authorization: Bearer <key>`` get
    401. ``control_api`` adds the /sim/ endpoints (the standalone program
    turns them on; in-process the application holds ``control`` directly).
    ``calls`` counts API calls by operation name.
    """

    def __init__(
        self,
        control: SbpSimControl | None = None,
        *,
        ledger: SbpLedger | None = None,
        bank_id: str = SIM_BANK_ID,
        merchant_id: str | None = None,
        secret_key: str | None = None,
        control_api: bool = False,
        server_config: ServerConfig | None = None,
    ) -> None:
        self.control = control or SbpSimControl()
        self.ledger = ledger or SbpLedger()
        self.bank_id = bank_id
        self.merchant_id = merchant_id
        self._secret = secret_key
        self.calls: Counter[str] = Counter()
        base = server_config or ServerConfig()
        self.server_config = dataclasses.replace(
            base,
            max_body_bytes=min(base.max_body_bytes, 64 * 1024),
            handler_timeout=None,  # response_delay may be long on purpose
            error_renderer=_agent_error_renderer,
        )
        self.router = Router()
        self._add_api_routes()
        if control_api:
            self._add_control_routes()

    async def serve(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled; reports the bound port."""
        await serve(
            self.router, host=host, port=port, config=self.server_config, task_status=task_status
        )

    # --- the agent API --------------------------------------------------------

    def _add_api_routes(self) -> None:
        table: list[tuple[str, str, str, Callable[[Request], Awaitable[Response]]]] = [
            ("POST", api.REGISTER_PATH, "register", self._register),
            ("GET", api.QR_INFO_PATH, "qr-info", self._qr_info),
            ("GET", api.PAYMENT_INFO_PATH, "payment-info", self._payment_info),
            ("DELETE", api.CANCEL_PATH, "cancel", self._cancel),
            ("POST", api.REFUND_PATH, "refund", self._refund),
            ("GET", api.REFUND_INFO_PATH, "refund-info", self._refund_info),
        ]
        for method, path, name, handler in table:
            self.router.add(method, path, partial(self._api, name, handler))

    async def _api(
        self, name: str, handler: Callable[[Request], Awaitable[Response]], request: Request
    ) -> Response:
        self.calls[name] += 1
        control = self.control
        if control.response_delay > 0:
            await trio.sleep(control.response_delay)
        if control.fault_status is not None:
            return Response.json(
                {"code": "ERROR.SIMULATED_FAULT", "message": "simulated agent failure"},
                status=control.fault_status,
            )
        if self._secret is not None:
            expected = f"Bearer {self._secret}".encode()
            given = (request.header("authorization") or "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, expected):
                return Response.json(
                    {"code": "ERROR.UNAUTHORIZED", "message": "Неверный ключ авторизации"},
                    status=401,
                )
        try:
            return await handler(request)
        except SbpAgentError as exc:
            status = 404 if exc.code in _NOT_FOUND else 400
            return Response.json({"code": exc.code, "message": exc.agent_message}, status=status)

    def _now(self) -> float:
        return trio.current_time()

    def _advance(self, qrc_id: str) -> QrRecord:
        control = self.control
        return self.ledger.advance(
            qrc_id,
            now=self._now(),
            mode=control.mode,
            pay_delay=control.pay_delay,
            confirm_delay=control.confirm_delay,
        )

    async def _register(self, request: Request) -> Response:
        body = request.json(api.RegisterQr)
        if body.qr_type != "QRDynamic":
            raise SbpAgentError("ERROR.INVALID_REQUEST", "Симулятор поддерживает только QRDynamic")
        if not body.sbp_merchant_id:
            raise SbpAgentError(
                "ERROR.SBP_MERCHANT_ID_IS_MISSING", "SbpMerchantId партнера не указан"
            )
        if self.merchant_id is not None and body.sbp_merchant_id != self.merchant_id:
            raise SbpAgentError(
                "ERROR.MERCHANT_NOT_REGISTERED",
                f"Партнер с ID {body.sbp_merchant_id} не зарегистрирован",
            )
        if body.amount is None:
            raise SbpAgentError(
                "ERROR.DYNAMIC_QR_WITHOUT_AMOUNT", "Не передана сумма для динамического QR-кода"
            )
        amount = _kopecks(body.amount)
        if body.currency not in (None, "RUB"):
            raise SbpAgentError("ERROR.INVALID_REQUEST", "Валюта платежа должна быть RUB")
        if not body.order or not _ORDER.match(body.order):
            raise SbpAgentError("ERROR.INVALID_ORDER", "В номере заказа поддерживаются A-z09_-.")
        lifetime = _lifetime(body.qr_expiration_date)
        qrc_id = new_qrc_id()
        payload = build_payload_url(qrc_id, bank=self.bank_id, amount=amount)
        self.ledger.register(
            qrc_id=qrc_id,
            order=body.order,
            amount=amount,
            merchant_id=body.sbp_merchant_id,
            terminal_id=body.terminal_id,
            payload=payload,
            now=self._now(),
            lifetime=lifetime,
        )
        answer = api.QrResponse(code=api.SUCCESS, qr_id=qrc_id, payload=payload)
        return Response.json(answer, encoder=api.ENCODER)

    async def _qr_info(self, request: Request) -> Response:
        record = self.ledger.qr(request.path_params["qrId"])
        answer = api.QrResponse(code=api.SUCCESS, qr_id=record.qrc_id, payload=record.payload)
        return Response.json(answer, encoder=api.ENCODER)

    async def _payment_info(self, request: Request) -> Response:
        record = self._advance(request.path_params["qrId"])
        return Response.json(self._payment_answer(record), encoder=api.ENCODER)

    async def _cancel(self, request: Request) -> Response:
        qrc_id = request.path_params["qrId"]
        self._advance(qrc_id)  # the customer may have been quicker
        record = self.ledger.cancel(qrc_id)
        return Response.json(self._payment_answer(record), encoder=api.ENCODER)

    def _payment_answer(self, record: QrRecord) -> api.PaymentInfoResponse:
        return api.PaymentInfoResponse(
            code=api.SUCCESS,
            qr_id=record.qrc_id,
            amount=api.roubles(record.amount),
            currency="RUB",
            order=record.order,
            payment_status=record.payment_status,
            transaction_id=record.operation_id,
            transaction_date=record.transaction_date,
            create_date=record.create_date,
            qr_expiration_date=record.expiration_date,
            sbp_merchant_id=record.merchant_id,
        )

    async def _refund(self, request: Request) -> Response:
        body = request.json(api.RefundRequest)
        record = self.ledger.refund(
            refund_id=body.refund_id,
            amount=_kopecks(body.amount),
            operation_id=body.transaction_id,
            order=body.order,
            now=self._now(),
            delay=self.control.refund_delay,
        )
        return Response.json(_refund_answer(record), encoder=api.ENCODER)

    async def _refund_info(self, request: Request) -> Response:
        record = self.ledger.refund_info(request.path_params["refundId"], now=self._now())
        return Response.json(_refund_answer(record), encoder=api.ENCODER)

    # --- the simulator's own control API (standalone use) ---------------------

    def _add_control_routes(self) -> None:
        self.router.add("GET", "/sim/state", self._state)
        self.router.add("POST", "/sim/mode", self._set_mode)
        self.router.add("POST", "/sim/fault", self._set_fault)
        self.router.add("GET", "/sim/ledger", self._ledger)

    async def _state(self, request: Request) -> Response:
        return Response.json(self.control.snapshot())

    async def _set_mode(self, request: Request) -> Response:
        try:
            self.control.set_mode(request.json(_ModeBody).mode)
        except SbpInvalidArgument as exc:
            raise HTTPException(400, exc.message) from exc
        return Response.json(self.control.snapshot())

    async def _set_fault(self, request: Request) -> Response:
        try:
            self.control.set_fault(request.json(_FaultBody).status)
        except SbpInvalidArgument as exc:
            raise HTTPException(400, exc.message) from exc
        return Response.json(self.control.snapshot())

    async def _ledger(self, request: Request) -> Response:
        return Response.json(self.ledger.snapshot())


def _refund_answer(record: RefundRecord) -> api.RefundResponse:
    return api.RefundResponse(
        code=api.SUCCESS, amount=api.roubles(record.amount), refund_status=record.status
    )


def _kopecks(amount: Any) -> int:
    try:
        value = api.minor_units(amount)
    except SbpProtocolError:
        raise SbpAgentError(
            "ERROR.INVALID_REQUEST", "Передана некорректная сумма платежа"
        ) from None
    if value < 1:
        raise SbpAgentError("ERROR.INVALID_REQUEST", "Передана некорректная сумма платежа")
    return value


def _lifetime(expiration: str | None) -> float:
    """Seconds until a QR expires, from the API's qrExpirationDate."""
    if expiration is None:
        return DEFAULT_QR_LIFETIME
    relative = _RELATIVE.match(expiration)
    if relative and expiration != "+":
        days, hours, minutes, seconds = (int(g or 0) for g in relative.groups())
        lifetime = float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    else:
        try:
            moment = datetime.datetime.fromisoformat(expiration)
        except ValueError:
            lifetime = 0.0
        else:
            if moment.tzinfo is None:
                lifetime = 0.0
            else:
                lifetime = (moment - datetime.datetime.now(datetime.UTC)).total_seconds()
    if lifetime <= 0 or lifetime > 366 * 24 * 3600:
        raise SbpAgentError("ERROR.QR_EXPIRATION_DATE_NOT_VALID", "Неверная дата истечения QR-кода")
    return lifetime
