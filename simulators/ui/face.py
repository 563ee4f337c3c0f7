# Strategy: the terminal's face as data for the virtual terminal page. It is
# read, never copied: the display, lights, keypad and PIN pad state come from
# the very HAL drivers the terminal writes to (simulators.devices: SimDisplay,
# SimIndicators, SimKeypad, SimPinPad; the card slot), the slip and the recent
# transactions from the journal, the host's switches and books from the host
# simulator. One task reads them again whenever the drivers count a change
# (simulators.devices.changes) and, while someone watches, once a second for what counts
# no changes (the journal, the host's books); each new reading is one JSON
# document the event streams pass on. Card numbers appear masked only, as on a
# slip (the journal keeps nothing else in clear); the PIN pad shows how many
# digits were typed, never which.
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from cardcore.engine.receipt import card_receipt, response_code_3
from cardcore.journal import JournalError, TxnRecord
from cardcore.render import money, slip
from simulators.devices.changes import Changes
from simulators.devices.display import Shown
from simulators.devices.keypad import SimKeypad
from simulators.devices.pinpad import SimPinPad
from simulators.devices.profile import list_profiles, load_profile
from simulators.simulator import host_ledger, host_switches

if TYPE_CHECKING:
    from cardcore.terminal import Terminal
    from simulators.simulator import Simulator

__all__ = ["CardChoice", "Face", "card_choices"]

log = logging.getLogger(__name__)

RECENT = 10  # transactions listed
DISPLAY_LOG = 6  # display messages listed, the current one last
LEDGER_ROWS = 10  # host ledger rows listed
WATCHED_POLL = 1.0  # seconds between readings of the journal while someone watches
FINAL_STATES = ("approved", "declined", "cancelled")


@dataclass(frozen=True)
class CardChoice:
    """A virtual card as the page offers it."""

    name: str
    description: str
    interfaces: tuple[str, ...]
    kind: str  # "contact", "contactless" or "mifare" (no payment application)


def card_choices() -> list[CardChoice]:
    """Every virtual card profile (`cardcore sim profiles`)."""
    choices = []
    for name in list_profiles():
        profile = load_profile(name)
        if not profile.applications:
            kind = "mifare"
        elif profile.interfaces[0] == "contactless":
            kind = "contactless"
        else:
            kind = "contact"
        choices.append(CardChoice(name, profile.description, tuple(profile.interfaces), kind))
    return choices


def qr_tag(payload: str) -> str:
    """A short name of a QR payload for the image's address (changes with it)."""
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class Face:
    def __init__(self, terminal: Terminal, sim: Simulator) -> None:
        self.terminal = terminal
        self.sim = sim
        self.document = b"{}"  # the latest reading, JSON
        self.updates = Changes()  # counts new readings
        self.watchers = 0  # event streams open (people at the terminal and spectators)
        self._recent: list[TxnRecord] = []

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        changes = self.sim.changes
        started = False
        while True:
            seen = changes.count
            await self.refresh()
            if not started:
                task_status.started()
                started = True
            if self.sim.keys.attended or self.watchers:
                with trio.move_on_after(WATCHED_POLL):
                    await changes.wait(seen)
            else:
                await changes.wait(seen)

    async def refresh(self) -> None:
        document = msgspec.json.encode(await self.reading())
        if document != self.document:
            self.document = document
            self.updates.changed()

    async def reading(self) -> dict[str, Any]:
        # The journal first: it is the one wait. The drivers are read after it
        # with none between, so the reading is one moment of the terminal.
        # A journal that cannot be read (a disk fault) leaves the last rows
        # read on the page, with the reason; the terminal serves on.
        journal_error = None
        try:
            self._recent = await self.terminal.journal.recent(RECENT)
        except JournalError as exc:
            journal_error = exc.message
        recent = self._recent
        sim = self.sim
        devices = self.terminal.devices
        shown = sim.display.current
        display = _shown(shown) if shown is not None else None
        # The messages before it too: the terminal may put up several in a
        # moment (APPROVED, then REMOVE CARD), faster than anyone reads.
        log_ = [_shown(s) for s in list(sim.display.history)[-DISPLAY_LOG:]]
        tones = sim.indicators.tones
        pinpad = devices.pinpad
        keypad = devices.keypad
        return {
            "display": display,
            "log": log_,
            "qr": {"payload": sim.display.qr, "tag": qr_tag(sim.display.qr)}
            if sim.display.qr
            else None,
            "lights": list(sim.indicators.lights),
            "tone": {"name": tones[-1], "count": len(tones)} if tones else None,
            "pin": {"typed": pinpad.typed}
            if isinstance(pinpad, SimPinPad) and pinpad.typed is not None
            else None,
            "confirm": keypad.prompt if isinstance(keypad, SimKeypad) else None,
            "waiting": sim.keys.waiting,
            "people": sim.keys.people,
            "field": [
                {"profile": name, "interface": iface.value}
                for name, iface in sim.slot.presented_all
            ],
            "host": self._host(),
            "ledger": self._ledger(),
            "sbp": sim.sbp.control.mode.value if sim.sbp is not None else None,
            "slip": self._slip(recent),
            "recent": [_row(record) for record in recent],
            "journal-error": journal_error,
        }

    def _host(self) -> dict[str, Any] | None:
        host = self.sim.host
        if host is None:
            return None
        return {"mode": host.control.mode.value, "switches": host_switches(host)}

    def _ledger(self) -> list[dict[str, Any]]:
        if self.sim.host is None:
            return []
        rows = host_ledger(self.sim.host)
        return [
            {
                "stan": row["stan"],
                "type": row["type"],
                "amount": money(row["amount"]),
                "reversed": money(row["reversed"]) if row["reversed"] else "",
                "response": row["response"] or "",
                "rrn": row["rrn"] or "",
            }
            for row in rows[-LEDGER_ROWS:][::-1]
        ]

    def _slip(self, recent: list[TxnRecord]) -> list[str] | None:
        """The slip of the newest finished transaction, as the cash register prints it."""
        for record in recent:
            if record.state in FINAL_STATES:
                return slip(self._receipt(record))
        return None

    def _receipt(self, record: TxnRecord) -> dict[str, Any]:
        from acquirers.iso8583.response_codes import describe

        receipt = card_receipt(
            self.terminal.config,
            record,
            response_description=describe(record.resp_code, "ru") if record.resp_code else None,
        )
        if record.channel == "sbp":
            receipt["iface"] = "sbp"
            sbp = self.terminal.config.sbp
            if sbp is not None:
                receipt["tid-sbp"] = sbp.terminal_id
        return receipt


def _shown(shown: Shown) -> dict[str, str]:
    return {
        "code": f"{shown.message:02X}",
        "text": shown.text,
        "language": shown.language,
        "amount": money(shown.amount, shown.currency) if shown.amount is not None else "",
    }


def _row(record: TxnRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "type": record.receipt_type,
        "amount": money(record.amount, record.currency),
        "state": record.state,
        "tstatus": record.tstatus or "",
        "pan": f"*{record.masked_pan[-4:]}" if record.masked_pan else "",
        "interface": record.interface or record.channel,
        "rrn": record.rrn or "",
        "response": response_code_3(record.resp_code) or "",
        "time": record.datetime[11:19],
    }
