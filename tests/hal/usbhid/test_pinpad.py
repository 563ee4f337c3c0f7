"""The USB-HID PIN pad driver running its real pyusb code against the
emulated pad (simulators/usbhid) through its Python pyusb backend: GET_INFO
and DISPLAY over the control pipe, online PIN under a TPK and under TDES/AES
DUKPT (checked on the published X9.24 vectors), offline PIN over the link
key, bypass, cancel key, timeouts, a silent pad, withdrawal on cancellation,
unplugging, key errors."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
import trio
import usb.core
from hypothesis import given
from hypothesis import strategies as st

from base.crypto import dukpt
from base.crypto.des import tdes_ecb_decrypt
from base.crypto.pinblock import decode_iso0, decode_iso2, encode_iso2
from hal.usbhid.pinpad import UsbHidPinPad
from hal.usbhid.protocol import (
    REPORT_SIZE,
    Info,
    Key,
    KeyEvent,
    LoadKey,
    MsgType,
    OfflinePinRequest,
    OnlinePinRequest,
    PinFormat,
    PinResult,
    Report,
    ReportError,
    Status,
)
from kernel.errors import PinEntryBypassed, PinPadError
from simulators.usbhid.backend import EmulatedBackend
from simulators.usbhid.device import Behaviour, Cardholder, EmulatedPinPad

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")  # TEST ONLY
TPK = bytes.fromhex("89ABCDEF0123456776543210FEDCBA98")  # TEST ONLY
PAN = "4761739001010010"


class Rig:
    def __init__(self, device: EmulatedPinPad, **driver: object) -> None:
        self.device = device
        self.backend = EmulatedBackend(device)
        self.keys: list[KeyEvent] = []
        self.tpk: bytes | None = TPK
        self.tmk: bytes | None = TMK
        options: dict[str, object] = {"answer_margin": 0.5, "poll": 0.02}
        options.update(driver)
        self.pad = UsbHidPinPad(
            vendor_id=device.vendor_id,
            product_id=device.product_id,
            tmk=lambda: self.tmk,
            tpk=lambda: self.tpk,
            backend=self.backend,
            on_key=self.keys.append,
            **options,  # type: ignore[arg-type]
        )


def rig(behaviour: Behaviour = Behaviour.ENTER, pin: str = "1234", **device: object) -> Rig:
    cardholder = Cardholder(behaviour, lambda: pin)
    options: dict[str, object] = {"tmk": TMK}
    options.update(device)
    return Rig(EmulatedPinPad(cardholder=cardholder, **options))  # type: ignore[arg-type]


# --- pyusb sees a USB device ----------------------------------------------------------


async def test_get_info_and_display_via_set_report() -> None:
    """The pad also takes output reports on the control pipe (HID SET_REPORT)."""
    r = rig()
    dev = usb.core.find(idVendor=0x1209, idProduct=0x0001, backend=r.backend)
    dev.set_configuration()
    dev.ctrl_transfer(0x21, 0x09, 0x0200, 0, Report(MsgType.DISPLAY, 7, b"HELLO").encode())
    answer = Report.decode(bytes(dev.ctrl_transfer(0xA1, 0x01, 0x0100, 0, REPORT_SIZE)))
    assert answer == Report(MsgType.ACK, 7, b"\x00")
    assert r.device.screen == ["HELLO"]


# --- online PIN -------------------------------------------------------------------------


async def test_online_pin_under_the_tpk() -> None:
    r = rig(pin="4321")
    block = await r.pad.online_pin(PAN, 1500, 643, 30)
    assert decode_iso0(tdes_ecb_decrypt(TPK, block), PAN) == "4321"
    assert r.pad.key_serial_number is None
    assert r.keys == [KeyEvent(Key.HIDDEN_DIGIT, n) for n in range(1, 5)] + [KeyEvent(Key.ENTER, 4)]
    assert any("15.00 643" in line for line in r.device.screen)
    assert all("4321" not in line for line in r.device.screen)
    assert r.pad.info is not None and r.pad.info.serial == "EMU0000000001"


async def test_new_tpk_is_loaded_before_the_next_pin() -> None:
    r = rig()
    first = await r.pad.online_pin(PAN, 100, 643, 30)
    r.tpk = bytes.fromhex("11111111111111112222222222222222")
    second = await r.pad.online_pin(PAN, 100, 643, 30)
    assert decode_iso0(tdes_ecb_decrypt(TPK, first), PAN) == "1234"
    assert decode_iso0(tdes_ecb_decrypt(r.tpk, second), PAN) == "1234"


async def test_online_pin_tdes_dukpt_matches_x9_24_1() -> None:
    bdk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    iksn = bytes.fromhex("FFFF9876543210E00000")
    originator = dukpt.DukptOriginator(dukpt.tdes_ipek(bdk, iksn), iksn)
    r = rig(dukpt=originator)
    r.tpk = None  # a DUKPT pad needs no TPK
    block = await r.pad.online_pin("4012345678909", 100, 643, 30)
    assert r.pad.key_serial_number == bytes.fromhex("FFFF9876543210E00001")
    assert block.hex().upper() == "1B9C1845EB993A7A"  # X9.24-1 A.4.2, first PIN block
    await r.pad.online_pin("4012345678909", 100, 643, 30)
    assert r.pad.key_serial_number == bytes.fromhex("FFFF9876543210E00002")


async def test_online_pin_aes_dukpt_format_4() -> None:
    bdk = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
    ikid = bytes.fromhex("1234567890123456")
    originator = dukpt.DukptOriginator(dukpt.aes_initial_key(bdk, ikid), ikid + bytes(4))
    r = rig(dukpt=originator, pin="987654")
    block = await r.pad.online_pin("4111111111111111", 100, 643, 30)
    ksn = r.pad.key_serial_number
    assert ksn == ikid + b"\x00\x00\x00\x01" and len(block) == 16
    # The receiving host, from the BDK alone:
    ik = dukpt.aes_initial_key(bdk, ikid)
    key = dukpt.aes_working_key(
        dukpt.aes_transaction_key(ik, ksn),
        ksn,
        dukpt.AesKeyUsage.PIN_ENCRYPTION,
        dukpt.AesKeyType.AES128,
    )
    assert dukpt.decipher_iso4(key, block, "4111111111111111") == "987654"


# --- offline PIN --------------------------------------------------------------------------


async def test_offline_pin_travels_under_the_link_key() -> None:
    r = rig(pin="2468")
    seen: list[bytes] = []
    read = r.device.read_report

    def spy(timeout: float) -> bytes | None:
        data = read(timeout)
        if data is not None:
            seen.append(data)
        return data

    r.device.read_report = spy  # type: ignore[method-assign]
    block = await r.pad.offline_pin(1500, 643, 3, 30)
    assert decode_iso2(block) == "2468"
    clear = encode_iso2("2468")
    assert seen and all(clear not in report for report in seen)
    assert any("(3 left)" in line for line in r.device.screen)


# --- cardholder outcomes ----------------------------------------------------------------------

OUTCOMES: list[tuple[Behaviour, type[Exception], str]] = [
    (Behaviour.BYPASS, PinEntryBypassed, "bypassed"),
    (Behaviour.CANCEL, PinEntryBypassed, "cancelled"),
    (Behaviour.TIMEOUT, PinPadError, "timed out"),
    (Behaviour.SILENT, PinPadError, "did not answer"),
]


@pytest.mark.parametrize(("behaviour", "error", "message"), OUTCOMES)
@pytest.mark.parametrize("kind", ["online", "offline"])
async def test_pin_entry_outcomes(
    behaviour: Behaviour, error: type[Exception], message: str, kind: str
) -> None:
    r = rig(behaviour)
    with pytest.raises(error, match=message):
        if kind == "online":
            await r.pad.online_pin(PAN, 100, 643, 0.2)
        else:
            await r.pad.offline_pin(100, 643, None, 0.2)
    # The pad is usable afterwards; answers to withdrawn requests are skipped.
    r.device.cardholder.behaviour = Behaviour.ENTER
    assert decode_iso2(await r.pad.offline_pin(100, 643, None, 30)) == "1234"


async def test_cancelled_entry_is_withdrawn_from_the_pad() -> None:
    r = rig(Behaviour.SILENT)
    with trio.move_on_after(0.3) as scope:
        await r.pad.online_pin(PAN, 100, 643, 60)
    assert scope.cancelled_caught
    assert r.device._pending is None  # the pad got CANCEL and left PIN entry
    r.device.cardholder.behaviour = Behaviour.ENTER
    block = await r.pad.online_pin(PAN, 100, 643, 30)
    assert decode_iso0(tdes_ecb_decrypt(TPK, block), PAN) == "1234"


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [(Behaviour.ENTER, True), (Behaviour.CANCEL, False), (Behaviour.TIMEOUT, False),
     (Behaviour.SILENT, False)],
)  # fmt: skip
async def test_confirm(behaviour: Behaviour, expected: bool) -> None:
    r = rig(behaviour)
    assert await r.pad.confirm("Reset the password?", 0.2) is expected
    assert "Reset the password?" in r.device.screen


# --- faults -------------------------------------------------------------------------------------


async def test_no_device() -> None:
    r = rig()
    r.device.plugged = False
    with pytest.raises(PinPadError, match="not connected"):
        await r.pad.online_pin(PAN, 100, 643, 30)


async def test_unplugged_and_plugged_back() -> None:
    r = rig()
    await r.pad.display("WELCOME")
    r.device.plugged = False
    with pytest.raises(PinPadError, match="No such device"):
        await r.pad.online_pin(PAN, 100, 643, 30)
    r.device.plugged = True
    block = await r.pad.online_pin(PAN, 100, 643, 30)
    assert decode_iso0(tdes_ecb_decrypt(TPK, block), PAN) == "1234"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda r: setattr(r, "tpk", None), "no PIN key"),
        (lambda r: setattr(r, "tmk", None), "no TMK"),
        (lambda r: setattr(r.device, "tmk", bytes(16)), "refused the LINK key: KEY_CHECK_FAILED"),
        (lambda r: setattr(r.device, "tmk", None), "refused the LINK key: NO_KEY"),
        (lambda r: setattr(r.backend, "claimed_elsewhere", True), "in use by another process"),
        (lambda r: setattr(r.device, "report_descriptor", lambda: b"\x05\x01"), "not a PIN pad"),
    ],
)
async def test_key_and_device_faults(setup: Callable[[Rig], None], message: str) -> None:
    r = rig()
    setup(r)
    with pytest.raises(PinPadError, match=message):
        await r.pad.online_pin(PAN, 100, 643, 30)


async def test_kernel_hid_driver_is_detached() -> None:
    r = rig()
    r.backend.kernel_driver_active = True
    await r.pad.display("HELLO")
    assert not r.backend.kernel_driver_active


async def test_bad_pan_is_refused_before_the_pad() -> None:
    r = rig()
    with pytest.raises(PinPadError, match="PAN"):
        await r.pad.online_pin("12345", 100, 643, 30)


# --- protocol codecs ---------------------------------------------------------------


def test_request_round_trip() -> None:
    request = OnlinePinRequest(PAN, 123456, 643, 30, 4, 6, False)
    assert OnlinePinRequest.decode(request.encode()) == request
    result = PinResult(Status.OK, PinFormat.ISO4, bytes(12), bytes(16))
    assert PinResult.decode(result.encode()) == result
    offline = OfflinePinRequest(100, 643, None, 30)
    assert OfflinePinRequest.decode(offline.encode()) == offline
    with pytest.raises(ReportError):
        Report(MsgType.DISPLAY, 1, bytes(62)).encode()


@given(data=st.binary(min_size=REPORT_SIZE, max_size=REPORT_SIZE))
def test_garbage_reports_decode_or_raise_report_error(data: bytes) -> None:
    try:
        report = Report.decode(data)
    except ReportError:
        return
    for codec in (OnlinePinRequest, OfflinePinRequest, PinResult, Info, LoadKey, KeyEvent):
        with contextlib.suppress(ReportError):
            codec.decode(report.payload)  # type: ignore[attr-defined]
