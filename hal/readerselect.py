# Strategy: which PC/SC reader serves which of the terminal's slots, from
# reader name patterns (fnmatch, case-insensitive), as data the driver and
# `cardcore readers` share, so what the bench is shown is what the terminal
# does.
# - PC/SC names a reader "<driver's name> [<USB interface name>] (<serial>)
#   XX YY" on Linux (pcsc-lite hotplug_libudev.c and readerfactory.c: XX
#   numbers the reader, YY its slot); a dual-interface reader shows as two
#   readers, a multi-slot one as several slots. The roles are in the words
#   (PICC, CL, Contactless, SAM) for most readers, and in nothing for some:
#   tests/hal/reader_names.py lists the real names the defaults are checked
#   against.
# - Slots: a SAM pattern (or `exclude`) takes a reader away from both card
#   interfaces; the contactless interface takes the first reader its
#   patterns match (patterns tried in order, readers in pcscd's order); the
#   contact interface the first its patterns match that no contactless
#   pattern matches. Every reader gets one role and the pattern that gave it.
# - fnmatch reads "[...]" as a character class, and PC/SC names carry the
#   USB interface's name in brackets: a pattern equal to a whole name matches
#   that name as well, so a name copied from `cardcore readers` or pcsc_scan
#   works as is; a pattern with a part of such a name uses "*" around it
#   ("*5422CL*") or "[[]" for a literal "[".
from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "Assignment",
    "ReaderRole",
    "ReaderSelector",
    "ReaderSlot",
    "SlotPatterns",
    "assign_readers",
]


def _match(name: str, pattern: str) -> bool:
    # A whole name copied from a listing matches itself although its
    # "[interface]" part reads as a character class to fnmatch.
    name, pattern = name.lower(), pattern.lower()
    return name == pattern or fnmatch.fnmatchcase(name, pattern)


@dataclass(frozen=True)
class ReaderSelector:
    """Reader name patterns of one interface (fnmatch, case-insensitive)."""

    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    def _excluded(self, name: str) -> str | None:
        return next((p for p in self.exclude if _match(name, p)), None)

    def match(self, readers: Sequence[str]) -> tuple[str, str] | None:
        """The reader chosen and the pattern that chose it."""
        for pattern in self.patterns:
            for name in readers:
                if _match(name, pattern) and self._excluded(name) is None:
                    return name, pattern
        return None

    def choose(self, readers: Sequence[str]) -> str | None:
        found = self.match(readers)
        return found[0] if found is not None else None

    def describe(self) -> str:
        return ", ".join(repr(p) for p in self.patterns) or "(no pattern)"


class ReaderRole(StrEnum):
    CONTACT = "contact"
    CONTACTLESS = "contactless"
    SAM = "sam"
    EXCLUDED = "excluded"  # `exclude` matches it
    SPARE = "spare"  # its interface's patterns match, but another reader came first
    UNMATCHED = "unmatched"  # no pattern matches it


@dataclass(frozen=True)
class SlotPatterns:
    """The configuration's patterns ([readers] contact, contactless, sam, exclude)."""

    contact: tuple[str, ...]
    contactless: tuple[str, ...]
    sam: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def contact_selector(self) -> ReaderSelector:
        return ReaderSelector(self.contact, (*self.contactless, *self.sam, *self.exclude))

    def contactless_selector(self) -> ReaderSelector:
        return ReaderSelector(self.contactless, (*self.sam, *self.exclude))


@dataclass(frozen=True)
class ReaderSlot:
    """One reader's role, the pattern that gave it, and for a spare reader
    the interface whose pattern it matches."""

    role: ReaderRole
    pattern: str | None = None
    spare_for: ReaderRole | None = None


@dataclass(frozen=True)
class Assignment:
    """Every reader's role; the reader (or None) of each interface."""

    roles: dict[str, ReaderSlot] = field(default_factory=dict)
    contact: str | None = None
    contactless: str | None = None

    def readers_with(self, role: ReaderRole) -> list[str]:
        return [name for name, slot in self.roles.items() if slot.role is role]


def assign_readers(readers: Sequence[str], patterns: SlotPatterns) -> Assignment:
    contact = patterns.contact_selector().match(readers)
    contactless = patterns.contactless_selector().match(readers)
    roles: dict[str, ReaderSlot] = {}
    for name in readers:
        excluded = next((p for p in patterns.exclude if _match(name, p)), None)
        sam = next((p for p in patterns.sam if _match(name, p)), None)
        cl = next((p for p in patterns.contactless if _match(name, p)), None)
        ct = next((p for p in patterns.contact if _match(name, p)), None)
        if excluded is not None:
            roles[name] = ReaderSlot(ReaderRole.EXCLUDED, excluded)
        elif sam is not None:
            roles[name] = ReaderSlot(ReaderRole.SAM, sam)
        elif contactless is not None and contactless[0] == name:
            roles[name] = ReaderSlot(ReaderRole.CONTACTLESS, contactless[1])
        elif contact is not None and contact[0] == name:
            roles[name] = ReaderSlot(ReaderRole.CONTACT, contact[1])
        elif cl is not None:
            roles[name] = ReaderSlot(ReaderRole.SPARE, cl, ReaderRole.CONTACTLESS)
        elif ct is not None:
            roles[name] = ReaderSlot(ReaderRole.SPARE, ct, ReaderRole.CONTACT)
        else:
            roles[name] = ReaderSlot(ReaderRole.UNMATCHED)
    return Assignment(
        roles,
        contact[0] if contact is not None else None,
        contactless[0] if contactless is not None else None,
    )
