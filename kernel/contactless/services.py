# Strategy: what a contactless kernel needs from the terminal beyond the
# contact kernel's KernelServices: the User Interface Request of EMV
# Contactless Book A 9.2 (message, status for the four lights and the tone,
# hold time, value). Everything else is the same Protocol: online_pin for
# Online PIN after the card has left the field, go_online for the Online
# Request, data_exchange for the Tags To Read / Data Exchange Tag List.
# `display` and the application selection methods are not used by the
# contactless kernels (Book B selects by priority, no cardholder choice).
from __future__ import annotations

from typing import Protocol

from kernel.contactless.ui import UiRequest
from kernel.services import KernelServices

__all__ = ["ContactlessServices"]


class ContactlessServices(KernelServices, Protocol):
    async def ui_request(self, request: UiRequest) -> None:
        """Show `request` (ECR `display` message) and set the lights and tone for its status.

        Must return promptly: the card may still be in the field."""
