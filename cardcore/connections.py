# Strategy: who may hold a connection to the ECR port, so that a hostile or
# broken peer on the LAN cannot lock the cash register out (slow-loris: many
# connections that never finish a packet, or never send one).
# - `allowed-clients`: addresses or networks the port serves; others are
#   closed at once. Empty: every address.
# - At most `max-connections-per-peer` from one address: beyond, a newcomer
#   from it is refused (closing it costs little, however fast it comes back).
# - At most `max-connections` in all. When the table is full a newcomer
#   still gets a place if another address holds more than its own fair
#   share: the oldest idle connection (waiting for a command, a half-sent
#   packet included) of the address holding the most is closed for it. So a
#   new peer always finds room, and peers that already hold as much as the
#   others cannot push each other out in an endless chain. A connection
#   running a command is never closed to make room.
# Decisions only: the server cancels an evicted connection's scope and
# closes what was refused. IPv4-mapped IPv6 peers count as their IPv4
# address.
from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable

import trio

__all__ = ["ConnectionTable", "Slot", "peer_address"]

log = logging.getLogger("cardcore.server")

# Seconds between two log lines about refused or evicted connections: a flood
# is summed up, not written out connection by connection.
NOTICE_INTERVAL = 10.0


def peer_address(host: str) -> str:
    """The address a peer counts as (an IPv4-mapped IPv6 one as IPv4)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class Slot:
    """A connection's place in the table. It may be evicted (its scope
    cancelled) only while ``idle``: waiting for its next command."""

    __slots__ = ("address", "idle", "released", "scope")

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.idle = True
        self.released = False
        self.scope = trio.CancelScope()


class ConnectionTable:
    def __init__(
        self, total: int, per_peer: int, allowed: Iterable[str] = (), *, label: str = "ECR"
    ) -> None:
        self.total = total
        self.per_peer = per_peer
        self.allowed = [ipaddress.ip_network(entry, strict=False) for entry in allowed]
        self.label = label
        self.count = 0
        self._by_peer: dict[str | None, list[Slot]] = {}
        self._noted: dict[str, int] = {}
        self._next_notice: dict[str, float] = {}

    def allows(self, address: str) -> bool:
        if not self.allowed:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.allowed)

    def held_by(self, address: str | None) -> int:
        return len(self._by_peer.get(address, ()))

    def admit(self, address: str | None) -> Slot | None:
        """A place for a newcomer from ``address`` (None: not a network peer,
        as in-process streams; only the total applies), making room as the
        strategy says; None: refused."""
        if address is not None:
            if not self.allows(address):
                self.notice("refused", f"{address} is not in allowed-clients")
                return None
            if self.held_by(address) >= self.per_peer:
                self.notice("refused", f"{address} holds {self.per_peer} connections already")
                return None
        if self.count >= self.total and not self._make_room(self.held_by(address)):
            self.notice("refused", f"all {self.total} connections are taken")
            return None
        slot = Slot(address)
        self._by_peer.setdefault(address, []).append(slot)
        self.count += 1
        return slot

    def _make_room(self, holds: int) -> bool:
        """Evict for a newcomer whose address ``holds`` connections: from the
        address holding the most, if that is more than the newcomer's address
        will hold once admitted."""
        for peer in sorted(self._by_peer, key=self.held_by, reverse=True):
            if self.held_by(peer) <= holds + 1:
                return False
            if self._evict_from(peer):
                return True
        return False

    def release(self, slot: Slot) -> None:
        if slot.released:
            return
        slot.released = True
        slots = self._by_peer[slot.address]
        slots.remove(slot)
        if not slots:
            del self._by_peer[slot.address]
        self.count -= 1

    def _evict_from(self, address: str | None) -> bool:
        for slot in self._by_peer.get(address, ()):
            if slot.idle:
                slot.scope.cancel()
                self.release(slot)
                self.notice("evicted", f"an idle connection of {address} made room")
                return True
        return False

    def notice(self, what: str, detail: str, level: int = logging.WARNING) -> None:
        """Log connections refused, evicted or closed for breaking the rules:
        the first of a kind at once, then at most one line per kind every
        NOTICE_INTERVAL seconds, with the count since the last line."""
        count = self._noted[what] = self._noted.get(what, 0) + 1
        now = time.monotonic()
        if now < self._next_notice.get(what, 0.0):
            return
        self._next_notice[what] = now + NOTICE_INTERVAL
        self._noted[what] = 0
        log.log(level, "%s connection %s: %s (%d since the last notice)", self.label, what,
                detail, count)  # fmt: skip
