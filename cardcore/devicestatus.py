# Strategy: the operator learns from the log when a device the configuration
# asks for is missing, at start-up and when it goes away or comes back
# (README "Bench testing"): a WARNING names the device, what is wrong, and
# what the terminal does meanwhile; its return is INFO. EMV behaviour stays
# the kernel's: a PIN pad that is not there makes PIN entry fail, TVR byte 3
# 'PIN pad not present or not working' (Book 3 C.5), and the CVM list goes
# on; the cash register's display says why (cardcore.engine.services).
# - Readers: hal.pcsc's monitor hands every new reader list to a
#   `ReaderWatch`, which applies the configuration's patterns
#   (hal.readerselect) and logs which reader each interface has.
# - PIN pad: `watch_pinpad` looks for the USB device every few seconds (a
#   bus enumeration: the pad is not opened, a transaction keeps its claim).
#   The first look happens before the task counts as started, so start-up
#   warnings come before the terminal says it is ready.
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import trio

from base.errors import CardcoreError
from hal.readerselect import Assignment, SlotPatterns, assign_readers

__all__ = ["PAD_POLL", "PadWatchTarget", "ReaderWatch", "watch_pinpad"]

log = logging.getLogger("cardcore.devices")

PAD_POLL = 2.0  # seconds between looks for the USB PIN pad
TVR_NOTE = "PIN entry fails meanwhile (TVR 'PIN pad not present or not working')"


@dataclass
class ReaderWatch:
    """Which reader each card interface has, logged when it changes."""

    patterns: SlotPatterns
    last: Assignment | None = None
    down: bool = False

    def update(self, readers: list[str] | None) -> None:
        if readers is None:
            self.down = True  # hal.pcsc already warned that the service is gone
            return
        now = assign_readers(readers, self.patterns)
        before = self.last
        for interface, patterns in (
            ("contact", self.patterns.contact),
            ("contactless", self.patterns.contactless),
        ):
            reader = getattr(now, interface)
            old = getattr(before, interface) if before is not None else None
            wanted = ", ".join(repr(p) for p in patterns) or "(no pattern)"
            if reader is not None and reader != old:
                log.info(
                    "%s interface: PC/SC reader %s (pattern %r)",
                    interface,
                    reader,
                    now.roles[reader].pattern,
                )
            elif reader is None and (before is None or old is not None):
                if old is None:
                    log.warning(
                        "%s interface: no PC/SC reader matches %s (readers: %s); its card"
                        " transactions wait for one. `cardcore readers` shows the names",
                        interface,
                        wanted,
                        ", ".join(readers) or "none",
                    )
                else:
                    log.warning(
                        "%s interface: its reader %s went away; waiting for a reader matching %s",
                        interface,
                        old,
                        wanted,
                    )
        self.last, self.down = now, False


class PadWatchTarget(Protocol):
    """What `watch_pinpad` needs of a PIN pad driver (hal.usbhid.pinpad)."""

    @property
    def name(self) -> str: ...

    async def present(self) -> bool: ...


async def watch_pinpad(
    pad: PadWatchTarget,
    *,
    poll: float = PAD_POLL,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Log the pad's presence at start-up and every change after."""
    present: bool | None = None
    started = False
    while True:
        try:
            now = await pad.present()
        except CardcoreError as exc:
            # No pyusb, no libusb: nothing to watch; say it once.
            log.warning("PIN pad: %s; %s", exc.message, TVR_NOTE)
            if not started:
                task_status.started()
            return
        if now != present:
            if now:
                log.info("PIN pad: %s %s", pad.name, "connected" if present is None else "is back")
            elif present is None:
                log.warning(
                    'PIN pad: %s is not connected (configured: [pinpad] driver = "usbhid"); %s',
                    pad.name,
                    TVR_NOTE,
                )
            else:
                log.warning("PIN pad: %s went away; %s", pad.name, TVR_NOTE)
            present = now
        if not started:
            task_status.started()
            started = True
        await trio.sleep(poll)
