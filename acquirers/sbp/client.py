# Strategy: the terminal's client of the SBP agent API (acquirers/sbp/api.py)
# over httpx on trio. This is the link boundary (docs/conventions.md, 6):
# httpx exceptions become SbpCommunicationError / SbpTimeoutError here, HTTP
# 5xx is a communication error, a refusal with a JSON `code` is SbpAgentError
# (SbpNotFoundError for ERROR.NOT_FOUND), and any answer that does not fit
# the documented shapes is SbpProtocolError. Callers see nothing else.
#
# Every payload URL the agent returns is parsed and its CRC checked
# (acquirers/sbp/qr.py) before it is handed on to be shown; its QR id must be
# the registered one, its type dynamic and, unless configured otherwise, its
# sum the amount in kopecks. Answers are read with a size cap. Trio
# cancellation is never caught.
from __future__ import annotations

import datetime
import re
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec
import trio

from acquirers.http.errors import map_httpx_errors
from acquirers.sbp import api
from acquirers.sbp.api import PaymentStatus, RefundStatus
from acquirers.sbp.config import SbpConfig
from acquirers.sbp.errors import (
    QrFormatError,
    SbpAgentError,
    SbpCommunicationError,
    SbpInvalidArgument,
    SbpProtocolError,
    SbpTimeoutError,
)
from acquirers.sbp.qr import QrType, parse_payload_url

__all__ = ["PaymentInfo", "RefundResult", "RegisteredQr", "SbpClient"]

T = TypeVar("T", bound=msgspec.Struct)

MAX_ANSWER_BYTES = 64 * 1024
_ORDER = re.compile(r"^[A-Za-z0-9_\-.:,'\"]{1,40}$")
_REFUND_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,255}$")
_QRC_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_MAX_AMOUNT = 10**12  # minor units; the ECR amount is 12 digits


@dataclass(frozen=True, slots=True)
class RegisteredQr:
    """A dynamic QR registered at the agent; ``payload`` is the URL to show."""

    qrc_id: str
    payload: str
    amount: int
    order: str


@dataclass(frozen=True, slots=True)
class PaymentInfo:
    """The agent's view of a QR's payment; ``operation_id`` is the SBP rrn."""

    qrc_id: str
    status: PaymentStatus
    amount: int | None
    operation_id: str | None
    order: str | None
    transaction_date: str | None


@dataclass(frozen=True, slots=True)
class RefundResult:
    refund_id: str
    status: RefundStatus
    amount: int


class SbpClient:
    """Async client of one SBP agent; use as ``async with SbpClient(cfg) as c``.

    ``http`` may be an httpx.AsyncClient supplied by the caller (its own
    transport, for instance); by default one is built from the configuration
    (timeouts, TLS) and closed with the client.
    """

    def __init__(self, config: SbpConfig, *, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._own_http = http is None
        if http is None:
            http = httpx.AsyncClient(
                timeout=httpx.Timeout(config.request_timeout, connect=config.connect_timeout),
                verify=config.ssl_context(),
                follow_redirects=False,
                trust_env=False,
            )
        self._http = http

    async def __aenter__(self) -> SbpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # --- operations ---------------------------------------------------------

    async def register_qr(
        self, amount: int, *, order: str | None = None, purpose: str | None = None
    ) -> RegisteredQr:
        """Register a dynamic QR for ``amount`` minor units (kopecks).

        ``order`` is the terminal's unique order id (A-Za-z0-9 and -_.:,'" up
        to 40); a random one is made when omitted.
        """
        _check_amount(amount)
        order = order or uuid.uuid4().hex
        if not _ORDER.match(order):
            raise SbpInvalidArgument("SBP order id must be 1-40 of A-Za-z0-9_-.:,'\"")
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
            seconds=self.config.qr_lifetime
        )
        request = api.RegisterQr(
            qr_type="QRDynamic",
            sbp_merchant_id=self.config.merchant_id,
            order=order,
            amount=api.roubles(amount),
            currency="RUB",
            qr_expiration_date=expires.isoformat(timespec="seconds"),
            payment_details=purpose,
            terminal_id=self.config.terminal_id,
        )
        answer = await self._call(
            "POST", api.REGISTER_PATH, api.QrResponse, "register QR", body=request
        )
        if not answer.qr_id or not answer.payload:
            raise SbpProtocolError("SBP agent: registration answer without qrId or payload")
        self._check_payload(answer.payload, answer.qr_id, amount)
        return RegisteredQr(answer.qr_id, answer.payload, amount, order)

    async def payment_info(self, qrc_id: str) -> PaymentInfo:
        """The current payment status of a registered QR."""
        path = api.PAYMENT_INFO_PATH.format(qrId=_path_id(qrc_id))
        answer = await self._call("GET", path, api.PaymentInfoResponse, "payment status")
        return self._payment_info(qrc_id, answer)

    async def cancel_qr(self, qrc_id: str) -> PaymentInfo:
        """Make an unpaid QR unpayable; answers its final payment info.

        If the answer's status is SUCCESS the customer paid before the
        cancellation took effect (an extension of the agent API: see api.py).
        """
        path = api.CANCEL_PATH.format(qrId=_path_id(qrc_id))
        answer = await self._call("DELETE", path, api.PaymentInfoResponse, "cancel QR")
        return self._payment_info(qrc_id, answer)

    async def refund(
        self,
        *,
        amount: int,
        refund_id: str,
        operation_id: str | None = None,
        order: str | None = None,
        wait: bool = True,
    ) -> RefundResult:
        """Refund ``amount`` kopecks of a paid operation.

        The payment is named by ``operation_id`` (the SBP rrn, the agent's
        transactionId) and/or the ``order`` it was registered with.
        ``refund_id`` identifies this refund at the agent: repeating a refund
        with the same id is idempotent, so keep it stable across retries
        (e.g. derive it from the journal record). With ``wait`` a refund the
        agent reports IN_PROGRESS is polled for up to ``refund_wait`` seconds;
        the last status is returned either way.
        """
        _check_amount(amount)
        if not _REFUND_ID.match(refund_id):
            raise SbpInvalidArgument("SBP refund id must be 1-255 of A-Za-z0-9_-.:")
        transaction_id: int | None = None
        if operation_id is not None:
            if not operation_id.isdigit() or len(operation_id) > 18:
                raise SbpInvalidArgument("SBP operation id (rrn) must be digits")
            transaction_id = int(operation_id)
        if transaction_id is None and order is None:
            raise SbpInvalidArgument("SBP refund needs the operation id or the order")
        request = api.RefundRequest(
            amount=api.roubles(amount),
            refund_id=refund_id,
            order=order,
            transaction_id=transaction_id,
            sbp_merchant_id=self.config.merchant_id,
        )
        answer = await self._call(  # idempotent by refund id
            "POST", api.REFUND_PATH, api.RefundResponse, "refund", body=request, idempotent=True
        )
        result = self._refund_result(refund_id, answer, amount)
        if wait and not result.status.final:
            result = await self._wait_refund(result)
        return result

    async def refund_info(self, refund_id: str) -> RefundResult:
        path = api.REFUND_INFO_PATH.format(refundId=_path_id(refund_id, _REFUND_ID))
        answer = await self._call("GET", path, api.RefundResponse, "refund status")
        return self._refund_result(refund_id, answer, None)

    # --- internals ----------------------------------------------------------

    async def _wait_refund(self, result: RefundResult) -> RefundResult:
        with trio.move_on_after(self.config.refund_wait):
            while not result.status.final:
                await trio.sleep(self.config.poll_interval)
                result = await self.refund_info(result.refund_id)
        return result

    def _check_payload(self, payload: str, qrc_id: str, amount: int) -> None:
        try:
            parsed = parse_payload_url(payload)
        except QrFormatError as exc:
            raise SbpProtocolError(f"SBP agent returned a bad payload URL: {exc.message}") from exc
        if parsed.qrc_id != qrc_id:
            raise SbpProtocolError("SBP agent payload URL names another QR id")
        if parsed.qr_type is not QrType.DYNAMIC:
            raise SbpProtocolError("SBP agent returned a static QR for a dynamic registration")
        if self.config.check_payload_sum and parsed.amount != amount:
            raise SbpProtocolError("SBP agent payload URL carries another sum")

    def _payment_info(self, qrc_id: str, answer: api.PaymentInfoResponse) -> PaymentInfo:
        if answer.payment_status is None:
            raise SbpProtocolError("SBP agent: payment info without paymentStatus")
        if answer.qr_id is not None and answer.qr_id != qrc_id:
            raise SbpProtocolError("SBP agent: payment info for another QR")
        amount = None if answer.amount is None else api.minor_units(answer.amount)
        operation = None if answer.transaction_id is None else str(answer.transaction_id)
        if answer.transaction_id is not None and answer.transaction_id < 0:
            raise SbpProtocolError("SBP agent: negative transactionId")
        if answer.payment_status is PaymentStatus.SUCCESS and operation is None:
            raise SbpProtocolError("SBP agent: paid without a transactionId")
        return PaymentInfo(
            qrc_id=qrc_id,
            status=answer.payment_status,
            amount=amount,
            operation_id=operation,
            order=answer.order,
            transaction_date=answer.transaction_date,
        )

    @staticmethod
    def _refund_result(
        refund_id: str, answer: api.RefundResponse, requested: int | None
    ) -> RefundResult:
        if answer.refund_status is None:
            raise SbpProtocolError("SBP agent: refund answer without refundStatus")
        if answer.amount is not None:
            amount = api.minor_units(answer.amount)
        elif requested is not None:
            amount = requested
        else:
            raise SbpProtocolError("SBP agent: refund answer without amount")
        return RefundResult(refund_id, answer.refund_status, amount)

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if self.config.secret_key:
            headers["authorization"] = f"Bearer {self.config.secret_key}"
        return headers

    async def _call(
        self,
        method: str,
        path: str,
        answer_type: type[T],
        what: str,
        *,
        body: msgspec.Struct | None = None,
        idempotent: bool | None = None,
    ) -> T:
        headers = self._headers()
        content: bytes | None = None
        if body is not None:
            content = api.ENCODER.encode(body)
            headers["content-type"] = "application/json; charset=utf-8"
        label = f"SBP agent: {what}"
        retry = method in ("GET", "DELETE") if idempotent is None else idempotent
        for attempt in (1, 2):
            try:
                with map_httpx_errors(
                    label, communication=SbpCommunicationError, timeout=SbpTimeoutError
                ):
                    status, data = await self._exchange(method, path, content, headers, label)
                break
            except SbpCommunicationError as exc:
                # A kept-alive connection the agent closed just as it was
                # reused: repeat an idempotent request once on a new one.
                if not (retry and attempt == 1 and isinstance(exc.__cause__, _STALE)):
                    raise
        return _interpret(label, status, data, answer_type)

    async def _exchange(
        self, method: str, path: str, content: bytes | None, headers: dict[str, str], label: str
    ) -> tuple[int, bytes]:
        async with self._http.stream(
            method, self.config.base_url + path, content=content, headers=headers
        ) as response:
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_ANSWER_BYTES:
                    raise SbpProtocolError(f"{label}: answer over {MAX_ANSWER_BYTES} bytes")
            return response.status_code, bytes(data)


_STALE = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def _interpret(label: str, status: int, data: bytes, answer_type: type[T]) -> T:
    if status >= 500:
        raise SbpCommunicationError(f"{label}: agent answered HTTP {status}")
    if 200 <= status < 300:
        try:
            answer = msgspec.json.decode(data, type=answer_type)
        except msgspec.DecodeError as exc:
            raise SbpProtocolError(f"{label}: answer is not JSON") from exc
        except msgspec.ValidationError as exc:
            # A refusal may come with 200 and an error shape the type rejects.
            error = _error(data)
            if error is not None and error.code != api.SUCCESS:
                raise SbpAgentError.from_code(error.code, error.message or "") from exc
            raise SbpProtocolError(f"{label}: unexpected answer: {exc}") from exc
        code: Any = getattr(answer, "code", None)
        if code == api.SUCCESS:
            return answer
        raise SbpAgentError.from_code(str(code), getattr(answer, "message", None) or "")
    error = _error(data)
    if error is None or error.code == api.SUCCESS:
        raise SbpProtocolError(f"{label}: agent answered HTTP {status} without an error code")
    raise SbpAgentError.from_code(error.code, error.message or "")


def _error(data: bytes) -> api.ErrorResponse | None:
    try:
        return msgspec.json.decode(data, type=api.ErrorResponse)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount < _MAX_AMOUNT:
        raise SbpInvalidArgument("SBP amount must be a positive number of minor units")


def _path_id(value: str, pattern: re.Pattern[str] = _QRC_ID) -> str:
    if not pattern.match(value):
        raise SbpInvalidArgument("SBP identifier has characters outside A-Za-z0-9")
    return quote(value, safe="")
