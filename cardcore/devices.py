# Strategy: the HAL drivers a terminal runs with, chosen by configuration
# ([readers], [pinpad], [sam]; docs/conventions.md, 9: cardcore wires everything). `auto`
# means the simulated driver with --simulator and the real one otherwise; a
# driver named explicitly is used in both modes, so `cardcore serve
# --simulator` with `[readers] driver = "pcsc"` runs the simulated hosts with
# real readers (bench testing), and `[pinpad] driver = "usbhid"` with
# `emulated = true` runs the real USB-HID driver against the emulated pad.
# Real drivers are imported only when chosen: pyscard and pyusb are optional
# extras.
from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from cardcore.config import ConfigError, PinPadConfig, ReadersConfig, SamConfig
from hal.interfaces import CardInterface, CardReader, PinPad
from hal.readerselect import SlotPatterns

if TYPE_CHECKING:
    from base.crypto.dukpt import DukptOriginator
    from cardcore.terminal import Terminal
    from simulators.usbhid.backend import EmulatedBackend

__all__ = [
    "Monitors",
    "apply_configured_drivers",
    "emulated_usb_bus",
    "pcsc_readers",
    "pinpad_driver",
    "reader_driver",
    "sam_driver",
    "slot_patterns",
    "usbhid_pinpad",
]

log = logging.getLogger(__name__)

Monitor = Callable[..., Awaitable[None]]


@dataclass
class Monitors:
    """Background tasks of the drivers (hot-plug logging), for the root nursery."""

    tasks: list[Monitor] = field(default_factory=list)

    async def start(self, nursery: trio.Nursery) -> None:
        for task in self.tasks:
            await nursery.start(task)


def reader_driver(config: ReadersConfig, simulator: bool) -> str:
    if config.driver == "auto":
        return "sim" if simulator else "pcsc"
    return config.driver


def pinpad_driver(config: PinPadConfig, simulator: bool) -> str:
    if config.driver == "auto":
        return "sim" if simulator else "usbhid"
    return config.driver


def sam_driver(config: SamConfig, simulator: bool) -> str:
    if config.driver == "auto":
        return "sim" if simulator else "none"
    return config.driver


def slot_patterns(config: ReadersConfig) -> SlotPatterns:
    """The reader name patterns of the configuration (hal.readerselect)."""
    return SlotPatterns(
        contact=tuple(config.contact),
        contactless=tuple(config.contactless),
        sam=tuple(config.sam),
        exclude=tuple(config.exclude),
    )


def pcsc_readers(config: ReadersConfig) -> tuple[dict[CardInterface, CardReader], Monitor]:
    """The PC/SC readers of both interfaces and the stack's monitor task,
    which logs what each interface finds (cardcore.devicestatus)."""
    from cardcore.devicestatus import ReaderWatch
    from hal.pcsc import PcscStack

    stack = PcscStack(poll=config.poll, settle=config.settle)
    try:
        atqa_sak = bytes.fromhex(config.atqa_sak_apdu) if config.atqa_sak_apdu else None
    except ValueError:
        raise ConfigError("configuration key 'readers.atqa-sak-apdu' is not hex") from None
    patterns = slot_patterns(config)
    contact, contactless = patterns.contact_selector(), patterns.contactless_selector()
    readers: dict[CardInterface, CardReader] = {
        CardInterface.CONTACT: stack.reader(
            CardInterface.CONTACT, contact.patterns, exclude=contact.exclude
        ),
        CardInterface.CONTACTLESS: stack.reader(
            CardInterface.CONTACTLESS,
            contactless.patterns,
            exclude=contactless.exclude,
            atqa_sak_apdu=atqa_sak,
        ),
    }
    watch = ReaderWatch(patterns)
    return readers, functools.partial(stack.monitor, on_change=watch.update)


def _tpk(terminal: Terminal) -> Callable[[], bytes | None]:
    """The terminal's current TPK (loadworkkeys), from its key store."""

    from cardcore.hostlink import KEY_NAMES  # the ISO 8583 stack loads after the listener

    def key() -> bytes | None:
        name = KEY_NAMES["tpk"]
        return terminal.keystore.get(name) if name in terminal.keystore else None

    return key


def _tmk(terminal: Terminal) -> Callable[[], bytes | None]:
    """The terminal's current PIN master key (loadmasterkeys, provisioned)."""

    def key() -> bytes | None:
        masters = terminal.host.master_keys()
        return masters.pin if masters is not None else None

    return key


def _cardholder_pin(terminal: Terminal) -> Callable[[], str | None]:
    """The PIN the emulated pad's cardholder types: the presented virtual
    card's with --simulator, else the configured bench PIN."""
    config = terminal.config.pinpad

    def pin() -> str | None:
        sim: Any = terminal.sim
        presented = sim.slot.presented if sim is not None else None
        if presented is not None:
            from simulators.devices.profile import ProfileError, load_profile

            try:
                for app in load_profile(presented[0]).applications:
                    if app.pin:
                        return str(app.pin)
            except ProfileError:
                pass
        return config.emulated_pin

    return pin


def _emulated_dukpt(scheme: str) -> DukptOriginator | None:
    """A DUKPT initial key injected from the TEST base derivation keys, as a
    key injection facility would (X9.24-1 IPEK, X9.24-3 initial key)."""
    from base.crypto import dukpt
    from simulators.testkeys import TEST_BDKS, TEST_DUKPT_INITIAL_IDS

    if scheme == "dukpt-tdes":
        iksn = TEST_DUKPT_INITIAL_IDS["tdes"]
        return dukpt.DukptOriginator(dukpt.tdes_ipek(TEST_BDKS["tdes"], iksn), iksn)
    if scheme == "dukpt-aes":
        ikid = TEST_DUKPT_INITIAL_IDS["aes"]
        initial = dukpt.aes_initial_key(TEST_BDKS["aes"], ikid)
        return dukpt.DukptOriginator(initial, ikid + bytes(4))
    return None


def emulated_usb_bus(
    config: PinPadConfig,
    tmk: Callable[[], bytes | None] = lambda: None,
    pin: Callable[[], str | None] | None = None,
) -> EmulatedBackend:
    """A pyusb backend whose bus holds the emulated pad of `[pinpad]`
    (`emulated = true`): the configured VID:PID and online-PIN scheme, the
    TMK injected from ``tmk``, a cardholder who types ``pin`` (the
    configured bench PIN when None)."""
    from simulators.usbhid.backend import EmulatedBackend
    from simulators.usbhid.device import Cardholder, EmulatedPinPad

    device = EmulatedPinPad(
        vendor_id=config.vendor_id,
        product_id=config.product_id,
        tmk_source=tmk,  # injected with the terminal's TMK, as a key loader would
        cardholder=Cardholder(pin=pin or (lambda: config.emulated_pin)),
        dukpt=_emulated_dukpt(config.emulated_scheme),
    )
    return EmulatedBackend(device)


def usbhid_pinpad(terminal: Terminal) -> PinPad:
    """The USB-HID PIN pad of the configuration (on the emulated pad when
    `emulated = true`)."""
    from hal.usbhid.pinpad import UsbHidPinPad

    config = terminal.config.pinpad
    tmk, tpk = _tmk(terminal), _tpk(terminal)
    backend = None
    if config.emulated:
        backend = emulated_usb_bus(config, tmk, _cardholder_pin(terminal))
    return UsbHidPinPad(
        vendor_id=config.vendor_id,
        product_id=config.product_id,
        tmk=tmk,
        tpk=tpk,
        backend=backend,
        transfer_timeout=config.transfer_timeout,
    )


def apply_configured_drivers(terminal: Terminal, simulator: bool) -> Monitors:
    """Put the configured real drivers in place of the simulated ones (which
    the simulator installed before) where the configuration asks for them;
    returns the monitors to start."""
    config = terminal.config
    devices = terminal.devices
    monitors = Monitors()
    driver = reader_driver(config.readers, simulator)
    if driver == "pcsc":
        pcsc, monitor = pcsc_readers(config.readers)
        devices.readers.clear()
        devices.readers.update(pcsc)
        monitors.tasks.append(monitor)
        log.info(
            "card readers: PC/SC, contact %s, contactless %s",
            config.readers.contact,
            config.readers.contactless,
        )
    elif driver == "none":
        devices.readers.clear()
        log.info("card readers: none configured")
    elif not simulator:
        log.warning("card readers: simulated readers need --simulator; none in use")
    pad = pinpad_driver(config.pinpad, simulator)
    if pad == "usbhid":
        usb_pad = usbhid_pinpad(terminal)
        devices.pinpad = usb_pad
        from hal.usbhid.pinpad import UsbHidPinPad

        assert isinstance(usb_pad, UsbHidPinPad)
        devices.keypad = usb_pad  # confirmations (resetpassword) on the pad's keys
        if config.pinpad.emulated:
            log.info(
                "PIN pad: USB-HID %04X:%04X (emulated)",
                config.pinpad.vendor_id,
                config.pinpad.product_id,
            )
        # Whether the pad is there is the watch's to say, at start-up and after.
        from cardcore.devicestatus import watch_pinpad

        monitors.tasks.append(functools.partial(watch_pinpad, usb_pad))
    elif pad == "none":
        devices.pinpad = None
        log.info("PIN pad: none configured")
    elif not simulator and devices.pinpad is None:
        from simulators.devices.pinpad import SimPinPad

        devices.pinpad = SimPinPad(lambda: None, _tpk(terminal))
        log.warning("PIN pad: simulated pad outside simulator mode (types 1234)")
    sam = sam_driver(config.sam, simulator)
    if sam == "sim":
        from simulators.devices.sam import SimSam

        devices.sam = SimSam()
        log.info("SAM: simulated")
    else:
        devices.sam = None
    return monitors
