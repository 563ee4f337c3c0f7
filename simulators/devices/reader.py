# Strategy: simulated card readers. One `SimCardSlot` stands for the
# customer's hand: which virtual cards (profiles) are presented, and on which
# interface; `cardcore sim present|remove` changes it at run time. Each
# interface's `SimCardReader` waits until a card is presented on it and powers
# it (a reset of the `VirtualCard`, which keeps its persistent counters —
# ATC, PIN try counter — across transactions, as a real card does).
# A card removed while a session is open makes the next APDU fail with
# CardRemoved, like a card pulled from a real slot.
# Contactless (EMV Contactless Book D as far as a simulation needs it): the
# field may hold several cards (`present_also`); then the reader activates
# none and reports CardCollision once per state of the field (Book B 3.2.1.4,
# "present one card only"), and activates the card left alone. An activated
# contactless card reports its ISO/IEC 14443-3 identity (UID, ATQA, SAK) and
# the ATR a PC/SC reader builds for it (PC/SC part 3 3.1.3.2.3); the session
# answers the PC/SC GET DATA pseudo-APDU (FF CA 00/01 00 00: UID / ATS
# historical bytes) as a PC/SC reader does. MIFARE profiles are contactless
# cards without an EMV application; a MIFARE Classic one also has memory
# (simulators.devices.mifare, one per profile so it persists), which the session reaches
# through the reader's MIFARE pseudo-APDUs (FF 82 LOAD KEYS, FF 86 GENERAL
# AUTHENTICATE, FF B0 READ / FF D6 UPDATE BINARY; simulators.devices.contactless).
from __future__ import annotations

from dataclasses import dataclass

import trio

from hal.atr import card_type_for_sak
from hal.interfaces import (
    CardCollision,
    CardInfo,
    CardInterface,
    CardRemoved,
    CardSession,
    CardType,
)
from simulators.devices.card import VirtualCard
from simulators.devices.changes import Changes
from simulators.devices.contactless import Part3Reader
from simulators.devices.mifare import MifareClassicCard, mifare_card_for
from simulators.devices.profile import Profile, ProfileError, load_profile

__all__ = ["SimCardReader", "SimCardSession", "SimCardSlot"]


@dataclass
class _Presented:
    profile: Profile
    card: VirtualCard
    interface: CardInterface
    generation: int


class SimCardSlot:
    """The presented virtual cards, shared by the simulated readers.

    - ``present(name, interface=None)``: the hand now holds this one card
      (interface: the profile's first one when not given); a profile cannot be
      presented on an interface it does not have (ProfileError).
    - ``present_also(name)``: one more card in the contactless field - two or
      more make a collision the contactless reader reports.
    - ``remove(name=None)``: take every card away, or only the named one.
    - ``open_sessions``: card sessions handed out and not closed yet (a
      reader that leaves a card powered shows here).
    """

    def __init__(self, *, latency: float = 0.0, changes: Changes | None = None) -> None:
        self.latency = latency
        self.changes = changes if changes is not None else Changes()
        self._cards: dict[str, VirtualCard] = {}
        self._memories: dict[str, MifareClassicCard] = {}
        self._field: list[_Presented] = []
        self._generation = 0
        self._changed = trio.Event()
        self.open_sessions = 0

    @property
    def presented(self) -> tuple[str, CardInterface] | None:
        """The first presented card (profile name, interface), None when none."""
        if not self._field:
            return None
        return self._field[0].profile.name, self._field[0].interface

    @property
    def presented_all(self) -> list[tuple[str, CardInterface]]:
        return [(p.profile.name, p.interface) for p in self._field]

    @property
    def generation(self) -> int:
        """Changes whenever the presented cards change."""
        return self._generation

    def card(self, name: str) -> VirtualCard:
        """The virtual card of a profile; one per profile, so its counters persist."""
        if name not in self._cards:
            self._cards[name] = VirtualCard(load_profile(name))
        return self._cards[name]

    def mifare_memory(self, name: str) -> MifareClassicCard | None:
        """The memory of a MIFARE Classic profile's card (None for other cards)."""
        if name not in self._memories:
            memory = mifare_card_for(self.card(name).profile)
            if memory is None:
                return None
            self._memories[name] = memory
        return self._memories[name]

    def add(self, card: VirtualCard) -> None:
        """Make a card built elsewhere (e.g. from `load_profile_file`) presentable
        under its profile name; it replaces a bundled profile of that name."""
        self._cards[card.profile.name] = card

    def _presentable(
        self, name: str, interface: CardInterface | None, protocols: tuple[int, ...] | None
    ) -> _Presented:
        card = self.card(name)  # raises ProfileError for an unknown profile
        profile = card.profile
        chosen = interface if interface is not None else CardInterface(profile.interfaces[0])
        if chosen.value not in profile.interfaces:
            have = ", ".join(profile.interfaces)
            raise ProfileError(f"profile {name!r} cannot be presented {chosen.value} ({have})")
        offered = protocols if protocols is not None else profile.protocols
        if chosen is CardInterface.CONTACTLESS:
            offered = (1,)  # ISO/IEC 14443-4 behind a PC/SC reader shows as T=1
        card.use(offered, t0=1 not in offered)
        self._generation += 1
        return _Presented(profile, card, chosen, self._generation)

    def present(
        self,
        name: str,
        interface: CardInterface | None = None,
        *,
        protocols: tuple[int, ...] | None = None,
    ) -> None:
        """``protocols``: what a contact card's ATR offers (default: the
        profile's, T=0 alone for the bundled ones). The reader takes T=1 when
        the card offers it, as pcscd does for a terminal that accepts both;
        with T=0 the card answers 61xx/6Cxx."""
        presented = self._presentable(name, interface, protocols)
        self._field = [presented]
        self._notify()

    def present_also(self, name: str) -> None:
        """Add a card to the contactless field (a collision when one is already there)."""
        if any(p.profile.name == name for p in self._field):
            raise ProfileError(f"profile {name!r} is already presented")
        presented = self._presentable(name, CardInterface.CONTACTLESS, None)
        self._field = [p for p in self._field if p.interface is CardInterface.CONTACTLESS]
        self._field.append(presented)
        self._notify()

    def remove(self, name: str | None = None) -> None:
        if name is None:
            self._field = []
        else:
            self._field = [p for p in self._field if p.profile.name != name]
        self._generation += 1
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
        self.changes.changed()

    def on_interface(self, interface: CardInterface) -> list[_Presented]:
        return [p for p in self._field if p.interface is interface]

    def current(self, interface: CardInterface) -> _Presented | None:
        cards = self.on_interface(interface)
        return cards[0] if cards else None

    async def changed(self) -> None:
        await self._changed.wait()

    def is_current(self, generation: int) -> bool:
        return any(p.generation == generation for p in self._field)


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
        self._field = field  # the MIFARE pseudo-APDUs of a contactless reader
        self._closed = False
        slot.open_sessions += 1

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
        if self._info.interface is CardInterface.CONTACTLESS and capdu[:2] == b"\xff\xca":
            return self._pcsc_get_data(capdu)
        if self._field is not None and capdu[:1] == b"\xff":
            return self._field.transmit(capdu)
        card = self._presented.card
        if card.t0 and len(capdu) > 5 and capdu[4] and len(capdu) == 6 + capdu[4]:
            capdu = capdu[:-1]  # T=0 carries no Le in case 4 (ISO 7816-3 12.2, case 4S)
        return card.transmit(capdu)

    def _pcsc_get_data(self, capdu: bytes) -> bytes:
        """PC/SC part 3 3.2.2.1.3 GET DATA: P1 00 UID, 01 ATS historical bytes."""
        rf = self._presented.profile.rf
        if rf is None or len(capdu) != 5 or capdu[3] != 0x00:
            return b"\x6a\x81"
        if capdu[2] == 0x00:
            return rf.uid + b"\x90\x00"
        if capdu[2] == 0x01 and rf.iso14443_4:
            return rf.historical + b"\x90\x00"
        return b"\x6a\x81"

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._slot.open_sessions -= 1
        await trio.lowlevel.checkpoint()


class SimCardReader:
    """A simulated reader for one interface."""

    def __init__(self, slot: SimCardSlot, interface: CardInterface) -> None:
        self._slot = slot
        self._interface = interface
        self._collision_reported: int | None = None

    @property
    def interface(self) -> CardInterface:
        return self._interface

    @property
    def name(self) -> str:
        return f"simulated {self._interface.value} reader"

    async def attached(self) -> bool:
        await trio.lowlevel.checkpoint()
        return True

    async def wait_for_card(self) -> SimCardSession:
        while True:
            cards = self._slot.on_interface(self._interface)
            if len(cards) > 1:
                if self._collision_reported != self._slot.generation:
                    self._collision_reported = self._slot.generation
                    await trio.lowlevel.checkpoint()
                    raise CardCollision(f"{len(cards)} cards in the field")
            elif cards:
                self._collision_reported = None
                session = self._activate(cards[0])
                await trio.lowlevel.checkpoint()
                return session
            await self._slot.changed()

    def _activate(self, presented: _Presented) -> SimCardSession:
        rf = presented.profile.rf
        if self._interface is CardInterface.CONTACTLESS and rf is not None:
            atr = presented.card.reset(contactless=True)
            card_type = card_type_for_sak(rf.sak)
            info = CardInfo(
                self._interface,
                atr=atr,
                uid=rf.uid,
                atqa=rf.atqa,
                sak=rf.sak,
                protocol="T=1",
                card_type=card_type,
                reader=self.name,
            )
            memory = self._slot.mifare_memory(presented.profile.name)
            field = None
            if memory is not None:
                memory.reset()
                field = Part3Reader(memory)
            elif card_type is not CardType.PROCESSOR:
                field = None
            return SimCardSession(self._slot, presented, info, field)
        card = presented.card
        info = CardInfo(
            self._interface,
            atr=card.reset(),
            protocol="T=0" if card.t0 else "T=1",
            reader=self.name,
        )
        return SimCardSession(self._slot, presented, info)

    async def wait_for_removal(self) -> None:
        while self._slot.current(self._interface) is not None:
            await self._slot.changed()
        await trio.lowlevel.checkpoint()
