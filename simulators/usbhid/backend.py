# Strategy: a pyusb backend (usb.backend.IBackend) written in Python that
# emulates a USB bus at transfer level, so `usb.core.find`, descriptors,
# configuration, interface claiming, control transfers and interrupt IN/OUT
# transfers of the PIN pad driver (hal/usbhid/pinpad.py) run pyusb's real
# code paths against EmulatedPinPad (simulators/usbhid/device.py) where
# libusb would reach a real pad. Descriptors are parsed from the device's raw
# descriptor bytes (USB 2.0 9.6), the single source of truth for both
# GET_DESCRIPTOR control requests and pyusb's descriptor objects. Errors are
# raised the way libusb reports them through pyusb: USBTimeoutError
# (LIBUSB_ERROR_TIMEOUT), USBError with LIBUSB_ERROR_NO_DEVICE for an
# unplugged device, LIBUSB_ERROR_PIPE for a stalled (unsupported) control
# request.
from __future__ import annotations

import array
import errno
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import usb.backend
import usb.core

from simulators.usbhid.device import EP_IN, EP_OUT, EmulatedPinPad

__all__ = ["EmulatedBackend"]

LIBUSB_ERROR_TIMEOUT = -7
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_PIPE = -9
LIBUSB_ERROR_BUSY = -6

# Standard requests (USB 2.0 9.4) and HID class requests (HID 1.11 7.2).
GET_DESCRIPTOR, SET_CONFIGURATION, GET_CONFIGURATION = 0x06, 0x09, 0x08
HID_GET_REPORT, HID_SET_REPORT, HID_SET_IDLE = 0x01, 0x09, 0x0A
DT_DEVICE, DT_CONFIG, DT_STRING, DT_HID, DT_REPORT = 0x01, 0x02, 0x03, 0x21, 0x22


def _fields(names: tuple[str, ...], raw: bytes, formats: str) -> dict[str, int]:
    """Little-endian descriptor fields: formats is one char per field, 'B' or 'H'."""
    out: dict[str, int] = {}
    pos = 0
    for name, kind in zip(names, formats, strict=True):
        size = 1 if kind == "B" else 2
        out[name] = int.from_bytes(raw[pos : pos + size], "little")
        pos += size
    return out


def _split(raw: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(raw):
        length = raw[pos]
        if length == 0:
            break
        out.append(raw[pos : pos + length])
        pos += length
    return out


def _error(message: str, code: int, err: int) -> usb.core.USBError:
    return usb.core.USBError(message, code, err)


@dataclass
class _Handle:
    device: EmulatedPinPad
    claimed: set[int] = field(default_factory=set)


class EmulatedBackend(usb.backend.IBackend):  # type: ignore[misc]
    """pyusb backend whose bus holds emulated devices."""

    def __init__(self, *devices: EmulatedPinPad, claimed_elsewhere: bool = False) -> None:
        super().__init__()
        self.devices = list(devices)
        self.claimed_elsewhere = claimed_elsewhere  # another process holds the interface
        self.kernel_driver_active = False  # as if the kernel's usbhid had bound the pad

    # --- enumeration and descriptors ------------------------------------------
    def enumerate_devices(self) -> Any:
        return [d for d in self.devices if d.plugged]

    def get_parent(self, dev: EmulatedPinPad) -> None:
        return None

    def get_device_descriptor(self, dev: EmulatedPinPad) -> Any:
        names = (
            "bLength", "bDescriptorType", "bcdUSB", "bDeviceClass", "bDeviceSubClass",
            "bDeviceProtocol", "bMaxPacketSize0", "idVendor", "idProduct", "bcdDevice",
            "iManufacturer", "iProduct", "iSerialNumber", "bNumConfigurations",
        )  # fmt: skip
        desc = _fields(names, dev.device_descriptor(), "BBHBBBBHHHBBBB")
        index = self.devices.index(dev)
        return SimpleNamespace(
            **desc, bus=1, address=10 + index, port_number=1 + index,
            port_numbers=(1 + index,), speed=2,  # full speed
        )  # fmt: skip

    def _parts(self, dev: EmulatedPinPad) -> list[bytes]:
        return _split(dev.configuration_descriptor())

    def get_configuration_descriptor(self, dev: EmulatedPinPad, config: int) -> Any:
        if config != 0:
            raise IndexError("one configuration")
        names = (
            "bLength", "bDescriptorType", "wTotalLength", "bNumInterfaces",
            "bConfigurationValue", "iConfiguration", "bmAttributes", "bMaxPower",
        )  # fmt: skip
        desc = _fields(names, self._parts(dev)[0], "BBHBBBBB")
        return SimpleNamespace(**desc, extra_descriptors=array.array("B"))

    def get_interface_descriptor(
        self, dev: EmulatedPinPad, intf: int, alt: int, config: int
    ) -> Any:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError("one interface")
        parts = self._parts(dev)
        names = (
            "bLength", "bDescriptorType", "bInterfaceNumber", "bAlternateSetting",
            "bNumEndpoints", "bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol",
            "iInterface",
        )  # fmt: skip
        desc = _fields(names, parts[1], "BBBBBBBBB")
        return SimpleNamespace(**desc, extra_descriptors=array.array("B", parts[2]))

    def get_endpoint_descriptor(
        self, dev: EmulatedPinPad, ep: int, intf: int, alt: int, config: int
    ) -> Any:
        endpoints = [p for p in self._parts(dev) if p[1] == 0x05]
        names = ("bLength", "bDescriptorType", "bEndpointAddress", "bmAttributes",
                 "wMaxPacketSize", "bInterval")  # fmt: skip
        desc = _fields(names, endpoints[ep], "BBBBHB")
        return SimpleNamespace(
            **desc, bRefresh=0, bSynchAddress=0, extra_descriptors=array.array("B")
        )

    # --- handles ----------------------------------------------------------------
    def _live(self, handle: _Handle) -> EmulatedPinPad:
        if not handle.device.plugged:
            raise _error("No such device (it may have been disconnected)",
                         LIBUSB_ERROR_NO_DEVICE, errno.ENODEV)  # fmt: skip
        return handle.device

    def open_device(self, dev: EmulatedPinPad) -> _Handle:
        if not dev.plugged:
            raise _error("No such device", LIBUSB_ERROR_NO_DEVICE, errno.ENODEV)
        return _Handle(dev)

    def close_device(self, handle: _Handle) -> None:
        handle.claimed.clear()

    def set_configuration(self, handle: _Handle, value: int) -> None:
        self._live(handle).configuration = value

    def get_configuration(self, handle: _Handle) -> int:
        return self._live(handle).configuration

    def claim_interface(self, handle: _Handle, intf: int) -> None:
        self._live(handle)
        if self.claimed_elsewhere:
            raise _error("Resource busy", LIBUSB_ERROR_BUSY, errno.EBUSY)
        handle.claimed.add(intf)

    def release_interface(self, handle: _Handle, intf: int) -> None:
        handle.claimed.discard(intf)

    def set_interface_altsetting(self, handle: _Handle, intf: int, alt: int) -> None:
        self._live(handle)

    def is_kernel_driver_active(self, handle: _Handle, intf: int) -> bool:
        return self.kernel_driver_active

    def detach_kernel_driver(self, handle: _Handle, intf: int) -> None:
        self.kernel_driver_active = False

    def attach_kernel_driver(self, handle: _Handle, intf: int) -> None:
        self.kernel_driver_active = True

    def clear_halt(self, handle: _Handle, ep: int) -> None:
        self._live(handle)

    def reset_device(self, handle: _Handle) -> None:
        self._live(handle)

    # --- transfers --------------------------------------------------------------
    def intr_write(
        self, handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        device = self._live(handle)
        if ep != EP_OUT or intf not in handle.claimed or device.configuration != 1:
            raise _error("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)
        device.write_report(bytes(data))
        return len(data)

    def intr_read(
        self, handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        device = self._live(handle)
        if ep != EP_IN or intf not in handle.claimed or device.configuration != 1:
            raise _error("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)
        report = device.read_report((timeout or 1000) / 1000)
        if report is None:
            self._live(handle)  # unplugged while waiting
            raise usb.core.USBTimeoutError(
                "Operation timed out", LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT
            )
        size = min(len(buff), len(report))
        buff[:size] = array.array("B", report[:size])
        return size

    def ctrl_transfer(
        self,
        handle: _Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        device = self._live(handle)
        answer = self._control(device, bmRequestType, bRequest, wValue, wIndex, bytes(data))
        if answer is None:  # an OUT request: nothing to read back
            return len(data)
        size = min(len(data), len(answer))
        data[:size] = array.array("B", answer[:size])
        return size

    def _control(
        self, device: EmulatedPinPad, request_type: int, request: int, value: int,
        index: int, data: bytes,
    ) -> bytes | None:  # fmt: skip
        kind, index_type = value >> 8, value & 0xFF
        if request_type == 0x80 and request == GET_DESCRIPTOR:
            found: bytes | None = None
            if kind == DT_DEVICE:
                found = device.device_descriptor()
            elif kind == DT_CONFIG and index_type == 0:
                found = device.configuration_descriptor()
            elif kind == DT_STRING:
                found = device.string_descriptor(index_type)
            if found is not None:
                return found
        elif request_type == 0x81 and request == GET_DESCRIPTOR and index == 0:
            if kind == DT_REPORT:
                return device.report_descriptor()
            if kind == DT_HID:
                return device.hid_descriptor()
        elif request_type == 0x00 and request == SET_CONFIGURATION:
            device.configuration = value
            return None
        elif request_type == 0x80 and request == GET_CONFIGURATION:
            return bytes([device.configuration])
        elif request_type == 0x21 and request == HID_SET_IDLE:
            return None
        elif request_type == 0x21 and request == HID_SET_REPORT and kind == 0x02:
            device.write_report(data)
            return None
        elif request_type == 0xA1 and request == HID_GET_REPORT and kind == 0x01:
            report = device.read_report(0)
            if report is not None:
                return report
        raise _error("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)  # STALL
