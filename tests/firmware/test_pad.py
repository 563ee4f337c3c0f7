"""The reference pad's firmware off the board: its HID report descriptor is
the one the driver checks (hal/usbhid/protocol.py's, the emulated pad's
too); its report codec agrees with hal/usbhid/protocol.py on the same
messages; and its logic (pinpad_logic), put on the emulated USB bus
(simulators/usbhid) in place of the emulated pad, serves the terminal's real
driver (hal.usbhid.pinpad, pyusb) for every request of
docs/pinpad-protocol.md, the cardholder pressing the pad's keys."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import trio

from base.crypto import dukpt
from base.crypto.des import tdes_ecb_decrypt
from base.crypto.pinblock import decode_iso0, encode_iso2
from hal.usbhid import protocol as hal
from hal.usbhid.pinpad import UsbHidPinPad
from kernel.errors import PinEntryBypassed, PinPadError
from simulators.usbhid.backend import EmulatedBackend
from simulators.usbhid.device import EmulatedPinPad
from tests.firmware.firmware import logic
from tests.firmware.firmware import protocol as fw

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
TPK = bytes.fromhex("C1D0F8FB4958670DBA40AB1F3752EF0D")
PAN = "4761739001010010"


def test_the_descriptor_is_the_one_the_driver_checks() -> None:
    assert fw.REPORT_DESCRIPTOR == hal.REPORT_DESCRIPTOR == EmulatedPinPad().report_descriptor()
    assert (fw.USAGE_PAGE, fw.USAGE, fw.REPORT_SIZE) == (0xFF00, 0x01, hal.REPORT_SIZE)


# --- the same messages through both codecs ------------------------------------------

M = hal.MsgType
HOST_REQUESTS: list[tuple[int, bytes]] = [
    (M.GET_INFO, b""),
    (M.ONLINE_PIN, hal.OnlinePinRequest(PAN, 123456, 643, 30, 4, 12, True).encode()),
    (M.ONLINE_PIN, hal.OnlinePinRequest("123456789012", 1, 978, 65535, 6, 6, False).encode()),
    (M.OFFLINE_PIN, hal.OfflinePinRequest(999999999999, 840, 2, 30).encode()),
    (M.OFFLINE_PIN, hal.OfflinePinRequest(0, 643, None, 5, 4, 8, False).encode()),
    (M.CONFIRM, hal.ConfirmRequest(30, "СБРОС ПАРОЛЯ?").encode()),
    (M.LOAD_KEY, hal.LoadKey(hal.WrappedKeyId.TPK, bytes(range(16)), b"\x01\x02\x03").encode()),
]


@pytest.mark.parametrize(("kind", "payload"), HOST_REQUESTS, ids=lambda x: str(x)[:20])
def test_requests_decode_on_the_pad(kind: int, payload: bytes) -> None:
    report = hal.Report(kind, 7, payload).encode()
    got_kind, seq, got_payload = fw.decode(report)
    assert (got_kind, seq, got_payload) == (kind, 7, payload)
    assert fw.encode(kind, 7, payload) == report
    if kind in (hal.MsgType.ONLINE_PIN, hal.MsgType.OFFLINE_PIN):
        mine = fw.parse_pin_request(kind, payload)
        theirs = (
            hal.OnlinePinRequest.decode(payload)
            if kind == hal.MsgType.ONLINE_PIN
            else hal.OfflinePinRequest.decode(payload)
        )
        assert (mine.amount, mine.currency, mine.timeout) == (
            theirs.amount, theirs.currency, theirs.timeout,
        )  # fmt: skip
        assert (mine.min_length, mine.max_length, mine.bypass) == (
            theirs.min_length, theirs.max_length, theirs.bypass_allowed,
        )  # fmt: skip
        assert mine.pan == getattr(theirs, "pan", "")
        assert mine.tries == getattr(theirs, "tries_remaining", None)
    elif kind == hal.MsgType.CONFIRM:
        assert fw.parse_confirm(payload) == (30, "СБРОС ПАРОЛЯ?")
    elif kind == hal.MsgType.LOAD_KEY:
        assert fw.parse_load_key(payload) == (1, bytes(range(16)), b"\x01\x02\x03")


@pytest.mark.parametrize(
    ("pad", "host"),
    [
        (fw.info(1, "PP42", "ref-1.0"), hal.Info(1, hal.KeyScheme.DUKPT_TDES, "PP42", "ref-1.0")),
        (fw.pin_result(fw.TIMEOUT), hal.PinResult(hal.Status.TIMEOUT)),
        (
            fw.pin_result(fw.OK, fw.FORMAT_ISO4, b"\x01" * 12, b"\x02" * 16),
            hal.PinResult(hal.Status.OK, hal.PinFormat.ISO4, b"\x01" * 12, b"\x02" * 16),
        ),
        (fw.key_event(fw.KEY_HIDDEN_DIGIT, 3), hal.KeyEvent(hal.Key.HIDDEN_DIGIT, 3)),
    ],
)
def test_answers_decode_on_the_host(pad: bytes, host: object) -> None:
    assert pad == host.encode()  # type: ignore[attr-defined]
    assert type(host).decode(pad) == host  # type: ignore[attr-defined]


def test_garbage_is_a_bad_request() -> None:
    pad = logic.Pad(logic.Keys(), "S", "F", bytes)
    assert pad.report(b"\x01", 0) == [fw.encode(fw.ACK, 0, b"\x05")]
    assert pad.report(fw.encode(0x42, 3), 0) == [fw.encode(fw.ACK, 3, b"\x05")]
    bad_pin = fw.encode(fw.OFFLINE_PIN, 4, b"\x00" * 5)
    assert pad.report(bad_pin, 0) == [fw.encode(fw.ACK, 4, b"\x05")]
    assert pad.state == logic.IDLE


# --- the firmware on the emulated bus, the driver on the host ------------------------


@dataclass
class Cardholder:
    """Keys pressed once a PIN entry or a confirmation starts."""

    keys: list[str | int] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)


class FirmwarePad(EmulatedPinPad):
    """The emulated pad's USB descriptors with the firmware's logic behind
    them: output reports go to pinpad_logic.Pad, and what it answers (and
    what the cardholder's keys make it say) comes back as input reports."""

    def __init__(self, pad: logic.Pad, cardholder: Cardholder, clock: Callable[[], float]) -> None:
        super().__init__(serial=pad.serial)
        self.pad, self.cardholder, self.clock = pad, cardholder, clock
        # Called (in the driver's worker thread) when the host polls and the
        # pad has nothing to say: where a test lets time pass.
        self.idle: Callable[[], None] = lambda: None

    def write_report(self, data: bytes) -> None:
        now = self.clock()
        for report in self.pad.report(bytes(data), now):
            self._queue_report(report)
        if self.pad.state != logic.IDLE:
            self.cardholder.seen.append(self.pad.screen)
            for key in self.cardholder.keys:
                for report in self.pad.key(key, now):
                    self._queue_report(report)
            self.cardholder.keys = []

    def read_report(self, timeout: float) -> bytes | None:
        for report in self.pad.tick(self.clock()):
            self._queue_report(report)
        report = super().read_report(min(timeout, 0.01))
        if report is None:
            self.idle()
        return report

    def _queue_report(self, report: bytes) -> None:
        with self._cond:
            self._queue.append(report)
            self._cond.notify_all()


@dataclass
class Rig:
    keys: logic.Keys
    cardholder: Cardholder = field(default_factory=Cardholder)
    now: float = 0.0
    counters: list[bytes] = field(default_factory=list)
    tpk: bytes | None = TPK

    def __post_init__(self) -> None:
        nonces = itertools.count(1)
        self.pad = logic.Pad(
            self.keys,
            "RP2040-TEST",
            "reference-1.0",
            lambda n: next(nonces).to_bytes(n, "big"),
            counter_changed=self.counters.append,
        )
        self.device = FirmwarePad(self.pad, self.cardholder, lambda: self.now)
        self.driver = UsbHidPinPad(
            vendor_id=self.device.vendor_id,
            product_id=self.device.product_id,
            tmk=lambda: TMK,
            tpk=lambda: self.tpk,
            backend=EmulatedBackend(self.device),
            answer_margin=1.0,
        )


def keys(*pressed: str | int) -> list[str | int]:
    return list(pressed)


async def test_online_pin_under_the_tpk() -> None:
    rig = Rig(logic.Keys(tmk=TMK))
    rig.cardholder.keys = keys("4", "3", "2", "1", fw.KEY_ENTER)
    block = await rig.driver.online_pin(PAN, 1500, 643, 30)
    assert decode_iso0(tdes_ecb_decrypt(TPK, block), PAN) == "4321"
    assert rig.driver.info is not None and rig.driver.info.serial == "RP2040-TEST"
    assert rig.driver.key_serial_number is None
    assert rig.cardholder.seen == ["15.00 643\nENTER PIN\n"]
    assert rig.pad.screen == "READY"


async def test_offline_pin_over_the_link_key() -> None:
    rig = Rig(logic.Keys(tmk=TMK))
    rig.cardholder.keys = keys("1", "2", "9", fw.KEY_CLEAR, "1", "2", "3", "4", fw.KEY_ENTER)
    block = await rig.driver.offline_pin(100, 643, 3, 30)
    assert block == encode_iso2("1234")
    assert rig.cardholder.seen == ["1.00 643\nENTER PIN (3 left)\n"]


@pytest.mark.parametrize("scheme", ["tdes", "aes"])
async def test_online_pin_under_dukpt(scheme: str) -> None:
    """The pad's KSNs and blocks as a host derives them from the BDK."""
    if scheme == "tdes":
        bdk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
        ksn = bytes.fromhex("FFFF9876543210E00000")
        initial = dukpt.tdes_ipek(bdk, ksn)
    else:
        bdk = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
        ikid = bytes.fromhex("1234567890123456")
        initial, ksn = dukpt.aes_initial_key(bdk, ikid), ikid + bytes(4)
    rig = Rig(logic.Keys(tmk=TMK, dukpt=scheme, initial_key=initial, ksn=ksn), tpk=None)
    host = dukpt.DukptOriginator(initial, ksn)  # the host's side, from the same keys
    for _ in range(3):
        rig.cardholder.keys = keys("1", "2", "3", "4", fw.KEY_ENTER)
        block = await rig.driver.online_pin(PAN, 100, 643, 30)
        expected = host.next_ksn()
        assert rig.driver.key_serial_number == expected == rig.counters[-1]
        key = host.pin_key(expected)
        if scheme == "aes":
            assert dukpt.decipher_iso4(key, block, PAN) == "1234"
        else:
            assert decode_iso0(tdes_ecb_decrypt(key, block), PAN) == "1234"


@pytest.mark.parametrize(
    ("pressed", "outcome", "message"),
    [
        (keys(fw.KEY_CANCEL), PinEntryBypassed, "cancelled"),
        (keys(fw.KEY_ENTER), PinEntryBypassed, "bypassed"),  # no digits, bypass allowed
        # too short: ignored, then the pad's timeout
        (keys("1", "2", fw.KEY_ENTER), PinPadError, "PIN entry timed out"),
        (keys(), PinPadError, "PIN entry timed out"),  # nobody: the pad's timeout
    ],
)
async def test_cancel_bypass_and_timeouts(
    pressed: list[str | int],
    outcome: type[Exception],
    message: str,
    mock_clock: trio.testing.MockClock,
) -> None:
    """Time passes only while the host polls a pad with nothing to say, on the
    pad's clock and the driver's alike: the pad's own timeout (5 s) comes
    before the driver gives up (after 5 s and its margin) however slowly the
    worker threads run."""
    rig = Rig(logic.Keys(tmk=TMK))
    rig.cardholder.keys = pressed
    step = 0.25

    def idle() -> None:
        rig.now += step
        trio.from_thread.run_sync(mock_clock.jump, step)

    rig.device.idle = idle
    with pytest.raises(outcome, match=message):
        await rig.driver.offline_pin(100, 643, None, 5)
    assert rig.pad.state == logic.IDLE


async def test_digits_beyond_the_maximum_are_ignored() -> None:
    rig = Rig(logic.Keys(tmk=TMK))
    rig.cardholder.keys = keys(*"1234567890123", fw.KEY_ENTER)
    block = await rig.driver.offline_pin(100, 643, None, 30)
    assert block == encode_iso2("123456789012")


async def test_confirm_and_keys_outside_entry() -> None:
    rig = Rig(logic.Keys(tmk=TMK))
    events: list[hal.KeyEvent] = []
    rig.driver.on_key = events.append
    rig.cardholder.keys = keys(fw.KEY_ENTER)
    assert await rig.driver.confirm("RESET?", 10)
    rig.cardholder.keys = keys(fw.KEY_CANCEL)
    assert not await rig.driver.confirm("RESET?", 10)
    assert [e.key for e in events] == [hal.Key.ENTER, hal.Key.CANCEL]
    assert rig.cardholder.seen == ["RESET?", "RESET?"]
    assert rig.pad.key("7", 0) == [fw.encode(fw.KEY_EVENT, 0, bytes((0x37, 0)))]


async def test_no_keys_injected() -> None:
    rig = Rig(logic.Keys())
    with pytest.raises(PinPadError, match="refused the LINK key: NO_KEY"):
        await rig.driver.offline_pin(100, 643, None, 30)


def test_a_second_entry_while_one_is_pending_is_busy_and_cancel_aborts_it() -> None:
    pad = logic.Pad(logic.Keys(tmk=TMK), "S", "F", bytes)
    request = hal.OfflinePinRequest(100, 643, None, 30).encode()
    assert pad.report(fw.encode(fw.OFFLINE_PIN, 5, request), 0) == []
    assert pad.report(fw.encode(fw.OFFLINE_PIN, 6, request), 0) == [fw.encode(fw.ACK, 6, b"\x06")]
    assert pad.report(fw.encode(fw.CANCEL, 7), 0) == [
        fw.encode(fw.PIN_RESULT, 5, fw.pin_result(fw.ABORTED)),
        fw.encode(fw.ACK, 7, b"\x00"),
    ]
    assert pad.state == logic.IDLE and pad.tick(100) == []
