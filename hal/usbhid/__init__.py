"""USB-HID PIN pad: the report protocol and the pyusb driver. The emulated
pad the tests and keyless benches use is simulators/usbhid. See
hal/usbhid/README.md."""

from __future__ import annotations
