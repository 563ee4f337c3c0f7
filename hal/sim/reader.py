# Strategy: simulated card readers. One `SimCardSlot` stands for the
# customer's hand: which virtual card (profile) is presented, and on which
# interface; `cardcore sim present|remove` changes it at run time. Each
# interface's `SimCardReader` waits until a card is presented on it and powers
# it (a reset of the `VirtualCard`, which keeps its persistent counters —
# ATC, PIN try counter — across transactions, as a real card does).
# The contactless reader behaves like a PC/SC part 3 reader
# (hal.sim.contactless.Part3Reader): synthesised ATR, UID/ATQA/SAK, and the
# MIFARE pseudo-APDUs, so MIFARE Classic profiles (hal.sim.mifare) can be
# presented on it too. A card removed while a session is open makes the next
# APDU fail with CardRemoved, like a card pulled from a real slot.
from __future__ import annotations

from dataclasses import dataclass

import trio

from hal.interfaces import CardInfo, CardInterface, CardRemoved, CardSession
from hal.sim.card import VirtualCard
from hal.sim.contactless import Part3Reader
from hal.sim.mifare import MifareClassicCard, list_mifare_profiles, load_mifare_profile
from hal.sim.profile import Profile, ProfileError, load_profile

__all__ = ["SimCard", "SimCardReader", "SimCardSession", "SimCardSlot"]

SimCard = VirtualCard | MifareClassicCard


@dataclass
class _Presented:
    name: str
    card: SimCard
    interface: CardInterface
    generation: int


class SimCardSlot:
    """The presented virtual card, shared by the simulated readers."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self._cards: dict[str, SimCard] = {}
        self._presented: _Presented | None = None
        self._generation = 0
        self._changed = trio.Event()

    @property
    def presented(self) -> tuple[str, CardInterface] | None:
        if self._presented is None:
            return None
        return self._presented.name, self._presented.interface

    def card(self, name: str) -> SimCard:
        """The virtual card of a profile; one per profile, so its counters
        (and a MIFARE card's memory) persist."""
        if name not in self._cards:
            if name in list_mifare_profiles():
                self._cards[name] = load_mifare_profile(name)
            else:
                self._cards[name] = VirtualCard(load_profile(name))
        return self._cards[name]

    def present(
        self, name: str, interface: CardInterface = CardInterface.CONTACT, *, t0: bool = False
    ) -> None:
        """Present a profile's card; ``t0``: a contact card answering like a
        T=0 card (61xx/6Cxx) with a T=0 ATR."""
        card = self.card(name)  # raises ProfileError for an unknown profile
        if isinstance(card, MifareClassicCard):
            if interface is not CardInterface.CONTACTLESS:
                raise ProfileError(f"{name} is a contactless-only MIFARE card")
        else:
            card.t0 = t0 and interface is CardInterface.CONTACT
        self._generation += 1
        self._presented = _Presented(name, card, interface, self._generation)
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
    def __init__(
        self,
        slot: SimCardSlot,
        presented: _Presented,
        info: CardInfo,
        field: Part3Reader | None = None,
    ) -> None:
        self._slot = slot
        self._presented = presented
        self._info = info
        self._field = field
        self._closed = False

    @property
    def info(self) -> CardInfo:
        return self._info

    @property
    def profile(self) -> Profile:
        card = self._presented.card
        if not isinstance(card, VirtualCard):
            raise ProfileError(f"{self._presented.name} is not an EMV card")
        return card.profile

    async def transmit(self, capdu: bytes) -> bytes:
        if self._slot.latency:
            await trio.sleep(self._slot.latency)
        else:
            await trio.lowlevel.checkpoint()
        if self._closed or not self._slot.is_current(self._presented.generation):
            raise CardRemoved("card removed")
        if self._field is not None:
            return self._field.transmit(capdu)
        card = self._presented.card
        assert isinstance(card, VirtualCard)  # contact cards are EMV cards (present())
        if card.t0 and len(capdu) > 5 and capdu[4] and len(capdu) == 6 + capdu[4]:
            capdu = capdu[:-1]  # T=0 carries no Le in case 4 (ISO 7816-3 12.2.4)
        return card.transmit(capdu)

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
                await trio.lowlevel.checkpoint()
                return self._activate(presented)
            await self._slot.changed()

    def _activate(self, presented: _Presented) -> SimCardSession:
        if self._interface is CardInterface.CONTACTLESS:
            field = Part3Reader(presented.card)
            atr = field.activate()
            info = CardInfo(
                self._interface,
                atr=atr,
                uid=field.uid,
                atqa=field.atqa,
                sak=field.sak,
                protocol="T=1",
                card_type=field.card_type,
                reader=self.name,
            )
            return SimCardSession(self._slot, presented, info, field)
        card = presented.card
        assert isinstance(card, VirtualCard)  # present() keeps MIFARE cards contactless
        atr = card.reset()
        protocol = "T=0" if card.t0 else "T=1"
        info = CardInfo(self._interface, atr=atr, protocol=protocol, reader=self.name)
        return SimCardSession(self._slot, presented, info)

    async def wait_for_removal(self) -> None:
        while self._slot.current(self._interface) is not None:
            await self._slot.changed()
        await trio.lowlevel.checkpoint()
