"""The emulated USB-HID PIN pad: the pad (``device``) and a pyusb backend
that puts it on an emulated bus (``backend``), so the terminal's driver in
hal/usbhid runs its real pyusb code without a pad. The protocol both ends
speak is hal/usbhid/protocol.py."""

from __future__ import annotations
