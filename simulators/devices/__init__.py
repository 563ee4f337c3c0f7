"""Simulated devices: virtual EMV cards (card-side emulator) and their profiles.

Public API of the card emulator::

    from simulators.devices import VirtualCard, list_profiles, load_profile

    card = VirtualCard(load_profile("default"))   # t0=True for T=0 behaviour
    atr = card.reset()
    rapdu = card.transmit(bytes.fromhex("00A404000E315041592E5359532E444446303100"))

Contactless cards (``list_profiles("contactless")``) are activated with
``card.reset(contactless=True)``; ``profile.rf`` holds their UID, ATQA and SAK.
Readers: simulators.devices.reader (``SimCardSlot.present/present_also/remove``, ``SimCardReader``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from base.lazy import lazy_attributes

if TYPE_CHECKING:
    from simulators.devices.card import AppState, VirtualCard
    from simulators.devices.profile import (
        Profile,
        ProfileError,
        list_profiles,
        load_profile,
        load_profile_file,
    )

# Names load on first use: a simulated keypad or display (needed before the
# ECR listener opens) must not pull the card emulator in with it.
_MODULES = {
    "AppState": "simulators.devices.card",
    "VirtualCard": "simulators.devices.card",
    "Profile": "simulators.devices.profile",
    "ProfileError": "simulators.devices.profile",
    "list_profiles": "simulators.devices.profile",
    "load_profile": "simulators.devices.profile",
    "load_profile_file": "simulators.devices.profile",
}


__getattr__ = lazy_attributes(__name__, _MODULES)


__all__ = [
    "AppState",
    "Profile",
    "ProfileError",
    "VirtualCard",
    "list_profiles",
    "load_profile",
    "load_profile_file",
]
