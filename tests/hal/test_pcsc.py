"""The PC/SC driver beyond the conformance suite: error translation, reader
selection, T=0 Le handling, the settle retries, and, against the private
pcscd, hot-plug, a restarting pcscd, vpcd reconnection and part 3 ATQA/SAK."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio

from hal import pcsc
from hal.interfaces import CardInterface, CardRemoved, CardType, ReaderError, ReaderNotAvailable
from hal.pcsc import PcscStack, ReaderSelector, error_for, strip_t0_le, translate_exception
from kernel.apdu import Transport, select
from simulators.devices.contactless import Part3Reader
from simulators.devices.mifare import mifare_card_for
from simulators.devices.profile import load_profile
from simulators.devices.vpcd import ContactlessIcc, icc_for_profile, run_vpcd_card
from tests.hal.pcscd import CONTACT_READER, CONTACTLESS_READER, Pcscd, in_ci

# Every test here shares the one private pcscd: they run in their own, serial
# pytest run (make unit), never beside each other on two workers.
pytestmark = pytest.mark.pcsc

CONTACT, CONTACTLESS = CardInterface.CONTACT, CardInterface.CONTACTLESS
PSE = b"1PAY.SYS.DDF01"
STEP = 20.0


def _scard() -> Any:
    try:
        from smartcard import scard
    except ImportError:
        if in_ci():
            pytest.fail("CARDCORE_CI=1 but pyscard is not installed", pytrace=False)
        pytest.skip("pyscard is not installed")
    return scard


# --- without pcscd ------------------------------------------------------------


def test_return_codes_are_pyscards() -> None:
    scard = _scard()
    for name in (
        "E_CANCELLED",
        "E_UNKNOWN_READER",
        "E_TIMEOUT",
        "E_SHARING_VIOLATION",
        "E_NO_SMARTCARD",
        "E_READER_UNAVAILABLE",
        "E_NO_SERVICE",
        "E_SERVICE_STOPPED",
        "E_NO_READERS_AVAILABLE",
        "W_UNRESPONSIVE_CARD",
        "W_UNPOWERED_CARD",
        "W_RESET_CARD",
        "W_REMOVED_CARD",
        "W_SECURITY_VIOLATION",
    ):
        assert getattr(pcsc, name) == getattr(scard, f"SCARD_{name}") & 0xFFFFFFFF, name
    for name in ("PRESENT", "EMPTY", "CHANGED", "UNKNOWN", "UNAVAILABLE", "MUTE", "IGNORE"):
        assert getattr(pcsc, f"STATE_{name}") == getattr(scard, f"SCARD_STATE_{name}"), name
    assert pcsc.PROTOCOL_T0 == scard.SCARD_PROTOCOL_T0
    assert pcsc.PROTOCOL_T1 == scard.SCARD_PROTOCOL_T1
    assert pcsc.SHARE_SHARED == scard.SCARD_SHARE_SHARED
    assert pcsc.UNPOWER_CARD == scard.SCARD_UNPOWER_CARD


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (pcsc.W_REMOVED_CARD, CardRemoved),
        (pcsc.E_NO_SMARTCARD, CardRemoved),
        (pcsc.W_RESET_CARD, CardRemoved),
        (pcsc.W_UNPOWERED_CARD, CardRemoved),
        (pcsc.E_NO_SERVICE, ReaderNotAvailable),
        (pcsc.E_SERVICE_STOPPED, ReaderNotAvailable),
        (pcsc.E_UNKNOWN_READER, ReaderNotAvailable),
        (pcsc.E_READER_UNAVAILABLE, ReaderNotAvailable),
        (pcsc.W_UNRESPONSIVE_CARD, ReaderError),
        (pcsc.E_SHARING_VIOLATION, ReaderError),
        (pcsc.F_COMM_ERROR, ReaderError),
        (0x80100099, ReaderError),
        (pcsc.W_REMOVED_CARD - 2**32, CardRemoved),  # as a signed 32-bit value
    ],
)
def test_error_for_return_codes(code: int, error: type[Exception]) -> None:
    translated = error_for(code, "transmit")
    assert type(translated) is error
    assert translated.message.startswith("transmit: ")
    assert f"0x{code & 0xFFFFFFFF:08X}" in translated.message


def test_service_trouble_is_reader_not_available_only_for_the_service() -> None:
    for code in (pcsc.F_COMM_ERROR, pcsc.W_SECURITY_VIOLATION):
        assert type(error_for(code, "list readers", service=True)) is ReaderNotAvailable
        assert type(error_for(code, "transmit")) is ReaderError


def test_pyscard_exceptions_are_translated() -> None:
    _scard()
    from smartcard import Exceptions as E

    # pyscard 2.3: NoCardException is no CardConnectionException.
    assert not issubclass(E.NoCardException, E.CardConnectionException)
    cases: list[tuple[BaseException, type[Exception]]] = [
        (E.NoCardException("no card", pcsc.E_NO_SMARTCARD), CardRemoved),
        (E.CardConnectionException("gone", hresult=pcsc.W_REMOVED_CARD), CardRemoved),
        (E.CardConnectionException("unknown"), ReaderError),
        (E.NoReadersException(), ReaderNotAvailable),
        (E.ListReadersException(pcsc.E_NO_SERVICE), ReaderNotAvailable),
        (E.CardServiceStoppedException(), ReaderNotAvailable),
        (E.SmartcardException("other"), ReaderError),
    ]
    for exc, error in cases:
        translated = translate_exception(exc, "connect")
        assert type(translated) is error, exc
    assert translate_exception(ValueError("not pyscard's"), "connect") is None


@pytest.mark.parametrize(
    ("capdu", "sent"),
    [
        ("00A4040007A000000003101000", "00A4040007A0000000031010"),  # case 4
        ("00A4040007A0000000031010", "00A4040007A0000000031010"),  # case 3
        ("00B2010C00", "00B2010C00"),  # case 2
        ("0084000008", "0084000008"),  # case 2
        ("00A40400", "00A40400"),  # case 1
        ("80AE8000020102", "80AE8000020102"),  # case 3, data ends like an Le
    ],
)
def test_t0_strips_le_of_case_4_only(capdu: str, sent: str) -> None:
    assert strip_t0_le(bytes.fromhex(capdu)) == bytes.fromhex(sent)


@pytest.mark.parametrize(
    ("patterns", "exclude", "expected"),
    [
        (["*PICC*"], [], "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00"),
        (["*acr1252*"], ["*PICC*", "*SAM*"], None),
        (["*acr1252*"], ["*PICC*"], "ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 00 01"),
        (["*Omnikey*", "*"], [], "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00"),
        (["Gemalto*", "*PICC*"], [], "Gemalto PC Twin Reader 01 00"),
        (["*Omnikey*"], [], None),
        ([], [], None),
    ],
)
def test_reader_selection(patterns: list[str], exclude: list[str], expected: str | None) -> None:
    readers = [
        "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00",
        "ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 00 01",
        "Gemalto PC Twin Reader 01 00",
    ]
    assert ReaderSelector(tuple(patterns), tuple(exclude)).choose(readers) == expected


# --- settle retries, with pyscard's functions replaced -------------------------


class FakeScard:
    """Just enough of smartcard.scard for PcscReader._connect: SCardConnect
    answers the given codes in turn, then succeeds."""

    SCARD_SCOPE_USER = 0

    class error(Exception):
        pass

    def __init__(self, connect_codes: list[int]) -> None:
        self.connect_codes = list(connect_codes)
        self.connects = 0
        self.released = 0
        self.disconnected = 0

    def SCardEstablishContext(self, scope: int) -> tuple[int, int]:
        return 0, 1

    def SCardReleaseContext(self, ctx: int) -> int:
        self.released += 1
        return 0

    def SCardConnect(self, ctx: int, reader: str, share: int, protocols: int) -> Any:
        self.connects += 1
        if self.connect_codes:
            return self.connect_codes.pop(0), 0, 0
        return 0, 7, pcsc.PROTOCOL_T1

    def SCardStatus(self, hcard: int) -> Any:
        return 0, "R", pcsc.STATE_PRESENT, pcsc.PROTOCOL_T1, list(bytes.fromhex("3B8080010101"))

    def SCardDisconnect(self, hcard: int, disposition: int) -> int:
        self.disconnected += 1
        return 0

    def SCardCancel(self, ctx: int) -> int:
        return 0


@pytest.fixture
def fake_scard(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(codes: list[int]) -> FakeScard:
        fake = FakeScard(codes)
        monkeypatch.setattr(pcsc, "_scard", fake)
        monkeypatch.setattr(pcsc, "_pyscard_exceptions", None)
        return fake

    return install


async def test_transient_answers_after_insertion_are_retried(
    fake_scard: Any, autojump_clock: trio.testing.MockClock
) -> None:
    fake = fake_scard([pcsc.W_UNPOWERED_CARD, pcsc.W_REMOVED_CARD, pcsc.E_SHARING_VIOLATION])
    reader = PcscStack(settle=2.0).reader(CONTACT, ["R"])
    session = await reader._connect("R")
    assert session is not None and fake.connects == 4
    assert session.info.atr == bytes.fromhex("3B8080010101") and session.info.protocol == "T=1"
    await session.close()
    assert fake.disconnected == 1 and fake.released == 1


async def test_a_card_that_stays_mute_is_a_reader_error(
    fake_scard: Any, autojump_clock: trio.testing.MockClock
) -> None:
    fake = fake_scard([pcsc.W_UNRESPONSIVE_CARD] * 1000)
    reader = PcscStack(settle=2.0).reader(CONTACT, ["R"])
    start = trio.current_time()
    with pytest.raises(ReaderError, match="mute"):
        await reader._connect("R")
    assert trio.current_time() - start >= 2.0  # retried for the whole settle window
    assert 3 < fake.connects < 1000 and fake.released == 1


async def test_a_card_pulled_during_activation_is_no_card(
    fake_scard: Any, autojump_clock: trio.testing.MockClock
) -> None:
    fake = fake_scard([pcsc.W_REMOVED_CARD] * 1000)
    reader = PcscStack(settle=1.0).reader(CONTACT, ["R"])
    assert await reader._connect("R") is None
    assert fake.released == 1


async def test_missing_pyscard_is_reader_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcsc, "_scard", None)
    with pytest.raises(ReaderNotAvailable, match=r"cardcore\[pcsc\]"):
        await PcscStack().list_readers()


# --- against the private pcscd ------------------------------------------------


class LogWaiter(logging.Handler):
    """Sets ``event`` when a record containing ``text`` is logged (from trio)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


async def test_pcscd_not_running_is_reader_not_available(pcscd: Pcscd) -> None:
    await trio.to_thread.run_sync(pcscd.stop)
    try:
        reader = PcscStack(poll=0.2).reader(CONTACT, [CONTACT_READER])
        with pytest.raises(ReaderNotAvailable, match="pcscd"):
            await reader.wait_for_card()
    finally:
        await trio.to_thread.run_sync(pcscd.start)


async def test_vpcd_card_comes_back_after_a_pcscd_restart(
    pcscd: Pcscd, nursery: trio.Nursery
) -> None:
    icc = icc_for_profile("default")
    scope = trio.CancelScope()

    async def plug(task_status: trio.TaskStatus[None]) -> None:
        with scope:
            await run_vpcd_card(icc, port=pcscd.port, retry=0.1, task_status=task_status)

    await nursery.start(plug)
    reader = PcscStack(poll=0.5).reader(CONTACT, [CONTACT_READER])
    try:
        for _ in range(2):
            with trio.fail_after(STEP):
                session = await reader.wait_for_card()
            assert (await Transport(session.transmit).send(select(PSE))).ok
            await session.close()
            await trio.to_thread.run_sync(pcscd.restart)
    finally:
        scope.cancel()
    with trio.fail_after(STEP):
        await reader.wait_for_removal()


async def test_reader_plugged_in_while_waiting(
    pcscd: Pcscd, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    """Waiting for a card with no matching reader waits for one (hot-plug),
    across the resource manager restarting, and the monitor logs it."""
    caplog.set_level(logging.INFO, logger="hal.pcsc")
    plugged = LogWaiter("PC/SC reader plugged in: Bench Reader")
    logging.getLogger("hal.pcsc").addHandler(plugged)
    stack = PcscStack(poll=0.3)
    reader = stack.reader(CONTACT, ["Bench Reader*"])
    await nursery.start(stack.monitor)
    got: list[Any] = []
    done = trio.Event()

    async def wait() -> None:
        got.append(await reader.wait_for_card())
        done.set()

    nursery.start_soon(wait)
    await trio.sleep(1.0)
    assert not done.is_set()
    assert "no PC/SC reader matches 'Bench Reader*'" in caplog.text
    scope = trio.CancelScope()

    async def plug() -> None:
        with scope:
            await run_vpcd_card(icc_for_profile("dda"), port=pcscd.port, retry=0.1)

    nursery.start_soon(plug)
    try:
        await trio.to_thread.run_sync(lambda: pcscd.restart("Bench Reader"))
        with trio.fail_after(STEP):
            await done.wait()
        (session,) = got
        assert session.info.reader.startswith("Bench Reader")
        assert (await Transport(session.transmit).send(select(PSE))).ok
        await session.close()
        with trio.fail_after(STEP):
            await plugged.event.wait()
    finally:
        logging.getLogger("hal.pcsc").removeHandler(plugged)
        scope.cancel()
        await trio.to_thread.run_sync(pcscd.restart)


@pytest.mark.parametrize("offered", [True, False])
async def test_contactless_atqa_sak_from_the_reader_or_derived(
    pcscd: Pcscd, nursery: trio.Nursery, offered: bool
) -> None:
    vendor = bytes.fromhex("FFCAF00000")  # a reader-specific command, as configured
    memory = mifare_card_for(load_profile("mifare-classic"))
    assert memory is not None
    field = Part3Reader(memory, atqa_sak_command=vendor)
    scope = trio.CancelScope()

    async def plug(task_status: trio.TaskStatus[None]) -> None:
        with scope:
            await run_vpcd_card(ContactlessIcc(field), port=pcscd.port + 1, task_status=task_status)

    await nursery.start(plug)
    reader = PcscStack().reader(
        CONTACTLESS, [CONTACTLESS_READER], atqa_sak_apdu=vendor if offered else None
    )
    try:
        with trio.fail_after(STEP):
            session = await reader.wait_for_card()
        info = session.info
        await session.close()
        assert info.card_type is CardType.MIFARE_CLASSIC_1K
        assert (info.atqa, info.sak) == (b"\x04\x00", 0x08)
        assert info.atqa_sak_derived is not offered
        assert info.descriptor() == bytes.fromhex("045A3C9E17040008")
    finally:
        scope.cancel()
    with trio.fail_after(STEP):
        await reader.wait_for_removal()
