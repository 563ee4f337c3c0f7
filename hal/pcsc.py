# Strategy: card readers through the PC/SC resource manager (pcscd on Linux,
# WinSCard on Windows) with pyscard's low-level `smartcard.scard` API
# (PC/SC Workgroup specification part 5: SCardEstablishContext,
# SCardListReaders, SCardGetStatusChange, SCardConnect, SCardTransmit,
# SCardStatus, SCardCancel). The optional extra `cardcore[pcsc]` brings
# pyscard; without it every operation raises ReaderNotAvailable.
# - Blocking calls run in trio worker threads (trio.to_thread). Waiting for a
#   reader or a card is SCardGetStatusChange with a bounded timeout in a loop;
#   a cancelled wait calls SCardCancel on its context, so cancellation is
#   immediate, and at worst bounded by the poll timeout. Each wait and each
#   card session has its own SCARDCONTEXT: pcsc-lite serialises calls on one
#   context, so a blocked wait must not share it with a transmit.
# - A reader is chosen per interface by name patterns from configuration
#   (hal.readerselect: fnmatch, case-insensitive, first pattern that matches
#   wins); waiting for a card also waits for a matching reader to be plugged
#   in (hot-plug through the "\\?PnP?\Notification" pseudo-reader, and a
#   re-list each poll).
# - APDUs: one SCardTransmit per CardSession.transmit; T=0 procedure bytes
#   61xx/6Cxx go up to kernel.apdu.Transport, the one place that completes
#   them. With T=0 the Le of a case-4 command is stripped here (ISO 7816-3
#   12.2.4: T=0 cannot carry it; the card answers 61xx instead).
# - Contactless readers (PC/SC part 3): the synthesised ATR is interpreted
#   (hal.atr), the UID read with GET DATA FF CA 00 00 00, ATQA/SAK taken from
#   a reader-specific pseudo-APDU when configured or derived otherwise;
#   MIFARE operations are pseudo-APDUs through the session (hal.mifare).
# - pyscard's errors are translated here and nowhere else: return codes and
#   exceptions alike (NoCardException is not a CardConnectionException in
#   pyscard 2.3, so both are named). Card gone -> CardRemoved, no resource
#   manager or reader -> ReaderNotAvailable, the rest -> ReaderError.
# - Right after a card change pcscd can briefly answer "unpowered",
#   "removed", "unresponsive" or "sharing violation" to SCardConnect; those are
#   retried with back-off within `settle` seconds before they count.
# - A reader with its own keypad (a class-3 reader, PC/SC part 10) is asked
#   for its features once per reader name with SCardControl
#   (CM_IOCTL_GET_FEATURE_REQUEST; hal.pcsc_part10 holds the bytes); one that
#   reports FEATURE_VERIFY_PIN_DIRECT takes offline plaintext PIN entry
#   itself: the card session's `verify_offline_pin` hands it the VERIFY
#   template and gets the card's status word back; the PIN stays in the reader.
from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from base.errors import CardcoreError
from hal import pcsc_part10 as part10
from hal.atr import derive_atqa_sak, parse_contactless_atr
from hal.interfaces import (
    CardInfo,
    CardInterface,
    CardRemoved,
    CardSession,
    CardType,
    KeypadPinEntry,
    ReaderError,
    ReaderNotAvailable,
)
from hal.readerselect import ReaderSelector
from kernel.errors import PinEntryBypassed, PinPadError

try:  # the optional extra cardcore[pcsc]
    from smartcard import Exceptions as _pyscard_exceptions
    from smartcard import scard as _scard
except ImportError:  # pragma: no cover - depends on the installation
    _scard = None
    _pyscard_exceptions = None

__all__ = [
    "PNP_NOTIFICATION",
    "PcscCardSession",
    "PcscReader",
    "PcscStack",
    "ReaderSelector",
    "ReaderState",
    "error_for",
    "pyscard_available",
    "strip_t0_le",
    "translate_exception",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"

# PC/SC return codes (part 5 / winscard.h; pcsc-lite uses the same values).
S_SUCCESS = 0x00000000
E_CANCELLED = 0x80100002
E_INVALID_HANDLE = 0x80100003
E_UNKNOWN_READER = 0x80100009
E_TIMEOUT = 0x8010000A
E_SHARING_VIOLATION = 0x8010000B
E_NO_SMARTCARD = 0x8010000C
E_PROTO_MISMATCH = 0x8010000F
E_NOT_READY = 0x80100010
E_SYSTEM_CANCELLED = 0x80100012
F_COMM_ERROR = 0x80100013
E_READER_UNAVAILABLE = 0x80100017
E_NO_SERVICE = 0x8010001D
E_SERVICE_STOPPED = 0x8010001E
E_NO_READERS_AVAILABLE = 0x8010002E
W_UNSUPPORTED_CARD = 0x80100065
W_UNRESPONSIVE_CARD = 0x80100066
W_UNPOWERED_CARD = 0x80100067
W_RESET_CARD = 0x80100068
W_REMOVED_CARD = 0x80100069
W_SECURITY_VIOLATION = 0x8010006A

STATE_UNAWARE = 0x0000
STATE_IGNORE = 0x0001
STATE_CHANGED = 0x0002
STATE_UNKNOWN = 0x0004
STATE_UNAVAILABLE = 0x0008
STATE_EMPTY = 0x0010
STATE_PRESENT = 0x0020
STATE_EXCLUSIVE = 0x0080
STATE_INUSE = 0x0100
STATE_MUTE = 0x0200

SHARE_SHARED = 2
SHARE_DIRECT = 3
PROTOCOL_T0 = 1
PROTOCOL_T1 = 2
UNPOWER_CARD = 2

# Codes meaning "the card is not there (any more)".
CARD_GONE = frozenset({W_REMOVED_CARD, E_NO_SMARTCARD, W_RESET_CARD, W_UNPOWERED_CARD})
# Codes meaning "the reader, or the whole resource manager, is not there".
STACK_GONE = frozenset(
    {
        E_NO_SERVICE,
        E_SERVICE_STOPPED,
        E_NO_READERS_AVAILABLE,
        E_READER_UNAVAILABLE,
        E_UNKNOWN_READER,
    }
)
# Answers pcscd gives for a moment right after a card was inserted or swapped.
TRANSIENT = frozenset(
    {
        W_UNPOWERED_CARD,
        W_REMOVED_CARD,
        E_NO_SMARTCARD,
        W_RESET_CARD,
        W_UNRESPONSIVE_CARD,
        E_SHARING_VIOLATION,
        E_NOT_READY,
    }
)

_NAMES = {
    E_CANCELLED: "cancelled",
    E_INVALID_HANDLE: "invalid handle",
    E_UNKNOWN_READER: "unknown reader",
    E_TIMEOUT: "timeout",
    E_SHARING_VIOLATION: "reader in use by another application",
    E_NO_SMARTCARD: "no card in the reader",
    E_PROTO_MISMATCH: "protocol mismatch",
    E_NOT_READY: "reader or card not ready",
    E_SYSTEM_CANCELLED: "cancelled by the system",
    F_COMM_ERROR: "communication error with the reader",
    E_READER_UNAVAILABLE: "reader unavailable",
    E_NO_SERVICE: "the PC/SC service (pcscd) is not running",
    E_SERVICE_STOPPED: "the PC/SC service (pcscd) stopped",
    E_NO_READERS_AVAILABLE: "no readers available",
    W_UNSUPPORTED_CARD: "card not supported (ATR)",
    W_UNRESPONSIVE_CARD: "card does not answer to reset (mute)",
    W_UNPOWERED_CARD: "card not powered",
    W_RESET_CARD: "card was reset by another application",
    W_REMOVED_CARD: "card removed",
    W_SECURITY_VIOLATION: "access to pcscd refused (polkit), or pcscd restarting",
}
# Talking to the resource manager itself (establishing a context, listing
# readers), these mean it is not (properly) there rather than a reader fault.
SERVICE_TROUBLE = frozenset({F_COMM_ERROR, W_SECURITY_VIOLATION})


def pyscard_available() -> bool:
    return _scard is not None


def _unsigned(code: int) -> int:
    return code & 0xFFFFFFFF


def error_for(code: int, action: str, *, service: bool = False) -> CardcoreError:
    """The HAL error for a PC/SC return code; ``service``: the call was to the
    resource manager itself (context, reader list), not to a reader."""
    code = _unsigned(code)
    text = f"{action}: {_NAMES.get(code, 'PC/SC error')} (0x{code:08X})"
    if code in CARD_GONE:
        return CardRemoved(text)
    if code in STACK_GONE or (service and code in SERVICE_TROUBLE):
        return ReaderNotAvailable(text)
    return ReaderError(text)


def translate_exception(exc: BaseException, action: str) -> CardcoreError | None:
    """The HAL error for an exception pyscard raised; None for foreign ones."""
    if _pyscard_exceptions is not None:
        exceptions = _pyscard_exceptions
        if isinstance(exc, exceptions.NoCardException):  # not a CardConnectionException
            return CardRemoved(f"{action}: no card in the reader")
        if isinstance(exc, exceptions.NoReadersException | exceptions.CardServiceStoppedException):
            return ReaderNotAvailable(f"{action}: {exc}")
        hresult = getattr(exc, "hresult", -1)
        if isinstance(exc, exceptions.SmartcardException):
            if isinstance(hresult, int) and hresult not in (-1, 0):
                return error_for(hresult, action)
            return ReaderError(f"{action}: {exc}")
    if _scard is not None and isinstance(exc, _scard.error):
        return ReaderError(f"{action}: {exc}")
    return None


@contextlib.contextmanager
def _pyscard_errors(action: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        translated = translate_exception(exc, action)
        if translated is None:
            raise
        raise translated from exc


def _require_pyscard() -> Any:
    if _scard is None:
        raise ReaderNotAvailable(
            "PC/SC support is not installed (pip install 'cardcore[pcsc]', needs libpcsclite)"
        )
    return _scard


def strip_t0_le(capdu: bytes) -> bytes:
    """A short case-4 C-APDU without its Le, for T=0 (ISO 7816-3 12.2.4)."""
    if len(capdu) > 5 and capdu[4] != 0 and len(capdu) == 5 + capdu[4] + 1:
        return capdu[:-1]
    return capdu


# --- contexts and cancellable waits -------------------------------------------


class _Context:
    """One SCARDCONTEXT; blocking methods are called from worker threads."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.released = False

    @classmethod
    async def establish(cls) -> _Context:
        scard = _require_pyscard()

        def establish() -> Any:
            with _pyscard_errors("establish PC/SC context"):
                rv, handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if _unsigned(rv) != S_SUCCESS:
                raise error_for(rv, "establish PC/SC context", service=True)
            return handle

        return cls(await trio.to_thread.run_sync(establish))

    def cancel(self) -> None:
        """Make a blocked SCardGetStatusChange on this context return (any thread)."""
        if not self.released and _scard is not None:
            with contextlib.suppress(Exception):
                _scard.SCardCancel(self.handle)

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        scard = _require_pyscard()

        def release() -> None:
            with contextlib.suppress(Exception):
                scard.SCardReleaseContext(self.handle)

        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(release)

    async def list_readers(self) -> list[str]:
        scard = _require_pyscard()

        def list_readers() -> list[str]:
            with _pyscard_errors("list readers"):
                rv, readers = scard.SCardListReaders(self.handle, [])
            code = _unsigned(rv)
            if code == E_NO_READERS_AVAILABLE:
                return []
            if code != S_SUCCESS:
                raise error_for(code, "list readers", service=True)
            return [str(r) for r in readers]

        return await trio.to_thread.run_sync(list_readers)

    async def status_change(
        self, states: list[tuple[str, int]], timeout: float
    ) -> tuple[int, list[tuple[str, int, bytes]]]:
        """SCardGetStatusChange for at most ``timeout`` seconds; cancelling the
        caller cancels the call (SCardCancel) and waits for the thread."""
        scard = _require_pyscard()
        millis = max(1, int(timeout * 1000))

        def wait() -> tuple[int, list[tuple[str, int, bytes]]]:
            with _pyscard_errors("wait for reader status"):
                rv, result = scard.SCardGetStatusChange(self.handle, millis, states)
            out = [(str(r[0]), int(r[1]), bytes(r[2])) for r in result or []]
            return _unsigned(rv), out

        return await _cancellable(wait, self.cancel)


async def _cancellable(fn: Callable[[], T], cancel: Callable[[], None]) -> T:
    """Run blocking ``fn`` in a worker thread. When the caller is cancelled,
    ``cancel`` (thread-safe) is called to make ``fn`` return, and the thread is
    awaited before the cancellation propagates: no thread outlives its call."""
    done = False

    async def watch() -> None:
        try:
            await trio.sleep_forever()
        finally:
            if not done:
                cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        with trio.CancelScope(shield=True):
            result = await trio.to_thread.run_sync(fn)
        done = True
        nursery.cancel_scope.cancel()
    return result


# --- the stack and its readers ------------------------------------------------


def _log_changes(before: Sequence[str], after: Sequence[str]) -> None:
    for name in after:
        if name not in before:
            log.info("PC/SC reader plugged in: %s", name)
    for name in before:
        if name not in after:
            log.info("PC/SC reader removed: %s", name)


@dataclass(frozen=True)
class ReaderState:
    """A reader as SCardGetStatusChange sees it."""

    name: str
    present: bool
    atr: bytes = b""
    mute: bool = False
    exclusive: bool = False  # another application holds the card exclusively
    unavailable: bool = False


@dataclass
class PcscStack:
    """The PC/SC resource manager as the terminal uses it.

    ``poll``: the longest a blocking wait runs before it is re-issued (also
    the bound on hot-plug discovery when PnP notification is not available);
    ``settle``: how long transient answers after a card change are retried.
    """

    poll: float = 1.0
    settle: float = 2.0

    async def list_readers(self) -> list[str]:
        ctx = await _Context.establish()
        try:
            return await ctx.list_readers()
        finally:
            await ctx.release()

    async def wait_for_reader_change(self, known: Sequence[str]) -> list[str]:
        """Return the reader list once it differs from ``known``."""
        ctx = await _Context.establish()
        try:
            while True:
                readers = await ctx.list_readers()
                if readers != list(known):
                    return readers
                code, _ = await ctx.status_change([(PNP_NOTIFICATION, len(known) << 16)], self.poll)
                if code not in (S_SUCCESS, E_TIMEOUT, E_CANCELLED):
                    if code in (E_NO_SERVICE, E_SERVICE_STOPPED):
                        raise error_for(code, "wait for readers")
                    await trio.sleep(self.poll)  # PnP notification not supported
        finally:
            await ctx.release()

    async def wait_for_service(self) -> None:
        """Return once the resource manager answers again (pcscd restarted)."""
        while True:
            try:
                await self.list_readers()
                return
            except ReaderNotAvailable:
                await trio.sleep(self.poll)

    async def monitor(
        self,
        *,
        on_change: Callable[[list[str] | None], None] | None = None,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Log readers plugged in and removed until cancelled (a device monitor
        of `cardcore serve`); a missing pcscd is logged once and waited for.
        The first listing happens before the task counts as started, so what
        start-up found is logged before the terminal is ready; ``on_change``
        sees every new list (None: the service is gone)."""
        readers: list[str] | None = None
        down = False
        started = False
        while True:
            try:
                with trio.move_on_after(math.inf if started else 2 * self.poll + 5):
                    current = await self.list_readers()
                    if readers is None:
                        log.info("PC/SC readers: %s", ", ".join(current) or "none")
                    elif down:
                        log.info("PC/SC service is back")
                    if down or readers is None:
                        _log_changes(readers or current, current)
                        readers, down = current, False
                        if on_change is not None:
                            on_change(current)
                if not started:
                    task_status.started()
                    started = True
                if readers is None:
                    continue
                changed = await self.wait_for_reader_change(readers)
                _log_changes(readers, changed)
                readers = changed
                if on_change is not None:
                    on_change(changed)
            except ReaderNotAvailable as exc:
                if not down:
                    log.warning("%s; waiting for it", exc.message)
                    down = True
                    if on_change is not None:
                        on_change(None)
                if not started:
                    task_status.started()
                    started = True
                await trio.sleep(self.poll)

    async def reader_states(self, readers: Sequence[str]) -> list[ReaderState]:
        """What pcscd knows of each reader now: a card, its ATR, in use."""
        if not readers:
            return []
        ctx = await _Context.establish()
        try:
            code, result = await ctx.status_change([(r, STATE_UNAWARE) for r in readers], 0.001)
        finally:
            await ctx.release()
        if code not in (S_SUCCESS, E_TIMEOUT):
            raise error_for(code, "read the readers' state", service=True)
        return [
            ReaderState(
                name,
                present=bool(event & STATE_PRESENT),
                atr=atr if event & STATE_PRESENT else b"",
                mute=bool(event & STATE_MUTE),
                exclusive=bool(event & STATE_EXCLUSIVE),
                unavailable=bool(event & (STATE_UNKNOWN | STATE_UNAVAILABLE)),
            )
            for name, event, atr in result
        ]

    async def reader_keypad(self, reader: str) -> KeypadPinEntry | None:
        """What ``reader`` says about its own PIN entry, card or no card
        (a direct connection: SCARD_SHARE_DIRECT, no protocol)."""
        scard = _require_pyscard()
        ctx = await _Context.establish()
        try:

            def connect() -> tuple[int, Any]:
                with _pyscard_errors(f"connect to {reader}"):
                    rv, hcard, _ = scard.SCardConnect(ctx.handle, reader, SHARE_DIRECT, 0)
                return _unsigned(rv), hcard

            code, hcard = await trio.to_thread.run_sync(connect)
            if code != S_SUCCESS:
                raise error_for(code, f"connect to {reader}")
            try:
                return await part10.read_keypad(functools.partial(_control, hcard), reader)
            finally:

                def disconnect() -> None:
                    with contextlib.suppress(Exception):
                        scard.SCardDisconnect(hcard, 0)  # SCARD_LEAVE_CARD

                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(disconnect)
        finally:
            await ctx.release()

    def reader(
        self,
        interface: CardInterface,
        patterns: Sequence[str],
        *,
        exclude: Sequence[str] = (),
        atqa_sak_apdu: bytes | None = None,
    ) -> PcscReader:
        return PcscReader(
            self,
            interface,
            ReaderSelector(tuple(patterns), tuple(exclude)),
            atqa_sak_apdu=atqa_sak_apdu,
        )


@dataclass
class PcscReader:
    """The terminal's reader of one interface, found by name pattern."""

    stack: PcscStack
    _interface: CardInterface
    selector: ReaderSelector
    atqa_sak_apdu: bytes | None = None
    current: str | None = field(default=None, init=False)

    @property
    def interface(self) -> CardInterface:
        return self._interface

    @property
    def name(self) -> str:
        return self.current or f"PC/SC {self._interface.value} reader {self.selector.describe()}"

    async def attached(self) -> bool:
        """Whether pcscd offers a reader this interface's patterns take now;
        False too when pcscd cannot be reached."""
        try:
            readers = await self.stack.list_readers()
        except CardcoreError:
            return False
        return self.selector.choose(readers) is not None

    async def connect(self, reader: str) -> PcscCardSession | None:
        """A session with the card in ``reader`` now (shared, T=0 or T=1);
        None when the card left before it could be powered."""
        return await self._connect(reader)

    async def find(self) -> str:
        """The matching reader's name, waiting for one to be plugged in."""
        readers = await self.stack.list_readers()
        announced = False
        while True:
            chosen = self.selector.choose(readers)
            if chosen is not None:
                if chosen != self.current:
                    log.info("%s interface: PC/SC reader %s", self._interface.value, chosen)
                self.current = chosen
                return chosen
            if not announced:
                log.warning(
                    "%s interface: no PC/SC reader matches %s (readers: %s); waiting for one",
                    self._interface.value,
                    self.selector.describe(),
                    ", ".join(readers) or "none",
                )
                announced = True
            readers = await self.stack.wait_for_reader_change(readers)

    async def wait_for_card(self) -> PcscCardSession:
        # A missing resource manager is an error at once; one that goes away
        # while the terminal waits (pcscd restarted) is waited for.
        await self.stack.list_readers()
        while True:
            try:
                reader = await self.find()
                session = await self._wait_present_and_connect(reader)
            except ReaderNotAvailable as exc:
                log.warning("%s; waiting for the PC/SC service", exc.message)
                await self.stack.wait_for_service()
                continue
            if session is not None:
                return session

    async def _wait_present_and_connect(self, reader: str) -> PcscCardSession | None:
        """A session once a card is in ``reader``; None when the reader went
        away (the caller looks for it again)."""
        ctx = await _Context.establish()
        try:
            state = STATE_UNAWARE
            while True:
                code, result = await ctx.status_change([(reader, state)], self.stack.poll)
                if code in (E_TIMEOUT, E_CANCELLED):
                    continue
                if code in (E_UNKNOWN_READER, E_READER_UNAVAILABLE):
                    log.warning("PC/SC reader %s went away", reader)
                    return None
                if code != S_SUCCESS:
                    raise error_for(code, f"wait for a card in {reader}", service=True)
                event = result[0][1]
                if event & (STATE_UNKNOWN | STATE_UNAVAILABLE | STATE_IGNORE):
                    log.warning("PC/SC reader %s went away", reader)
                    return None
                if event & STATE_PRESENT:
                    session = await self._connect(reader)
                    if session is not None:
                        return session
                state = event & ~STATE_CHANGED
        finally:
            await ctx.release()

    async def _connect(self, reader: str) -> PcscCardSession | None:
        scard = _require_pyscard()
        ctx = await _Context.establish()
        try:
            deadline = trio.current_time() + self.stack.settle
            delay = 0.05
            while True:

                def connect() -> tuple[int, Any, int]:
                    with _pyscard_errors(f"connect to the card in {reader}"):
                        rv, hcard, protocol = scard.SCardConnect(
                            ctx.handle, reader, SHARE_SHARED, PROTOCOL_T0 | PROTOCOL_T1
                        )
                    return _unsigned(rv), hcard, int(protocol)

                code, hcard, protocol = await trio.to_thread.run_sync(connect)
                if code == S_SUCCESS:
                    break
                if code in TRANSIENT and trio.current_time() < deadline:
                    await trio.sleep(delay)
                    delay = min(delay * 2, 0.4)
                    continue
                if code in (W_REMOVED_CARD, E_NO_SMARTCARD):
                    log.info("card left %s before it could be powered", reader)
                    await ctx.release()
                    return None
                raise error_for(code, f"connect to the card in {reader}")
            session = PcscCardSession(ctx, hcard, protocol, CardInfo(self._interface))
            try:
                atr = await session.read_atr()
                info = CardInfo(
                    self._interface,
                    atr=atr,
                    protocol={PROTOCOL_T0: "T=0", PROTOCOL_T1: "T=1"}.get(protocol, "?"),
                    reader=reader,
                )
                if self._interface is CardInterface.CONTACTLESS:
                    info = await self._contactless_info(session, info)
            except CardRemoved:
                await session.close()
                log.info("card left %s during activation", reader)
                return None
            except BaseException:
                await session.close()
                raise
            session._info = info
            log.info(
                "card in %s: ATR %s, %s%s",
                reader,
                atr.hex().upper(),
                info.protocol,
                f", {info.card_type.value}" if info.card_type is not CardType.PROCESSOR else "",
            )
            return session
        except BaseException:
            await ctx.release()
            raise

    async def _contactless_info(self, session: PcscCardSession, info: CardInfo) -> CardInfo:
        """PC/SC part 3: card type from the ATR, UID by GET DATA, ATQA/SAK
        from the reader when it offers them (configured pseudo-APDU)."""
        parsed = parse_contactless_atr(info.atr)
        card_type = parsed.card_type if parsed is not None else CardType.PROCESSOR
        uid = await session.pseudo(bytes.fromhex("FFCA000000")) or b""
        atqa, sak, derived = b"", None, False
        if self.atqa_sak_apdu:
            answer = await session.pseudo(self.atqa_sak_apdu)
            if answer is not None and len(answer) == 3:
                atqa, sak = answer[:2], answer[2]
        if sak is None:
            found = derive_atqa_sak(card_type, uid)
            if found is not None:
                (atqa, sak), derived = found, True
        return CardInfo(
            info.interface,
            atr=info.atr,
            uid=uid,
            atqa=atqa,
            sak=sak,
            protocol=info.protocol,
            card_type=card_type,
            reader=info.reader,
            atqa_sak_derived=derived,
        )

    async def wait_for_removal(self) -> None:
        readers = await self.stack.list_readers()
        reader = self.selector.choose(readers)
        if reader is None:
            return  # no reader, no card
        ctx = await _Context.establish()
        try:
            state = STATE_UNAWARE
            while True:
                code, result = await ctx.status_change([(reader, state)], self.stack.poll)
                if code in (E_TIMEOUT, E_CANCELLED):
                    continue
                if code in (E_UNKNOWN_READER, E_READER_UNAVAILABLE):
                    return
                if code != S_SUCCESS:
                    raise error_for(code, f"wait for card removal from {reader}", service=True)
                event = result[0][1]
                if not event & STATE_PRESENT or event & (STATE_UNKNOWN | STATE_UNAVAILABLE):
                    return
                state = event & ~STATE_CHANGED
        finally:
            await ctx.release()


# --- PC/SC part 10: the reader's own keypad -------------------------------------


async def _control(hcard: Any, code: int, data: bytes) -> bytes:
    """SCardControl; a reader that does not know ``code`` is a ReaderError."""
    scard = _require_pyscard()

    def control() -> tuple[int, bytes]:
        with _pyscard_errors("control the reader"):
            rv, out = scard.SCardControl(hcard, code, list(data))
        return _unsigned(rv), bytes(out or b"")

    result, out = await trio.to_thread.run_sync(control)
    if result != S_SUCCESS:
        raise error_for(result, f"reader control 0x{code:08X}")
    return out


class PcscCardSession(CardSession):
    """A connected card. Transmits are serialised; the context is the
    session's own."""

    def __init__(self, ctx: _Context, hcard: Any, protocol: int, info: CardInfo) -> None:
        self._ctx = ctx
        self._hcard = hcard
        self.protocol = protocol
        self._info = info
        self._lock = trio.Lock()
        self._closed = False
        self._keypad: part10.ReaderKeypadCodes | None = None
        self._keypad_read = False

    @property
    def info(self) -> CardInfo:
        return self._info

    async def control(self, code: int, data: bytes = b"") -> bytes:
        """SCardControl on this card's reader (serialised with transmits)."""
        async with self._lock:
            if self._closed:
                raise CardRemoved("card session closed")
            return await _control(self._hcard, code, data)

    async def _keypad_codes(self) -> part10.ReaderKeypadCodes | None:
        if not self._keypad_read:
            self._keypad = await part10.read_keypad_codes(self.control, self._info.reader)
            self._keypad_read = True
        return self._keypad

    async def keypad(self) -> KeypadPinEntry | None:
        found = await self._keypad_codes()
        return found.entry if found is not None else None

    async def verify_offline_pin(self, *, timeout: float, language: str = "en") -> int:
        """EMV offline plaintext PIN on the reader's keypad (hal.pcsc_part10):
        the card's status word to VERIFY; cancel -> PinEntryBypassed, a
        timeout or a refused structure -> PinPadError."""
        found = await self._keypad_codes()
        if found is None:
            raise PinPadError(f"{self._info.reader} has no PIN keypad")
        try:
            structure = part10.emv_plaintext_verify(
                timeout=timeout, properties=found.properties, language=language
            )
        except part10.Part10Error as exc:
            raise PinPadError(exc.message) from None
        try:
            answer = await self.control(found.verify_code, structure)
            outcome, sw = part10.verify_outcome(answer)
        except ReaderError as exc:
            raise PinPadError(f"PIN entry on {self._info.reader} failed: {exc.message}") from None
        except part10.Part10Error as exc:
            raise PinPadError(exc.message) from None
        match outcome:
            case part10.PinOutcome.CARD_ANSWERED:
                return sw
            case part10.PinOutcome.CANCELLED:
                raise PinEntryBypassed("PIN entry cancelled on the reader's keypad")
            case part10.PinOutcome.TIMEOUT:
                raise PinPadError("PIN entry on the reader's keypad timed out")
            case part10.PinOutcome.BAD_LENGTH:
                raise PinPadError("the PIN entered on the reader's keypad has a wrong length")
        raise PinPadError(f"{self._info.reader} refused the PIN entry request ({sw:04X})")

    async def read_atr(self) -> bytes:
        scard = _require_pyscard()

        def status() -> tuple[int, bytes]:
            with _pyscard_errors("read card status"):
                result = scard.SCardStatus(self._hcard)
            return _unsigned(result[0]), bytes(result[4] if len(result) > 4 else b"")

        code, atr = await trio.to_thread.run_sync(status)
        if code != S_SUCCESS:
            raise error_for(code, "read card status")
        return atr

    async def transmit(self, capdu: bytes) -> bytes:
        scard = _require_pyscard()
        apdu = strip_t0_le(capdu) if self.protocol == PROTOCOL_T0 else capdu
        async with self._lock:
            if self._closed:
                raise CardRemoved("card session closed")

            def exchange() -> tuple[int, bytes]:
                with _pyscard_errors("transmit"):
                    rv, response = scard.SCardTransmit(self._hcard, self.protocol, list(apdu))
                return _unsigned(rv), bytes(response or b"")

            code, response = await trio.to_thread.run_sync(exchange)
        if code != S_SUCCESS:
            raise error_for(code, "transmit")
        if len(response) < 2:
            raise ReaderError(f"transmit: response of {len(response)} bytes has no status word")
        return response

    async def pseudo(self, capdu: bytes) -> bytes | None:
        """A PC/SC part 3 pseudo-APDU expecting data: the data, or None when
        the reader does not support it; a 6Cxx answer is re-sent once."""
        response = await self.transmit(capdu)
        if response[-2] == 0x6C and len(capdu) == 5:
            response = await self.transmit(capdu[:4] + response[-1:])
        if response[-2:] != b"\x90\x00":
            return None
        return response[:-2]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        scard = _require_pyscard()

        def disconnect() -> None:
            with contextlib.suppress(Exception):
                scard.SCardDisconnect(self._hcard, UNPOWER_CARD)

        with trio.CancelScope(shield=True):
            async with self._lock:
                await trio.to_thread.run_sync(disconnect)
            await self._ctx.release()
