"""The PC/SC names of common readers, as pcscd (pcsc-lite with libudev
hot-plug) lists them on Linux, and the slot each one is.

pcscd names a USB reader "<driver's Info.plist name> [<USB iInterface>]
(<iSerialNumber>) XX YY": the bracket only when the interface has a name,
the serial only when the device has one, XX numbers the reader in the order
pcscd found it and YY is the slot (pcsc-lite src/hotplug_libudev.c
HPAddDevice and src/readerfactory.c RFAddReader). A reader with two CCID
interfaces (HID OMNIKEY 5422, Identiv uTrust 4701 F, ACS ACR1252U, Feitian
R502) is two or more readers, one per interface; a multi-slot CCID reader
(ACS ACR1281U) one reader with several slots.

Sources, per row:
- "seen": the whole string as a PC/SC listing printed it (pcsc_scan,
  opensc-tool, gp, pcscd logs), quoted in public issue threads or test
  fixtures; where a row shows a serial number it is that device's.
- "built": put together by the rule above from the driver's Info.plist name
  (libccid 1.5.2, /etc/libccid_Info.plist on Debian 12) and the USB
  descriptors the CCID project keeps for the model (CCID readers/*.txt:
  iInterface strings, bMaxSlotIndex), for models no listing was found for.
Driver "libccid" is the CCID project's driver (Debian package libccid);
"acsccid" is ACS's own; "HID" is HID Global's own (ifdokccid/ifdokrfid),
for models or interfaces libccid does not drive.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.readerselect import ReaderRole

CONTACT, CONTACTLESS, SAM = ReaderRole.CONTACT, ReaderRole.CONTACTLESS, ReaderRole.SAM
SPARE = ReaderRole.SPARE


@dataclass(frozen=True)
class ReaderName:
    model: str
    usb: str  # VID:PID
    driver: str
    name: str  # as pcscd lists it
    slot: ReaderRole  # what the slot is
    source: str  # "seen" or "built" (see the module docstring)
    keypad: bool = False  # a class-3 reader: PC/SC part 10 VERIFY_PIN_DIRECT
    # The role the default patterns give it, when that is not its slot (a
    # trap the README's bench section describes).
    default: ReaderRole | None = None


NAMES: tuple[ReaderName, ...] = (
    # HID Global OMNIKEY
    ReaderName("HID OMNIKEY 5021 CL", "076B:5340", "HID",
               "OMNIKEY CardMan (076B:5340) 5021 CL 00 00", CONTACTLESS, "built"),
    ReaderName("HID OMNIKEY 5022 CL", "076B:5022", "libccid",
               "HID Global OMNIKEY 5022 Smart Card Reader [OMNIKEY 5022 Smart Card Reader] 00 00",
               CONTACTLESS, "seen"),
    ReaderName("HID OMNIKEY 5121", "076B:5121", "libccid",
               "OMNIKEY AG CardMan 5121 00 00", CONTACT, "built"),
    ReaderName("HID OMNIKEY 5321", "076B:5321", "libccid",
               "OMNIKEY CardMan 5321 00 00", CONTACT, "built"),
    ReaderName("HID OMNIKEY 5121/5321", "076B:5321", "HID",
               "OMNIKEY CardMan 5x21 00 00", CONTACT, "seen"),
    ReaderName("HID OMNIKEY 5121/5321", "076B:5321", "HID",
               "OMNIKEY CardMan 5x21 00 01", CONTACTLESS, "seen"),
    ReaderName("HID OMNIKEY 5422", "076B:5422", "libccid",
               "HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422CL Smartcard Reader]"
               " (IM0O2C00NF10456904) 00 00", CONTACTLESS, "seen"),
    ReaderName("HID OMNIKEY 5422", "076B:5422", "libccid",
               "HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422 Smartcard Reader]"
               " (IM0O2C00NF10456904) 01 00", CONTACT, "seen"),
    ReaderName("HID OMNIKEY 5427 CK", "076B:5427", "libccid",
               "HID OMNIKEY 5427 CK (010100534E5634303104531E20192530) 00 00",
               CONTACTLESS, "seen"),
    # ACS
    ReaderName("ACS ACR122U", "072F:2200", "libccid",
               "ACS ACR122U PICC Interface 00 00", CONTACTLESS, "seen"),
    ReaderName("ACS ACR122U", "072F:2200", "acsccid",
               "ACS ACR122U (A02014090501) 00 00", CONTACTLESS, "seen"),
    # Early ACR122U firmware shares its USB id with the contact ACR38U, so
    # libccid names it after that one: nothing in the name says contactless.
    ReaderName("ACS ACR122U (firmware 1.x)", "072F:90CC", "libccid",
               "ACS ACR 38U-CCID 00 00", CONTACTLESS, "built", default=CONTACT),
    ReaderName("ACS ACR1252U", "072F:223B", "libccid",
               "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00", CONTACTLESS, "seen"),
    ReaderName("ACS ACR1252U", "072F:223B", "libccid",
               "ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 01 00", SAM, "seen"),
    # One CCID interface, three slots without names: ICC, PICC, SAM (a
    # contactless card's ATR was seen on 00 01; ACS: the third slot is the SAM).
    ReaderName("ACS ACR1281U-C1", "072F:2224", "libccid",
               "ACS ACR1281U 00 00", CONTACT, "seen"),
    ReaderName("ACS ACR1281U-C1", "072F:2224", "libccid",
               "ACS ACR1281U 00 01", CONTACTLESS, "seen"),
    ReaderName("ACS ACR1281U-C1", "072F:2224", "libccid",
               "ACS ACR1281U 00 02", SAM, "built"),
    ReaderName("ACS ACR1281U-C1", "072F:2224", "acsccid",
               "ACS ACR1281 1S Dual Reader 00 00", CONTACT, "seen"),
    ReaderName("ACS ACR1281U-C1", "072F:2224", "acsccid",
               "ACS ACR1281 1S Dual Reader 00 01", CONTACTLESS, "seen"),
    ReaderName("ACS ACR1281U-C1", "072F:2224", "acsccid",
               "ACS ACR1281 1S Dual Reader 00 02", SAM, "seen"),
    ReaderName("ACS ACR39U", "072F:B100", "libccid",
               "ACS ACR39U ICC Reader 00 00", CONTACT, "seen"),
    # Identiv
    ReaderName("Identiv uTrust 3700 F", "04E6:5790", "libccid",
               "Identiv uTrust 3700 F CL Reader [uTrust 3700 F CL Reader] (55021716210255) 00 00",
               CONTACTLESS, "seen"),
    ReaderName("Identiv uTrust 4701 F", "04E6:5724", "libccid",
               "Identiv Identiv uTrust 4701 F Dual Interface Reader [uTrust 4701 F Contact Reader]"
               " (55041930208215) 00 00", CONTACT, "seen"),
    ReaderName("Identiv uTrust 4701 F", "04E6:5724", "libccid",
               "Identiv Identiv uTrust 4701 F Dual Interface Reader [uTrust 4701 F CL Reader]"
               " (55041930208215) 01 00", CONTACTLESS, "seen"),
    # Feitian: four CCID interfaces
    ReaderName("Feitian R502", "096E:060D", "libccid",
               "Feitian R502 [R502 Contactless Reader] 00 00", CONTACTLESS, "built"),
    ReaderName("Feitian R502", "096E:060D", "libccid",
               "Feitian R502 [R502 Contact Reader] 01 00", CONTACT, "built"),
    ReaderName("Feitian R502", "096E:060D", "libccid",
               "Feitian R502 [R502 SAM1 Reader] 02 00", SAM, "built"),
    ReaderName("Feitian R502", "096E:060D", "libccid",
               "Feitian R502 [R502 SAM2 Reader] 03 00", SAM, "built"),
    # Gemalto / Thales IDBridge
    ReaderName("Gemalto IDBridge CT30", "08E6:3437", "libccid",
               "Gemalto PC Twin Reader 00 00", CONTACT, "seen"),
    ReaderName("Gemalto IDBridge CT30", "08E6:3437", "libccid",
               "Gemalto PC Twin Reader (69988A87) 02 00", CONTACT, "seen"),
    ReaderName("Gemalto IDBridge CT710", "08E6:34C2", "libccid",
               "Gemalto Ezio Shield 00 00", CONTACT, "seen", keypad=True),
    ReaderName("Gemalto IDBridge CT700", "08E6:3478", "libccid",
               "Gemalto USB GemPCPinpad SmartCard Reader 00 00", CONTACT, "built", keypad=True),
)  # fmt: skip

# Readers on one bench, in the order pcscd listed them ("seen" as a whole).
DESK = (
    "Gemalto PC Twin Reader (69988A87) 02 00",
    "HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422 Smartcard Reader]"
    " (IM0O2C00NF10456904) 01 00",
    "HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422CL Smartcard Reader]"
    " (IM0O2C00NF10456904) 00 00",
)


def models() -> dict[str, list[ReaderName]]:
    """The rows of each model and driver, as one reader shows them."""
    out: dict[str, list[ReaderName]] = {}
    for row in NAMES:
        out.setdefault(f"{row.model} ({row.driver})", []).append(row)
    return out
