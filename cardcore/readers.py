# Strategy: `cardcore readers [--check] [--json] [--config FILE]`, the
# bench's view of its hardware as this terminal sees it (like pcsc_scan, made
# for this configuration): every PC/SC reader pcscd offers, the slot the
# configuration's patterns give it and the pattern that did
# (hal.readerselect, the same code the driver uses), the ATR of a card in
# it, whether it takes PINs on its own keypad (PC/SC part 10), and the PIN
# pad's state; `--check` selects PSE/PPSE on each card
# (cardcore.readercheck). People get lines, scripts `--json`.
# Exit codes (cardcore.contract.Exit): 0 the listing was made (whatever it
# shows); 1 the PC/SC service cannot be reached (one line); 2 a bad
# configuration or no PC/SC support installed (one line).
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import trio

from base.errors import CardcoreError
from cardcore.config import Config
from cardcore.contract import Exit
from cardcore.readercheck import CheckResult, check_card
from hal.interfaces import CardInterface, KeypadPinEntry, ReaderNotAvailable
from hal.readerselect import Assignment, ReaderRole, SlotPatterns, assign_readers

__all__ = ["PadReport", "ReaderReport", "Report", "probe", "render", "run_readers"]

PCSCD_HINT = "start it: systemctl start pcscd.socket (or run pcscd -f)"


@dataclass
class ReaderReport:
    name: str
    role: ReaderRole
    pattern: str | None = None
    spare_for: ReaderRole | None = None
    card: bool = False
    atr: bytes = b""
    contactless_atr: bool = False  # the ATR is a PC/SC part 3 synthesised one
    mute: bool = False
    exclusive: bool = False
    keypad: KeypadPinEntry | None = None
    note: str = ""
    check: CheckResult | None = None

    def to_json(self) -> dict[str, Any]:
        keypad = self.keypad
        return {
            "name": self.name,
            "role": self.role.value,
            "pattern": self.pattern,
            "spare-for": self.spare_for.value if self.spare_for else None,
            "card": self.card,
            "atr": self.atr.hex().upper() if self.card else None,
            "atr-contactless": self.contactless_atr if self.card else None,
            "mute": self.mute,
            "exclusive": self.exclusive,
            "keypad": (
                {
                    "min-pin": keypad.min_pin,
                    "max-pin": keypad.max_pin,
                    "lcd": [keypad.lcd_lines, keypad.lcd_characters],
                    "firmware": keypad.firmware,
                }
                if keypad
                else None
            ),
            "note": self.note or None,
            "check": self.check.to_json() if self.check else None,
        }


@dataclass
class PadReport:
    driver: str  # usbhid, sim, none
    device: str = ""  # "USB-HID 1209:0001"
    state: str = ""  # connected, not connected, emulated, unusable, simulated, none
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state in ("connected", "emulated", "simulated")

    def to_json(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "device": self.device or None,
            "state": self.state,
            "ok": self.ok,
            "detail": self.detail or None,
        }


@dataclass
class Report:
    patterns: SlotPatterns
    assignment: Assignment
    readers: list[ReaderReport] = field(default_factory=list)
    pinpad: PadReport = field(default_factory=lambda: PadReport("none"))
    sam_driver: str = "none"
    pin_entry: str = "auto"

    @property
    def keypad_reader(self) -> str | None:
        """The contact reader when it takes PINs itself and may."""
        contact = self.assignment.contact
        if self.pin_entry == "off" or contact is None:
            return None
        entry = next((r for r in self.readers if r.name == contact), None)
        return contact if entry is not None and entry.keypad is not None else None

    def to_json(self) -> dict[str, Any]:
        a, p = self.assignment, self.patterns
        return {
            "service": "running",
            "readers": [r.to_json() for r in self.readers],
            "interfaces": {
                "contact": {"reader": a.contact, "patterns": list(p.contact)},
                "contactless": {"reader": a.contactless, "patterns": list(p.contactless)},
                "sam": {
                    "readers": a.readers_with(ReaderRole.SAM),
                    "patterns": list(p.sam),
                    "driver": self.sam_driver,
                },
            },
            "pin-entry": {
                "offline-plaintext": (
                    f"reader keypad: {self.keypad_reader}" if self.keypad_reader else "PIN pad"
                ),
                "pinpad": self.pinpad.to_json(),
            },
        }


# --- probing ---------------------------------------------------------------------


async def _pad_report(config: Config) -> PadReport:
    from cardcore.devices import emulated_usb_bus, pinpad_driver

    pad = config.pinpad
    driver = pinpad_driver(pad, simulator=False)
    if driver == "none":
        return PadReport("none", state="none", detail='[pinpad] driver = "none": no PIN entry')
    if driver == "sim":
        return PadReport("sim", state="simulated", detail="types 1234; only for tests")
    from hal.usbhid.pinpad import UsbHidPinPad

    device = f"USB-HID {pad.vendor_id:04X}:{pad.product_id:04X}"
    backend = emulated_usb_bus(pad) if pad.emulated else None
    driver_pad = UsbHidPinPad(
        vendor_id=pad.vendor_id, product_id=pad.product_id, tmk=lambda: None, backend=backend
    )
    try:
        if not await driver_pad.present():
            return PadReport("usbhid", device, "not connected", "PIN entry fails until it is")
        info = await driver_pad.identify()
    except CardcoreError as exc:
        return PadReport("usbhid", device, "unusable", exc.message)
    detail = f"serial {info.serial}, firmware {info.firmware}, keys {info.scheme.name}"
    if pad.emulated:
        return PadReport("usbhid", device, "emulated", "the driver's built-in pad; " + detail)
    return PadReport("usbhid", device, "connected", detail)


async def probe(config: Config, *, check: bool = False) -> Report:
    """What pcscd and the PIN pad show now; ReaderNotAvailable when pcscd
    (or PC/SC support) is missing."""
    from cardcore.devices import slot_patterns
    from hal.atr import parse_contactless_atr
    from hal.pcsc import PcscStack

    stack = PcscStack(poll=config.readers.poll, settle=config.readers.settle)
    patterns = slot_patterns(config.readers)
    names = await stack.list_readers()
    assignment = assign_readers(names, patterns)
    states = {s.name: s for s in await stack.reader_states(names)}
    from cardcore.devices import sam_driver

    report = Report(
        patterns,
        assignment,
        sam_driver=sam_driver(config.sam, simulator=False),
        pin_entry=config.readers.pin_entry,
    )
    for name in names:
        slot = assignment.roles[name]
        state = states.get(name)
        entry = ReaderReport(name, slot.role, slot.pattern, slot.spare_for)
        if state is not None and state.present:
            entry.card, entry.atr = True, state.atr
            entry.contactless_atr = parse_contactless_atr(state.atr) is not None
            entry.mute, entry.exclusive = state.mute, state.exclusive
        try:
            entry.keypad = await stack.reader_keypad(name)
        except CardcoreError as exc:
            entry.note = f"features not read: {exc.message}"
        if check and entry.card and not entry.mute and slot.role not in _NO_CHECK:
            entry.check = await _check(stack, entry)
        report.readers.append(entry)
    report.pinpad = await _pad_report(config)
    return report


_NO_CHECK = (ReaderRole.SAM, ReaderRole.EXCLUDED)


async def _check(stack: Any, entry: ReaderReport) -> CheckResult:
    from hal.atr import parse_contactless_atr
    from hal.interfaces import CardType

    contactless = entry.role is ReaderRole.CONTACTLESS or (
        entry.role is not ReaderRole.CONTACT and entry.contactless_atr
    )
    target = "PPSE" if contactless else "PSE"
    part3 = parse_contactless_atr(entry.atr)
    if part3 is not None and part3.card_type is not CardType.PROCESSOR:
        return CheckResult(target, error=f"a {part3.card_type.value} card takes no APDUs")
    interface = CardInterface.CONTACTLESS if contactless else CardInterface.CONTACT
    reader = stack.reader(interface, [entry.name])
    try:
        session = await reader.connect(entry.name)
    except CardcoreError as exc:
        return CheckResult(target, error=exc.message)
    if session is None:
        return CheckResult(target, error="the card left")
    try:
        return await check_card(session.transmit, contactless=contactless)
    finally:
        await session.close()


# --- for people ---------------------------------------------------------------------


def _atr(atr: bytes) -> str:
    return " ".join(f"{b:02X}" for b in atr)


def _role_line(entry: ReaderReport, report: Report) -> str:
    a, role = report.assignment, entry.role
    if role in (ReaderRole.CONTACT, ReaderRole.CONTACTLESS):
        return f"{role.value} interface (pattern {entry.pattern!r})"
    if role is ReaderRole.SAM:
        used = "" if report.sam_driver == "sim" else f"; [sam] driver = {report.sam_driver!r}"
        return f"SAM slot (pattern {entry.pattern!r}): no card interface takes it{used}"
    if role is ReaderRole.EXCLUDED:
        return f"excluded (pattern {entry.pattern!r})"
    if role is ReaderRole.SPARE and entry.spare_for is not None:
        taken = getattr(a, entry.spare_for.value)
        return (
            f"spare: matches {entry.spare_for.value} pattern {entry.pattern!r},"
            f" but that interface took {taken}"
        )
    return "unused: no pattern matches it"


def _keypad_line(keypad: KeypadPinEntry) -> str:
    parts = ["its own PIN keypad (PC/SC part 10 VERIFY_PIN_DIRECT)"]
    if keypad.min_pin or keypad.max_pin:
        parts.append(f"PIN {keypad.min_pin or '?'}-{keypad.max_pin or '?'} digits")
    if keypad.lcd_lines:
        parts.append(f"display {keypad.lcd_lines}x{keypad.lcd_characters}")
    return ", ".join(parts)


def render(report: Report) -> list[str]:
    lines = [f"PC/SC readers ({len(report.readers)}):"]
    if not report.readers:
        lines.append("  none: plug a reader in (pcscd sees it at once) or check `lsusb`")
    for entry in report.readers:
        lines.append(f"  {entry.name}")
        lines.append(f"      {_role_line(entry, report)}")
        if entry.card:
            kind = "contactless (PC/SC part 3)" if entry.contactless_atr else "contact"
            state = ""
            if entry.mute:
                state = ", mute"
            elif entry.exclusive:
                state = ", in use by another application"
            lines.append(f"      card: ATR {_atr(entry.atr)} ({kind} ATR{state})")
            if entry.role is ReaderRole.CONTACT and entry.contactless_atr:
                lines.append(
                    "      note: a contactless card's ATR in the contact slot:"
                    " this reader's contactless slot? see [readers] contactless"
                )
        else:
            lines.append("      no card")
        if entry.keypad is not None:
            lines.append(f"      keypad: {_keypad_line(entry.keypad)}")
        if entry.note:
            lines.append(f"      note: {entry.note}")
        if entry.check is not None:
            lines.append(f"      check: {entry.check.line()}")
    lines.append("Interfaces:")
    for name, reader, patterns in (
        ("contact", report.assignment.contact, report.patterns.contact),
        ("contactless", report.assignment.contactless, report.patterns.contactless),
    ):
        wanted = ", ".join(repr(p) for p in patterns) or "(no pattern)"
        lines.append(f"  {name:<12} {reader or f'none: no reader matches {wanted}'}")
    sams = report.assignment.readers_with(ReaderRole.SAM)
    sam_patterns = ", ".join(repr(p) for p in report.patterns.sam) or "(no pattern)"
    lines.append(
        f"  {'SAM':<12} {', '.join(sams) or f'none: no reader matches {sam_patterns}'}"
        f" ([sam] driver = {report.sam_driver!r})"
    )
    pad = report.pinpad
    lines.append("PIN entry:")
    device = f"{pad.device}: " if pad.device else ""
    detail = f" ({pad.detail})" if pad.detail else ""
    lines.append(f"  {'PIN pad':<12} {device}{pad.state}{detail}")
    keypad = report.keypad_reader
    if keypad:
        lines.append(f"  {'keypad':<12} offline plaintext PIN on the contact reader ({keypad});")
        lines.append(f"  {'':<12} enciphered offline and online PIN on the PIN pad")
    else:
        lines.append(f"  {'keypad':<12} none: every PIN on the PIN pad")
    return lines


# --- the command ----------------------------------------------------------------------


def run_readers(args: argparse.Namespace) -> int:
    from cardcore.config import build_config, load_config_data

    try:
        config = build_config(load_config_data(args.config))
    except CardcoreError as exc:
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return Exit.USAGE
    from hal.pcsc import pyscard_available

    if not pyscard_available():
        print(
            "cardcore: PC/SC support is not installed (pip install 'cardcore[pcsc]',"
            " needs libpcsclite)",
            file=sys.stderr,
        )
        return Exit.USAGE
    try:
        report = trio.run(lambda: probe(config, check=args.check))
    except ReaderNotAvailable as exc:
        reason = exc.message.split(": ", 1)[-1]
        print(f"cardcore: {reason}; {PCSCD_HINT}", file=sys.stderr)
        return Exit.UNREACHABLE
    except CardcoreError as exc:
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return Exit.UNREACHABLE
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        for line in render(report):
            print(line)
    return Exit.OK
