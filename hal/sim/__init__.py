"""Simulated devices: virtual EMV cards (card-side emulator) and their profiles.

Public API of the card emulator::

    from hal.sim import VirtualCard, list_profiles, load_profile

    card = VirtualCard(load_profile("default"))   # t0=True for T=0 behaviour
    atr = card.reset()
    rapdu = card.transmit(bytes.fromhex("00A404000E315041592E5359532E444446303100"))

Contactless cards (``list_profiles("contactless")``) are activated with
``card.reset(contactless=True)``; ``profile.rf`` holds their UID, ATQA and SAK.
Readers: hal.sim.reader (``SimCardSlot.present/present_also/remove``, ``SimCardReader``).
"""

from __future__ import annotations

from hal.sim.card import AppState, VirtualCard
from hal.sim.profile import Profile, ProfileError, list_profiles, load_profile, load_profile_file

__all__ = [
    "AppState",
    "Profile",
    "ProfileError",
    "VirtualCard",
    "list_profiles",
    "load_profile",
    "load_profile_file",
]
