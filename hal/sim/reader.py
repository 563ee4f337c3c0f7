# Strategy: simulated card readers. One `SimCardSlot` stands for the
# customer's hand: which virtual card (profile) is presented, and on which
# interface; `cardcore sim present|remove` changes it at run time. Each
# interface's `SimCardReader` waits until a card is presented on it and powers
# it (a reset of the `VirtualCard`, which keeps its persistent counters —
# ATC, PIN try counter — across transactions, as a real card does).
# A card removed while a session is open makes the next APDU fail with
# CardRemoved, like a card pulled from a real slot.
from __future__ import annotations

from dataclasses import dataclass

import trio

from hal.interfaces import CardInfo, CardInterface, CardRemoved, CardSession
from hal.sim.card import VirtualCard
from hal.sim.profile import Profile, load_profile

__all__ = ["SimCardReader", "SimCardSession", "SimCardSlot"]


@dataclass
class _Presented:
    profile: Profile
    card: VirtualCard
    interface: CardInterface
    generation: int


class SimCardSlot:
    """The presented virtual card, shared by the simulated readers."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self._cards: dict[str, VirtualCard] = {}
        self._presented: _Presented | None = None
        self._generation = 0
        self._changed = trio.Event()

    @property
    def presented(self) -> tuple[str, CardInterface] | None:
        if self._presented is None:
            return None
        return self._presented.profile.name, self._presented.interface

    def card(self, name: str) -> VirtualCard:
        """The virtual card of a profile; one per profile, so its counters persist."""
        if name not in self._cards:
            self._cards[name] = VirtualCard(load_profile(name))
        return self._cards[name]

    def present(self, name: str, interface: CardInterface = CardInterface.CONTACT) -> None:
        card = self.card(name)  # raises ProfileError for an unknown profile
        self._generation += 1
        self._presented = _Presented(card.profile, card, interface, self._generation)
        self._notify()

    def remove(self) -> None:
        self._generation += 1
        self._presented = None
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def current(self, interface: CardInterface) -> _Presented | None:
        presented = self._presented
        if presented is not None and presented.interface is interface:
            return presented
        return None

    async def changed(self) -> None:
        await self._changed.wait()

    def is_current(self, generation: int) -> bool:
        return self._presented is not None and self._presented.generation == generation


class SimCardSession(CardSession):
    def __init__(self, slot: SimCardSlot, presented: _Presented, info: CardInfo) -> None:
        self._slot = slot
        self._presented = presented
        self._info = info
        self._closed = False

    @property
    def info(self) -> CardInfo:
        return self._info

    @property
    def profile(self) -> Profile:
        return self._presented.profile

    async def transmit(self, capdu: bytes) -> bytes:
        if self._slot.latency:
            await trio.sleep(self._slot.latency)
        else:
            await trio.lowlevel.checkpoint()
        if self._closed or not self._slot.is_current(self._presented.generation):
            raise CardRemoved("card removed")
        return self._presented.card.transmit(capdu)

    async def close(self) -> None:
        self._closed = True
        await trio.lowlevel.checkpoint()


class SimCardReader:
    """A simulated reader for one interface."""

    def __init__(self, slot: SimCardSlot, interface: CardInterface) -> None:
        self._slot = slot
        self._interface = interface

    @property
    def interface(self) -> CardInterface:
        return self._interface

    @property
    def name(self) -> str:
        return f"simulated {self._interface.value} reader"

    async def wait_for_card(self) -> SimCardSession:
        while True:
            presented = self._slot.current(self._interface)
            if presented is not None:
                atr = presented.card.reset()
                info = CardInfo(self._interface, atr=atr)
                await trio.lowlevel.checkpoint()
                return SimCardSession(self._slot, presented, info)
            await self._slot.changed()

    async def wait_for_removal(self) -> None:
        while self._slot.current(self._interface) is not None:
            await self._slot.changed()
        await trio.lowlevel.checkpoint()
