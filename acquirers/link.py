# Strategy: the trio adapter around the sans-I/O ISO 8583 layer
# (docs/conventions.md, 1). `AcquirerLink` opens a TCP connection (optionally TLS with the
# terminal's client certificate) to the main host, falling back to the mirror
# when the main cannot be reached; writes length-framed requests; reads frames
# until the response that matches on MTI class + STAN + TID (jPOS QMUX style),
# dropping anything else; verifies the response MAC. Connect and response
# timeouts come from `LinkConfig`. Every vendor exception (OSError,
# ssl.SSLError, trio.TooSlowError, trio.BrokenResourceError,
# trio.ClosedResourceError) is translated here into CommunicationError /
# HostTimeoutError naming the host and the failure (docs/conventions.md, 6),
# with `request_sent` telling whether the request may have reached the host.
#
# A connection lives for one `session()` (or one `exchange()`), so a host
# that closes idle connections never makes a request vanish silently; batch
# upload keeps one connection for the whole settlement.
from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

import trio

from acquirers.errors import (
    AcquirerError,
    CommunicationError,
    HostTimeoutError,
    Iso8583Error,
    KeyCheckError,
    MacVerificationError,
    MessageBuildError,
    UnexpectedResponseError,
)
from acquirers.iso8583 import response_codes
from acquirers.iso8583.codec import Codec, IsoMessage
from acquirers.iso8583.dialect import Dialect
from acquirers.iso8583.framing import Framer, frame
from acquirers.iso8583.matching import is_response_to
from acquirers.iso8583.messages import (
    BatchRecord,
    BatchTotals,
    CardAcceptor,
    FinancialResponse,
    KeyExchangeResponse,
    NetworkResponse,
    ReconciliationResponse,
    ReversalResponse,
    as_repeat,
    build_batch_upload,
    build_cutover,
    build_echo,
    build_key_change,
    build_reconciliation,
    build_sign_on,
)
from acquirers.iso8583.security import MasterKeys, WorkingKeys
from acquirers.iso8583.stan import StanSource

__all__ = [
    "AcquirerLink",
    "HostAddress",
    "KeyExchangeResult",
    "LinkConfig",
    "LinkSession",
    "SettlementResult",
]

log = logging.getLogger("acquirers.link")

T = TypeVar("T")


@dataclass(frozen=True)
class HostAddress:
    host: str
    port: int
    name: str = ""  # "main" / "mirror" in messages

    def __str__(self) -> str:
        label = f"{self.name} host " if self.name else "host "
        return f"{label}{self.host}:{self.port}"


# Awaited with the next host when a connection failed and another is tried.
Failover = Callable[[HostAddress], Awaitable[None]]


@dataclass(frozen=True)
class LinkConfig:
    main: HostAddress
    mirror: HostAddress | None = None
    connect_timeout: float = 10.0
    response_timeout: float = 30.0
    tls: ssl.SSLContext | None = None
    tls_server_hostname: str | None = None  # default: the host's name
    max_frame: int = 8192
    close_timeout: float = 2.0

    def hosts(self) -> list[HostAddress]:
        out = [self.main if self.main.name else HostAddress(self.main.host, self.main.port, "main")]
        if self.mirror is not None:
            m = self.mirror
            out.append(m if m.name else HostAddress(m.host, m.port, "mirror"))
        return out


def _now() -> datetime:
    return datetime.now().astimezone()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError):
        # trio.open_tcp_stream reports "all attempts failed" with the attempts'
        # own errors grouped in __cause__: name those instead.
        cause = exc.__cause__
        if isinstance(cause, BaseExceptionGroup):
            reasons = dict.fromkeys(_reason(e) for e in cause.exceptions)
            return ", ".join(reasons)
        if isinstance(cause, OSError):
            return _reason(cause)
        return (exc.strerror or str(exc) or type(exc).__name__).lower()
    if isinstance(exc, trio.TooSlowError):
        return "timed out"
    if isinstance(exc, trio.BrokenResourceError):
        cause = exc.__cause__
        return f"connection broken ({_reason(cause)})" if cause else "connection broken"
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class KeyExchangeResult:
    """New working keys (not yet installed) and the RRNs of their exchanges."""

    keys: WorkingKeys
    pin_rrn: str | None
    mac_rrn: str | None


@dataclass
class SettlementResult:
    """The outcome of `settle()`. ``batch_upload`` is None when the batch was in
    balance, True when the upload and closing went through, False otherwise."""

    reconciliation: ReconciliationResponse
    batch_upload: bool | None = None
    uploaded: int = 0
    closing: ReconciliationResponse | None = None
    upload_error: str | None = None
    terminal_totals: BatchTotals = field(default_factory=BatchTotals)
    # The closing 0500 96 may have reached the host but no answer came: the
    # host may have closed its batch. Only a repeated settlement can tell.
    closing_unknown: bool = False

    @property
    def passed(self) -> bool:
        if self.reconciliation.in_balance:
            return True
        return bool(self.batch_upload) and self.closing is not None and self.closing.in_balance

    @property
    def final(self) -> ReconciliationResponse:
        """The answer that decided (the closing one after a batch upload)."""
        return self.closing or self.reconciliation


class LinkSession:
    """One connection to the host; exchanges run one at a time."""

    def __init__(self, link: AcquirerLink, stream: trio.abc.Stream, host: HostAddress) -> None:
        self._link = link
        self._stream = stream
        self.host = host
        self._framer = Framer(link.config.max_frame)
        self._lock = trio.Lock()
        self._broken = False

    async def exchange(
        self, request: IsoMessage, *, response_timeout: float | None = None
    ) -> IsoMessage:
        """Send ``request`` and return its matching, MAC-checked response."""
        async with self._lock:
            if self._broken:
                raise CommunicationError(f"{self.host}: connection already failed")
            try:
                return await self._exchange(request, response_timeout)
            except AcquirerError as exc:
                # Nothing left: the connection is as good as before. Otherwise its
                # state is unknown (a late answer may still arrive): drop it.
                if exc.request_sent:
                    self._broken = True
                raise

    async def _exchange(self, request: IsoMessage, response_timeout: float | None) -> IsoMessage:
        link = self._link
        codec = link.codec
        tak = link.keys.tak if link.keys is not None else None
        if codec.needs_mac(request.mti) and tak is None:
            raise MessageBuildError(f"{request.mti} needs a MAC but no working MAC key is loaded")
        payload = frame(codec.encode(request, mac_key=tak), link.config.max_frame)
        if log.isEnabledFor(logging.DEBUG):  # describe() is not free
            log.debug("to %s: %s", self.host, codec.describe(request))
        try:
            await self._stream.send_all(payload)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            # The bytes may have left before the failure was noticed.
            raise CommunicationError(
                f"{self.host}: sending {request.mti} failed: {_reason(exc)}", request_sent=True
            ) from exc
        limit = link.config.response_timeout if response_timeout is None else response_timeout
        try:
            with trio.fail_after(limit):
                while True:
                    raw = await self._next_frame(request)
                    try:
                        response = codec.decode(raw)
                    except Iso8583Error as exc:
                        raise UnexpectedResponseError(
                            f"{self.host}: undecodable answer to {request.mti}: {exc.message}",
                            request_sent=True,
                        ) from exc
                    if is_response_to(request, response):
                        break
                    log.warning(
                        "from %s: dropping unmatched %s", self.host, codec.describe(response)
                    )
        except trio.TooSlowError:
            raise HostTimeoutError(
                f"{self.host}: no answer to {request.mti} within {limit:g} s", request_sent=True
            ) from None
        if log.isEnabledFor(logging.DEBUG):  # describe() is not free
            log.debug("from %s: %s", self.host, codec.describe(response))
        self._check_mac(raw, response, tak)
        if link.on_answer is not None:
            link.on_answer(request, response)
        return response

    async def _next_frame(self, request: IsoMessage) -> bytes:
        while True:
            try:
                got = self._framer.next_frame()
            except Iso8583Error as exc:
                raise UnexpectedResponseError(
                    f"{self.host}: bad frame in answer to {request.mti}: {exc.message}",
                    request_sent=True,
                ) from exc
            if got is not None:
                return got
            try:
                data = await self._stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise CommunicationError(
                    f"{self.host}: connection lost waiting for the answer to {request.mti}:"
                    f" {_reason(exc)}",
                    request_sent=True,
                ) from exc
            if not data:
                raise CommunicationError(
                    f"{self.host}: host closed the connection before answering {request.mti}",
                    request_sent=True,
                )
            self._framer.feed(bytes(data))

    def _check_mac(self, raw: bytes, response: IsoMessage, tak: bytes | None) -> None:
        codec = self._link.codec
        if not codec.needs_mac(response.mti) or tak is None:
            return
        if 64 not in response and 128 not in response:
            # A host cannot MAC an answer to a request whose MAC it rejected;
            # an unMACed answer is believed only when it declines.
            code = response.text_or_none(39) or ""
            if response_codes.lookup(code, codec.dialect.response_codes).approved:
                raise MacVerificationError(
                    f"{self.host}: approving {response.mti} without a MAC", request_sent=True
                )
            return
        try:
            codec.verify_mac(raw, response, tak)
        except MacVerificationError as exc:
            raise MacVerificationError(f"{self.host}: {exc.message}", request_sent=True) from None

    async def aclose(self) -> None:
        with trio.move_on_after(self._link.config.close_timeout) as scope:
            scope.shield = True
            with suppress(
                trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError
            ):
                await self._stream.aclose()
        if scope.cancelled_caught:
            await trio.aclose_forcefully(self._stream)


class AcquirerLink:
    """The terminal's side of the ISO 8583 acquirer link.

    ``keys`` holds the working keys in use (install new ones after a
    successful key exchange); ``stan`` hands out STANs for the messages the
    link builds itself (network management, reconciliation, batch upload);
    financial messages, reversals and advices are built and journalled by the
    caller and passed in.
    """

    def __init__(
        self,
        config: LinkConfig,
        dialect: Dialect,
        terminal: CardAcceptor,
        *,
        stan: StanSource,
        keys: WorkingKeys | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.config = config
        self.dialect = dialect
        self.codec = Codec(dialect)
        self.terminal = terminal
        self.stan = stan
        self.keys = keys
        self.clock = clock
        self.current_host: HostAddress | None = None
        # Called with every request and its matching, MAC-checked answer
        # (the owner watches for the host asking for new keys).
        self.on_answer: Callable[[IsoMessage, IsoMessage], None] | None = None

    # -- connections ------------------------------------------------------------------
    async def _connect_one(self, host: HostAddress) -> trio.abc.Stream:
        cfg = self.config
        with trio.fail_after(cfg.connect_timeout):
            tcp = await trio.open_tcp_stream(host.host, host.port)
            if cfg.tls is None:
                return tcp
            tls = trio.SSLStream(tcp, cfg.tls, server_hostname=cfg.tls_server_hostname or host.host)
            try:
                await tls.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(tcp)
                raise
            return tls

    async def connect(
        self, hosts: list[HostAddress] | None = None, *, on_failover: Failover | None = None
    ) -> LinkSession:
        """Connect to the main host, else the mirror; CommunicationError naming
        each host and its failure when neither answers. ``on_failover(host)``
        is awaited before a host after a failed one is tried (the D2
        'reconnecting' display)."""
        failures: list[str] = []
        for host in hosts if hosts is not None else self.config.hosts():
            if failures and on_failover is not None:
                await on_failover(host)
            try:
                stream = await self._connect_one(host)
            except (OSError, ssl.SSLError, trio.TooSlowError, trio.BrokenResourceError) as exc:
                reason = _reason(exc)
                if isinstance(exc, trio.TooSlowError):
                    reason = f"no connection within {self.config.connect_timeout:g} s"
                log.warning("%s: %s", host, reason)
                failures.append(f"{host}: {reason}")
                continue
            self.current_host = host
            return LinkSession(self, stream, host)
        raise CommunicationError("cannot reach the acquirer: " + "; ".join(failures))

    @asynccontextmanager
    async def session(self, *, on_failover: Failover | None = None) -> AsyncIterator[LinkSession]:
        """One connection for several exchanges (e.g. a settlement)."""
        conn = await self.connect(on_failover=on_failover)
        try:
            yield conn
        finally:
            await conn.aclose()

    async def exchange(
        self,
        request: IsoMessage,
        *,
        response_timeout: float | None = None,
        on_failover: Failover | None = None,
    ) -> IsoMessage:
        """Connect, send ``request``, return its matching response, disconnect."""
        async with self.session(on_failover=on_failover) as conn:
            return await conn.exchange(request, response_timeout=response_timeout)

    # -- helpers per message type -------------------------------------------------------
    def _when(self) -> datetime:
        return self.clock()

    async def financial(
        self, request: IsoMessage, *, on_failover: Failover | None = None
    ) -> FinancialResponse:
        """A 0200 (built with messages.build_financial) -> its 0210."""
        if request.mti != "0200":
            raise MessageBuildError(f"financial() sends 0200, not {request.mti}")
        answer = await self.exchange(request, on_failover=on_failover)
        return self._parse(FinancialResponse.from_message, answer)

    async def advice(self, advice: IsoMessage, *, repeat: bool = False) -> FinancialResponse:
        """A 0220 (or its 0221 repeat) -> 0230."""
        if advice.mti not in ("0220", "0221"):
            raise MessageBuildError(f"advice() sends 0220, not {advice.mti}")
        msg = as_repeat(advice) if repeat and advice.mti == "0220" else advice
        return self._parse(FinancialResponse.from_message, await self.exchange(msg))

    async def reverse(self, reversal: IsoMessage, *, repeat: bool = False) -> ReversalResponse:
        """A 0400 (or, for every retry after the first, its 0401 repeat) -> 0410."""
        if reversal.mti not in ("0400", "0401"):
            raise MessageBuildError(f"reverse() sends 0400, not {reversal.mti}")
        msg = as_repeat(reversal) if repeat and reversal.mti == "0400" else reversal
        return self._parse(ReversalResponse.from_message, await self.exchange(msg))

    async def echo(self) -> NetworkResponse:
        """0800 echo test; the `testconnection` command."""
        msg = build_echo(self.terminal, self.dialect, stan=self.stan.next_stan(), when=self._when())
        return self._parse(NetworkResponse.from_message, await self.exchange(msg))

    async def test_connection(self) -> tuple[HostAddress, NetworkResponse]:
        """The `testconnection` command: an echo to the main host, then to the
        mirror if the main cannot be reached *or does not answer*; the first
        host that answers and its answer, else one CommunicationError naming
        every host and its failure."""
        failures = []
        for host in self.config.hosts():
            msg = build_echo(
                self.terminal, self.dialect, stan=self.stan.next_stan(), when=self._when()
            )
            try:
                conn = await self.connect([host])
                try:
                    answer = await conn.exchange(msg)
                finally:
                    await conn.aclose()
                return host, self._parse(NetworkResponse.from_message, answer)
            except CommunicationError as exc:
                failures.append(exc.message.removeprefix("cannot reach the acquirer: "))
        raise CommunicationError("connection test failed: " + "; ".join(failures))

    async def sign_on(self) -> NetworkResponse:
        msg = build_sign_on(
            self.terminal, self.dialect, stan=self.stan.next_stan(), when=self._when()
        )
        return self._parse(NetworkResponse.from_message, await self.exchange(msg))

    async def cutover(self, currency: str | None = None) -> NetworkResponse:
        """0800 cutover; `cov-resp-code` is its response code, `cov-rrn` its RRN.
        ``currency``: the one the host's totals in the answer are asked in
        (build_cutover)."""
        msg = build_cutover(
            self.terminal,
            self.dialect,
            stan=self.stan.next_stan(),
            when=self._when(),
            currency=currency,
        )
        return self._parse(NetworkResponse.from_message, await self.exchange(msg))

    async def change_working_keys(self, master: MasterKeys) -> KeyExchangeResult:
        """Key exchange for the PIN key, then the MAC key, on one connection.
        Each delivered key must match its KCV, else KeyCheckError and no key
        changes; the caller persists and installs ``result.keys``."""
        current = self.keys or WorkingKeys()
        new = current
        rrns: dict[str, str | None] = {}
        async with self.session() as conn:
            for key_type in ("pin", "mac"):
                msg = build_key_change(
                    self.terminal,
                    self.dialect,
                    key_type=key_type,
                    stan=self.stan.next_stan(),
                    when=self._when(),
                )
                answer = self._parse(KeyExchangeResponse.from_message, await conn.exchange(msg))
                if answer.response_code != "00":
                    raise AcquirerError(
                        f"{conn.host}: {key_type.upper()} key exchange declined"
                        f" ({answer.response_code})",
                        request_sent=True,
                    )
                try:
                    key = answer.unwrap(master)
                except KeyCheckError as exc:
                    raise KeyCheckError(
                        f"{conn.host}: {key_type.upper()} working key rejected: {exc.message}",
                        request_sent=True,
                    ) from None
                new = new.replace(key_type, key)
                rrns[key_type] = answer.rrn
        return KeyExchangeResult(new, rrns.get("pin"), rrns.get("mac"))

    async def reconcile(
        self,
        totals: BatchTotals,
        *,
        batch: str,
        closing: bool = False,
        currency: str | None = None,
    ) -> ReconciliationResponse:
        msg = build_reconciliation(
            totals,
            self._in(currency),
            self.dialect,
            stan=self.stan.next_stan(),
            when=self._when(),
            batch=batch,
            closing=closing,
        )
        return self._parse(ReconciliationResponse.from_message, await self.exchange(msg))

    async def settle(
        self,
        totals: BatchTotals,
        records: Iterable[BatchRecord] | AsyncIterable[BatchRecord],
        *,
        batch: str,
        stan: StanSource | None = None,
        currency: str | None = None,
    ) -> SettlementResult:
        """0500 92 with ``totals``; when the host answers out of balance (95),
        upload every record (0320) and close with 0500 96, all on one
        connection. Errors of the first 0500 propagate; an upload or closing
        that fails ends with ``batch_upload=False``. ``records`` is iterated
        only when the upload is needed, once, so a journal can stream it.
        ``stan``: where this settlement's STANs come from (default: the
        link's source), e.g. a block reserved at once for a long upload.
        ``currency``: the currency of ``totals`` and of every record (default:
        the terminal's); each currency of a batch is settled on its own."""
        stans = stan or self.stan
        acceptor = self._in(currency)
        async with self.session() as conn:
            first = self._parse(
                ReconciliationResponse.from_message,
                await conn.exchange(
                    build_reconciliation(
                        totals,
                        acceptor,
                        self.dialect,
                        stan=stans.next_stan(),
                        when=self._when(),
                        batch=batch,
                    )
                ),
            )
            result = SettlementResult(first, terminal_totals=totals)
            if not first.out_of_balance:
                return result
            try:
                await self._upload(conn, records, batch, result, stans, acceptor)
            except AcquirerError as exc:
                log.warning("batch upload failed: %s", exc.message)
                result.batch_upload = False
                result.upload_error = exc.message
                return result
            closing = build_reconciliation(
                totals,
                acceptor,
                self.dialect,
                stan=stans.next_stan(),
                when=self._when(),
                batch=batch,
                closing=True,
            )
            try:
                result.closing = self._parse(
                    ReconciliationResponse.from_message, await conn.exchange(closing)
                )
            except AcquirerError as exc:
                log.warning("closing after batch upload failed: %s", exc.message)
                result.batch_upload = False
                result.upload_error = exc.message
                result.closing_unknown = exc.request_sent
                return result
            result.batch_upload = result.closing.in_balance
            return result

    async def force_close(
        self,
        totals: BatchTotals,
        *,
        batch: str,
        repeat: bool = False,
        currency: str | None = None,
    ) -> ReconciliationResponse:
        """Forced settlement: a 0520 reconciliation advice (0521 when repeated)
        telling the host that the terminal closed ``batch`` with ``totals``
        (in ``currency``, default the terminal's)."""
        msg = build_reconciliation(
            totals,
            self._in(currency),
            self.dialect,
            stan=self.stan.next_stan(),
            when=self._when(),
            batch=batch,
            advice=True,
        )
        if repeat:
            msg = as_repeat(msg)
        return self._parse(ReconciliationResponse.from_message, await self.exchange(msg))

    async def _upload(
        self,
        conn: LinkSession,
        records: Iterable[BatchRecord] | AsyncIterable[BatchRecord],
        batch: str,
        result: SettlementResult,
        stans: StanSource,
        acceptor: CardAcceptor,
    ) -> None:
        async def one(record: BatchRecord) -> None:
            msg = build_batch_upload(
                record,
                acceptor,
                self.dialect,
                stan=stans.next_stan(),
                when=self._when(),
                batch=batch,
            )
            answer = await conn.exchange(msg)
            code = answer.text_or_none(39)
            if code != "00":
                raise AcquirerError(
                    f"{conn.host}: batch upload of STAN {record.stan} refused ({code})",
                    request_sent=True,
                )
            result.uploaded += 1

        if isinstance(records, AsyncIterable):
            async for record in records:
                await one(record)
        else:
            for record in records:
                await one(record)

    def _in(self, currency: str | None) -> CardAcceptor:
        """The terminal as a message in ``currency`` names it (field 49)."""
        if currency is None or currency == self.terminal.currency:
            return self.terminal
        return replace(self.terminal, currency=currency)

    def _parse(self, parser: Callable[[IsoMessage, Dialect], T], msg: IsoMessage) -> T:
        try:
            return parser(msg, self.dialect)
        except Iso8583Error as exc:
            raise UnexpectedResponseError(
                f"{self.current_host}: malformed {msg.mti}: {exc.message}", request_sent=True
            ) from exc
