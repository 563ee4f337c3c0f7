"""What the log tells the operator about configured devices
(cardcore.devicestatus): readers found or missing per interface, a PIN pad
that is not there at start-up, goes away, comes back - the USB pad through
the driver's real pyusb code on the emulated bus."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from cardcore.config import ReadersConfig
from cardcore.devices import slot_patterns
from cardcore.devicestatus import ReaderWatch, watch_pinpad
from hal.usbhid.pinpad import UsbHidPinPad
from kernel.errors import PinPadError, PinPadNotPresent
from simulators.usbhid.backend import EmulatedBackend
from simulators.usbhid.device import EmulatedPinPad
from tests.hal.reader_names import DESK

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "cardcore.devices"]


def test_reader_watch_at_start_and_on_changes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    watch = ReaderWatch(slot_patterns(ReadersConfig()))
    watch.update([DESK[0]])  # a contact reader only
    watch.update([DESK[0]])  # nothing new: nothing logged
    watch.update(list(DESK))  # the 5422 plugged in: contactless found
    watch.update(None)  # pcscd gone (hal.pcsc warns about that)
    watch.update([DESK[1], DESK[2]])  # back, without the CT30: contact takes the 5422
    watch.update([])  # everything unplugged
    got = messages(caplog)
    assert got[0] == (
        "INFO",
        f"contact interface: PC/SC reader {DESK[0]} (pattern '*')",
    )
    assert got[1][0] == "WARNING" and got[1][1].startswith(
        "contactless interface: no PC/SC reader matches '*PICC*'"
    )
    assert f"readers: {DESK[0]})" in got[1][1]
    assert got[2] == (
        "INFO",
        f"contactless interface: PC/SC reader {DESK[2]} (pattern '*CL Smartcard*')",
    )
    assert got[3] == ("INFO", f"contact interface: PC/SC reader {DESK[1]} (pattern '*')")
    assert got[4][0] == got[5][0] == "WARNING"
    assert got[4][1].startswith(f"contact interface: its reader {DESK[1]} went away")
    assert got[5][1].startswith(f"contactless interface: its reader {DESK[2]} went away")
    assert len(got) == 6


def rig(**device: object) -> tuple[EmulatedPinPad, UsbHidPinPad]:
    pad = EmulatedPinPad(tmk=TMK, **device)  # type: ignore[arg-type]
    driver = UsbHidPinPad(
        vendor_id=pad.vendor_id, product_id=pad.product_id, tmk=lambda: TMK,
        backend=EmulatedBackend(pad),
    )  # fmt: skip
    return pad, driver


async def _until_logged(caplog: pytest.LogCaptureFixture, count: int) -> None:
    with trio.fail_after(60):
        while len(messages(caplog)) < count:  # noqa: ASYNC110 (the log has no event)
            await trio.sleep(0.5)


async def test_pad_watch_start_gone_back(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.INFO)
    # The watch looks at the bus from a worker thread; the clock jumps only
    # after a moment of real idleness, so that it does not jump over the
    # thread's answer.
    autojump_clock.autojump_threshold = 0.1
    pad, driver = rig()
    pad.plugged = False
    async with trio.open_nursery() as nursery:
        await nursery.start(watch_pinpad, driver)
        # The start-up warning is there before the watch counts as started.
        assert messages(caplog)[0][0] == "WARNING"
        pad.plugged = True
        await _until_logged(caplog, 2)
        pad.plugged = False
        await _until_logged(caplog, 3)
        await trio.sleep(5)  # and nothing more is said
        nursery.cancel_scope.cancel()
    got = messages(caplog)
    assert got[0][1] == (
        'PIN pad: USB PIN pad 1209:0001 is not connected (configured: [pinpad] driver = "usbhid");'
        " PIN entry fails meanwhile (TVR 'PIN pad not present or not working')"
    )
    assert got[1] == ("INFO", "PIN pad: USB PIN pad 1209:0001 is back")
    assert got[2][0] == "WARNING" and got[2][1].startswith(
        "PIN pad: USB PIN pad 1209:0001 went away"
    )
    assert len(got) == 3


async def test_pad_watch_when_usb_cannot_be_used(caplog: pytest.LogCaptureFixture) -> None:
    class NoUsb:
        name = "USB PIN pad 1209:0001"

        async def present(self) -> bool:
            raise PinPadError("USB support is not installed (pip install 'cardcore[usb]')")

    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        await nursery.start(watch_pinpad, NoUsb())
    assert messages(caplog) == [
        (
            "WARNING",
            "PIN pad: USB support is not installed (pip install 'cardcore[usb]');"
            " PIN entry fails meanwhile (TVR 'PIN pad not present or not working')",
        )
    ]


async def test_identify_and_presence_without_keys() -> None:
    pad, driver = rig(serial="PP7")
    assert await driver.present()
    info = await driver.identify()
    assert info.serial == "PP7" and info.firmware == "emulated-1.0"
    assert driver.info is None  # released again: a running terminal can claim it
    pad.plugged = False
    assert not await driver.present()
    with pytest.raises(PinPadNotPresent, match="is not connected"):
        await driver.identify()


async def test_identify_a_pad_another_process_holds() -> None:
    _, driver = rig()
    backend = driver._backend
    backend.claimed_elsewhere = True
    assert await driver.present()
    with pytest.raises(PinPadError, match="in use by another process"):
        await driver.identify()
