# Strategy: the EMV kernel's window on the terminal
# (kernel.services.KernelServices): display messages, application choice, PIN
# entry through the HAL's PIN pad, the split-sales amount (EMV Book 3 10.6.1),
# online authorisation, data exchange and the contactless UI (Book A 9.4). The
# kernel never sees the cash register, the journal or the host directly.
# - Offline plaintext PIN goes to the card reader's own keypad when the
#   contact reader has one (hal.interfaces.ReaderKeypad, PC/SC part 10) and
#   `[readers] pin-entry` is "auto"; everything else to the PIN pad.
# - A PIN pad that is missing or fails leaves the EMV outcome to the kernel
#   (TVR 'PIN pad not present or not working'); the cash register's display
#   says why (messages D6/D7 of cardcore.engine.display).
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import trio

from cardcore.connection import CommandContext
from cardcore.engine.display import display_body
from cardcore.engine.flow import Flow, Till
from hal.interfaces import CardSession, ReaderKeypad
from kernel.contactless import UiRequest
from kernel.errors import PinPadError, PinPadNotPresent
from kernel.selection import Candidate
from kernel.services import MessageId, OnlineRequest, OnlineResponse, PinRequest

__all__ = ["EngineServices"]

# The operation's online authorisation (cardcore.engine.card).
Authorize = Callable[[OnlineRequest], Awaitable[OnlineResponse]]


class EngineServices:
    def __init__(
        self,
        till: Till,
        ctx: CommandContext,
        flow: Flow,
        authorize: Authorize,
        session: CardSession | None = None,
    ) -> None:
        self.till = till
        self.ctx = ctx
        self.flow = flow
        self.currency = flow.record.currency
        self._authorize = authorize
        self.session = session

    async def display(
        self, message: MessageId, *, amount: int | None = None, languages: str = ""
    ) -> None:
        await self.till.display(
            self.ctx, int(message), amount=amount, languages=languages, currency=self.currency
        )

    async def select_application(self, candidates: Sequence[Candidate]) -> int | None:
        # The candidates come sorted by priority (EMV Book 1 12.4); without a
        # cardholder-facing selection screen the terminal takes the first.
        await trio.lowlevel.checkpoint()
        return 0 if candidates else None

    async def confirm_application(self, candidate: Candidate) -> bool:
        await trio.lowlevel.checkpoint()
        return True

    def _pinpad(self) -> Any:
        pinpad = self.till.terminal.devices.pinpad
        if pinpad is None:
            raise PinPadNotPresent("no PIN pad configured")
        return pinpad

    async def _pad_trouble(self, exc: PinPadError, languages: str) -> None:
        """Tell the cash register why the PIN could not be entered."""
        missing = isinstance(exc, PinPadNotPresent)
        message = MessageId.PIN_PAD_NOT_PRESENT if missing else MessageId.PIN_PAD_ERROR
        await self.display(message, languages=languages)

    async def verify_pin_on_reader(self, request: PinRequest) -> int | None:
        session: object = self.session
        terminal = self.till.terminal
        if terminal.config.readers.pin_entry == "off" or not isinstance(session, ReaderKeypad):
            return None
        if await session.keypad() is None:
            return None
        languages = request.languages or terminal.config.transaction.languages
        try:
            return await session.verify_offline_pin(
                timeout=terminal.config.transaction.pin_timeout, language=languages[:2] or "en"
            )
        except PinPadError as exc:
            await self._pad_trouble(exc, request.languages)
            raise

    async def offline_pin(self, request: PinRequest) -> bytes:
        try:
            block: bytes = await self._pinpad().offline_pin(
                request.amount, request.currency, request.tries_remaining,
                self.till.terminal.config.transaction.pin_timeout,
            )  # fmt: skip
        except PinPadError as exc:
            await self._pad_trouble(exc, request.languages)
            raise
        return block

    async def online_pin(self, request: PinRequest) -> bytes:
        try:
            block: bytes = await self._pinpad().online_pin(
                request.pan or "", request.amount, request.currency,
                self.till.terminal.config.transaction.pin_timeout,
            )  # fmt: skip
        except PinPadError as exc:
            await self._pad_trouble(exc, request.languages)
            raise
        return block

    async def split_sales_amount(self, pan: str, currency: int) -> int:
        journal = self.till.terminal.journal
        last = await journal.last("card", pan_hash=journal.protector.hash(pan), tstatus="approved")
        if last is None or last.when.date() != self.flow.when.date():
            return 0
        return last.amount

    async def go_online(self, request: OnlineRequest) -> OnlineResponse:
        return await self._authorize(request)

    async def data_exchange(self, point: str, data: Mapping[int, bytes]) -> Mapping[int, bytes]:
        return await self.till.data_exchange(self.ctx, data)

    async def ui_request(self, request: UiRequest) -> None:
        """Contactless UI (Book A 9.4): the display message and the four lights."""
        terminal = self.till.terminal
        languages = request.language or terminal.config.transaction.languages
        body = display_body(int(request.message), languages=languages)
        body.update({k: v for k, v in request.display_fields().items() if v and k != "language"})
        await self.till.show(body)
        await self.ctx.ask("display", body)
        indicators = terminal.devices.indicators
        lights = request.lights
        if indicators is not None and lights is not None:
            await indicators.show(lights.lights, lights.tone)
