"""The emulated USB-HID PIN pad and its bus, as pyusb sees them: the USB
descriptors a real pad presents (USB 2.0 ch. 9, HID 1.11 6.2), a stall for a
request it does not know, and an answer of the protocol's size to any bytes
written to it. The driver's own tests on it are tests/hal/usbhid."""

from __future__ import annotations

import pytest
import usb.core
import usb.util
from hypothesis import given
from hypothesis import strategies as st

from hal.usbhid.protocol import REPORT_DESCRIPTOR, REPORT_SIZE, MsgType, Report, Status
from simulators.usbhid.backend import EmulatedBackend
from simulators.usbhid.device import EmulatedPinPad

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")  # TEST ONLY


def test_enumeration_and_descriptors_through_pyusb() -> None:
    device = EmulatedPinPad(vendor_id=0x1209, product_id=0x0001, serial="PP42")
    backend = EmulatedBackend(device, EmulatedPinPad(product_id=0x0002))
    found = list(usb.core.find(find_all=True, backend=backend))
    assert [d.idProduct for d in found] == [0x0001, 0x0002]
    dev = usb.core.find(idVendor=0x1209, idProduct=0x0001, backend=backend)
    assert dev is not None and dev.bcdUSB == 0x0200 and dev.bNumConfigurations == 1
    assert usb.util.get_string(dev, dev.iProduct) == "cardcore PIN pad (emulated)"
    assert usb.util.get_string(dev, dev.iSerialNumber) == "PP42"
    dev.set_configuration()
    cfg = dev.get_active_configuration()
    assert cfg.bConfigurationValue == 1 and cfg.wTotalLength == 41
    intf = cfg[(0, 0)]
    assert intf.bInterfaceClass == 0x03 and bytes(intf.extra_descriptors)[1] == 0x21
    endpoints = [(e.bEndpointAddress, e.bmAttributes, e.wMaxPacketSize) for e in intf]
    assert endpoints == [(0x81, 0x03, 64), (0x01, 0x03, 64)]
    raw = bytes(dev.ctrl_transfer(0x80, 0x06, 0x0200, 0, 255))
    assert raw == device.configuration_descriptor() and len(raw) == 41
    report = bytes(dev.ctrl_transfer(0x81, 0x06, 0x2200, 0, 255))
    assert report == REPORT_DESCRIPTOR  # the protocol's, which the driver looks for
    with pytest.raises(usb.core.USBError):
        dev.ctrl_transfer(0x80, 0x06, 0x0F00, 0, 255)  # BOS: stalls


@given(data=st.binary(max_size=70))
def test_emulated_pad_answers_garbage_with_bad_request(data: bytes) -> None:
    device = EmulatedPinPad(tmk=TMK)
    device.write_report(data)
    answer = device.read_report(0)
    assert answer is not None and len(answer) == REPORT_SIZE
    if len(data) != REPORT_SIZE or data[2] > REPORT_SIZE - 3:  # not a report at all
        assert Report.decode(answer) == Report(MsgType.ACK, 0, bytes([Status.BAD_REQUEST]))
