"""Every simulated party of `cardcore serve --simulator`, in one tree: the
devices (cards, readers, PIN pad, display, lights, keypad, SAM; the emulated
USB-HID PIN pad in usbhid/), the acquirer host, the SBP agent, the management
and key servers, the test keys and PKI, and the virtual terminal page. Each
speaks its real protocol over loopback sockets or implements the hardware
interface of hal. Only the composition roots (cardcore.app, cardcore.devices,
cardcore.inprocess and the command line) import it; nothing of the product
does."""

from __future__ import annotations

# The modules that stand in for hardware, and the hardware each plays. They
# live here and nowhere else: hal holds only the interfaces and the real
# drivers (tests/test_architecture.py checks both, and that each of these
# looks like an emulation the way any module found in hal would).
HARDWARE: dict[str, str] = {
    "simulators.devices.card": "an EMV contact card (the card side of its APDUs)",
    "simulators.devices.contactless": "a PC/SC part 3 contactless reader with a card in its field",
    "simulators.devices.mifare": "a MIFARE Classic card behind a part 3 reader",
    "simulators.devices.reader": "the card readers (hal.interfaces.CardReader)",
    "simulators.devices.vpcd": "a card in vsmartcard's vpcd reader, for the real pcscd",
    "simulators.devices.pinpad": "the PIN pad (hal.interfaces.PinPad)",
    "simulators.devices.keypad": "the terminal's keypad (hal.interfaces.Keypad)",
    "simulators.devices.display": "the cardholder display (hal.interfaces.Display)",
    "simulators.devices.indicators": "the lights and beeper (hal.interfaces.Indicators)",
    "simulators.devices.sam": "the SAM (hal.sam.Sam)",
    "simulators.usbhid.device": "the USB-HID PIN pad: the pad's side of docs/pinpad-protocol.md",
    "simulators.usbhid.backend": "a USB bus (a pyusb backend) the emulated pad sits on",
}
