# Strategy: `cardcore readers --check`: one look at a card in a reader, as
# the terminal's first step would take it, summarised for people.
# - Contact (and any card whose ATR is not a PC/SC part 3 contactless one):
#   SELECT '1PAY.SYS.DDF01' (EMV 4.3 Book 1 12.3.2, PSE); with '9000' the
#   directory's SFI ('88' in the FCI's 'A5') is read from record 1 until
#   '6A83' (at most 16 records), and every '61' entry's ADF name '4F',
#   label '50' and priority '87' is listed.
# - Contactless: SELECT '2PAY.SYS.DDF01' (EMV Contactless Book B 3.3.2,
#   PPSE); the entries are the '61' templates in the FCI's 'BF0C'.
# - Only SELECT and READ RECORD of the directory: no application is
#   selected, nothing on the card changes, no card data is shown but AIDs
#   and labels. Status words are named from the kernel's one table
#   (kernel.sw); 61xx/6Cxx are completed by kernel.apdu.Transport.
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from base import tlv
from base.errors import CardcoreError
from kernel import apdu, sw

__all__ = ["PPSE", "PSE", "CheckResult", "DirectoryEntry", "check_card"]

PSE = b"1PAY.SYS.DDF01"
PPSE = b"2PAY.SYS.DDF01"
MAX_RECORDS = 16


@dataclass(frozen=True)
class DirectoryEntry:
    aid: str  # hex
    label: str = ""
    priority: int | None = None

    def text(self) -> str:
        label = f' "{self.label}"' if self.label else ""
        priority = f" (priority {self.priority})" if self.priority is not None else ""
        return f"{self.aid}{label}{priority}"


@dataclass(frozen=True)
class CheckResult:
    target: str  # "PSE" or "PPSE"
    sw: int | None = None
    entries: list[DirectoryEntry] = field(default_factory=list)
    error: str = ""

    @property
    def meaning(self) -> str:
        if self.sw is None:
            return ""
        return "ok" if self.sw == 0x9000 else sw.describe(self.sw)

    def line(self) -> str:
        if self.error:
            return f"SELECT {self.target}: {self.error}"
        assert self.sw is not None
        head = f"SELECT {self.target}: {self.sw:04X} {self.meaning}"
        if self.sw != 0x9000:
            return head
        count = len(self.entries)
        listed = ", ".join(e.text() for e in self.entries)
        noun = "application" if count == 1 else "applications"
        return f"{head}, {count} {noun}" + (f": {listed}" if listed else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "select": self.target,
            "sw": f"{self.sw:04X}" if self.sw is not None else None,
            "meaning": self.meaning,
            "applications": [
                {"aid": e.aid, "label": e.label, "priority": e.priority} for e in self.entries
            ],
            "error": self.error or None,
        }


def _text(value: bytes | None) -> str:
    if not value:
        return ""
    return "".join(c if c.isprintable() else "." for c in value.decode("latin-1")).strip()


def _entries(data: bytes) -> list[DirectoryEntry]:
    out = []
    for entry in tlv.find_all(data, 0x61):
        aid = tlv.find(entry, 0x4F)
        if aid is None:
            continue
        priority = tlv.find(entry, 0x87)
        out.append(
            DirectoryEntry(
                aid.hex().upper(),
                _text(tlv.find(entry, 0x50)),
                priority[0] & 0x0F if priority else None,
            )
        )
    return out


Transmit = Callable[[bytes], Awaitable[bytes]]


async def check_card(transmit: Transmit, *, contactless: bool) -> CheckResult:
    """SELECT PSE (contact) or PPSE (contactless) and the directory it names."""
    target = "PPSE" if contactless else "PSE"
    transport = apdu.Transport(transmit)
    try:
        answer = await transport.send(apdu.select(PPSE if contactless else PSE))
        if not answer.ok:
            return CheckResult(target, answer.sw)
        fci = answer.data
        if contactless:
            directory = tlv.find(fci, 0xBF0C) or b""
            return CheckResult(target, answer.sw, _entries(directory))
        sfi = tlv.find(fci, 0x88)
        if not sfi:
            return CheckResult(target, answer.sw, error="FCI without a directory SFI ('88')")
        entries: list[DirectoryEntry] = []
        for number in range(1, MAX_RECORDS + 1):
            record = await transport.send(apdu.read_record(sfi[0], number))
            if record.sw == 0x6A83:
                break
            if not record.ok:
                return CheckResult(
                    target, answer.sw, entries, f"READ RECORD {number}: {record.sw:04X}"
                )
            entries += _entries(record.data)
        return CheckResult(target, answer.sw, entries)
    except tlv.TlvError as exc:
        return CheckResult(target, error=f"malformed answer: {exc}")
    except CardcoreError as exc:
        return CheckResult(target, error=exc.message)
