"""USB-HID PIN pad: report protocol, pyusb driver, and the emulated pad with
its pyusb backend (the PIN pad simulator). See hal/usbhid/README.md."""

from __future__ import annotations
