"""Every simulated party of `cardcore serve --simulator`, in one tree: the
devices (cards, readers, PIN pad, display, lights, keypad, SAM; the emulated
USB-HID PIN pad in usbhid/), the acquirer host, the SBP agent, the management
and key servers, the test keys and PKI, and the virtual terminal page. Each
speaks its real protocol over loopback sockets or implements the hardware
interface of hal. Only the composition roots (cardcore.app, cardcore.devices,
cardcore.inprocess and the command line) import it; nothing of the product
does."""
