# Strategy: the detection phase of a transaction as a trio race (issue 5; the
# manual's «Транзакция», «Сообщение smartcard», «Система быстрых платежей»):
# one nursery runs contact insertion, contactless polling (with the MIFARE
# hook) and the SBP QR payment side by side; the first to produce a card or a
# payment wins and cancels the others. Losers give back what they hold: a card
# session a losing task obtained is powered off; a QR that is still on screen
# is hidden and cancelled at the agent; a QR paid in the very moment a card
# won is refunded (queued as store-and-forward, so it survives a crash).
# - Contactless: two cards in the field are a collision: "present one card
#   only" (Book B 3.2.1.4), then polling goes on.
# - MIFARE enabled: every contactless card first goes to the cash register as
#   `smartcard`/`newcard` with its descriptor; `next` makes it a bank card,
#   `end` finishes the transaction with the indicators set, `retry` detects
#   again; any other answer counts as `next` (the manual's rule for clients).
#   After `retry` the terminal waits for the card to leave the field before
#   it detects again, for a back-off that starts at RETRY_BACKOFF and doubles
#   with each retry of a card that stays, up to RETRY_BACKOFF_MAX: a card
#   taken away and presented again (or another one) is offered at once, a
#   card left in the field again after the back-off, never in a loop
#   (docs/protocol-decisions.md).
# - A reader whose interface is switched off in the configuration is watched
#   only to refuse: a card presented there ends detection (the manual's
#   `readerdisabled`); its session is closed before a command reaches it.
# - SBP: `displayqrcode show` as soon as the QR is registered, `hide` when it
#   is paid or rejected (which ends detection) or when a status poll fails
#   (card detection then goes on until its timeout).
from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import trio

from acquirers.sbp.api import PaymentStatus
from acquirers.sbp.client import SbpClient
from acquirers.sbp.config import SbpConfig
from acquirers.sbp.poll import SbpFailed, SbpOutcome, SbpPaid, SbpRejected, pay_by_qr
from base.errors import CardcoreError
from cardcore.connection import CommandContext
from hal.interfaces import CardCollision, CardInterface, CardReader, CardSession, Display

if TYPE_CHECKING:
    from acquirers.sbp.client import RegisteredQr

__all__ = ["Detected", "DetectionPlan", "Found", "detect"]

log = logging.getLogger(__name__)


class Found(StrEnum):
    CONTACT = "contact"
    CONTACTLESS = "contactless"
    SBP = "sbp"
    MIFARE_END = "mifare-end"  # the cash register handled a MIFARE card itself
    DISABLED = "disabled"  # a card on a reader switched off in the configuration


@dataclass
class Detected:
    found: Found
    session: CardSession | None = None
    sbp: SbpPaid | SbpRejected | None = None
    indicator: str | None = None  # MIFARE `end`: ok | error | None
    disabled: CardInterface | None = None  # Found.DISABLED: which reader


@dataclass
class DetectionPlan:
    contact: CardReader | None = None
    contactless: CardReader | None = None
    # Readers of interfaces switched off in the configuration.
    disabled: list[CardReader] = field(default_factory=list)
    mifare: bool = False
    sbp: SbpConfig | None = None
    sbp_order: str = ""
    amount: int = 0
    timeout: float = 60.0
    # What the display shows while waiting (sent once, before the race).
    prompt: Callable[[], Awaitable[None]] | None = None
    # Called with a paid SBP outcome that lost the race (to be refunded).
    on_lost_payment: Callable[[SbpPaid], Awaitable[None]] | None = None
    # Called on a collision (False) and when it is resolved (True).
    show: Callable[[bool], Awaitable[None]] | None = None
    shown_qr: list[str] = field(default_factory=list)
    # The terminal's own display: the QR goes up and down there as well.
    screen: Display | None = None


async def _qr_display(ctx: CommandContext, plan: DetectionPlan, payload: str | None) -> None:
    """`displayqrcode` show/hide on the cash register and on the terminal."""
    if plan.screen is not None:
        await plan.screen.show_qr(payload)
    if payload is None:
        await ctx.ask("displayqrcode", {"status": "hide"})
    else:
        await ctx.ask("displayqrcode", {"status": "show", "url": payload})


# Seconds to wait, after `retry`, for the card to leave before it is
# detected again anyway; doubled for each retry of a card that stays.
RETRY_BACKOFF = 0.5
RETRY_BACKOFF_MAX = 4.0


class NoDetection(CardcoreError):
    """No card was presented before the detection timeout."""


async def detect(ctx: CommandContext, plan: DetectionPlan) -> Detected:
    """Run the race; raises NoDetection on timeout (trio cancellation passes through)."""
    try:
        return await _race(ctx, plan)
    except BaseExceptionGroup as group:
        # A task's own error (the cash register silent, an agent failure that
        # is not a poll failure...) ends the race: raise it as itself.
        leaves = _leaves(group)
        errors = [e for e in leaves if isinstance(e, CardcoreError)]
        if errors and all(isinstance(e, CardcoreError | trio.Cancelled) for e in leaves):
            raise errors[0] from None
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


async def _race(ctx: CommandContext, plan: DetectionPlan) -> Detected:
    result: list[Detected] = []
    timed_out = False

    async with trio.open_nursery() as nursery:

        def win(detected: Detected) -> bool:
            if result:
                return False
            result.append(detected)
            nursery.cancel_scope.cancel()
            return True

        async def give_back(session: CardSession) -> None:
            with trio.CancelScope(shield=True):
                await session.close()

        async def contact(reader: CardReader) -> None:
            session = await reader.wait_for_card()
            if not win(Detected(Found.CONTACT, session)):
                await give_back(session)

        async def contactless(reader: CardReader) -> None:
            collided = False
            backoff = RETRY_BACKOFF
            while True:
                try:
                    session = await reader.wait_for_card()
                except CardCollision:
                    if not collided and plan.show is not None:
                        await plan.show(False)  # Book B 3.2.1.4
                    collided = True
                    continue
                if collided:
                    collided = False  # one card left (Book B 3.2.1.5)
                    if plan.show is not None:
                        await plan.show(True)
                if plan.mifare:
                    try:
                        decision, indicator = await _smartcard(ctx, session)
                    except BaseException:
                        # Another interface won (or the register failed)
                        # while the register was deciding: power the card off.
                        await give_back(session)
                        raise
                    if decision == "end":
                        await give_back(session)
                        win(Detected(Found.MIFARE_END, indicator=indicator))
                        return
                    if decision == "retry":
                        await give_back(session)
                        left = False
                        with trio.move_on_after(backoff):
                            await reader.wait_for_removal()
                            left = True
                        backoff = RETRY_BACKOFF if left else min(backoff * 2, RETRY_BACKOFF_MAX)
                        continue
                if not win(Detected(Found.CONTACTLESS, session)):
                    await give_back(session)
                return

        async def disabled(reader: CardReader) -> None:
            try:
                session = await reader.wait_for_card()
            except CardCollision:
                pass  # cards in a switched-off field: presented all the same
            else:
                await give_back(session)
            win(Detected(Found.DISABLED, disabled=reader.interface))

        async def sbp(config: SbpConfig) -> None:
            async with SbpClient(config) as client:
                outcome = await _sbp(ctx, client, plan)
                if isinstance(outcome, SbpPaid | SbpRejected):
                    lost = not win(Detected(Found.SBP, sbp=outcome))
                    if lost and isinstance(outcome, SbpPaid) and plan.on_lost_payment is not None:
                        with trio.CancelScope(shield=True):
                            await plan.on_lost_payment(outcome)
                    return
            await trio.sleep_forever()  # the poll failed: the cards go on alone

        async def timer() -> None:
            nonlocal timed_out
            await trio.sleep(plan.timeout if plan.timeout > 0 else math.inf)
            timed_out = True
            nursery.cancel_scope.cancel()

        if plan.prompt is not None:
            await plan.prompt()
        if plan.contact is not None:
            nursery.start_soon(contact, plan.contact)
        if plan.contactless is not None:
            nursery.start_soon(contactless, plan.contactless)
        for reader in plan.disabled:
            nursery.start_soon(disabled, reader)
        if plan.sbp is not None:
            nursery.start_soon(sbp, plan.sbp)
        nursery.start_soon(timer)
    if result:
        return result[0]
    if timed_out:
        raise NoDetection(f"no card presented within {plan.timeout:g} s")
    raise NoDetection("no interface to detect a card on")


async def _smartcard(ctx: CommandContext, session: CardSession) -> tuple[str, str | None]:
    """The manual's `smartcard` message: the cash register decides what the card is."""
    try:
        descriptor = session.info.descriptor().hex().upper()
    except ValueError:
        return "next", None  # not a type A card: nothing the register could use
    answer = await ctx.ask("smartcard", {"command": "newcard", "descriptor": descriptor})
    command = answer.body.get("command")
    indicator = answer.body.get("indicator")
    if command in ("end", "retry"):
        return str(command), indicator if isinstance(indicator, str) else None
    return "next", None


async def _sbp(ctx: CommandContext, client: SbpClient, plan: DetectionPlan) -> SbpOutcome:
    shown: list[RegisteredQr] = []
    finished = False

    async def on_qr(qr: RegisteredQr) -> None:
        shown.append(qr)
        plan.shown_qr.append(qr.qrc_id)
        await _qr_display(ctx, plan, qr.payload)

    try:
        outcome = await pay_by_qr(client, plan.amount, on_qr=on_qr, order=plan.sbp_order)
        finished = True
        if shown:
            try:
                await _qr_display(ctx, plan, None)
            except BaseException:
                # Paid, but the operation ends here (a cancel, a silent register):
                # the customer's money goes back.
                if isinstance(outcome, SbpPaid) and plan.on_lost_payment is not None:
                    with trio.CancelScope(shield=True):
                        await plan.on_lost_payment(outcome)
                raise
        if isinstance(outcome, SbpFailed):
            log.info("SBP status poll failed: %s; card detection goes on", outcome.error)
        return outcome
    finally:
        if shown and not finished:
            # A card won (or the cash register cancelled) while the QR was up:
            # take it off the screen and withdraw it at the agent. Paid in the
            # meantime? Then the payment is refunded.
            with trio.CancelScope(shield=True):
                await _withdraw(ctx, client, shown[0], plan)


async def _withdraw(
    ctx: CommandContext, client: SbpClient, qr: RegisteredQr, plan: DetectionPlan
) -> None:
    with trio.move_on_after(client.config.request_timeout + 2):
        # The command may be being cancelled: the register is gone or silent.
        with contextlib.suppress(CardcoreError):
            await _qr_display(ctx, plan, None)
        try:
            info = await client.cancel_qr(qr.qrc_id)
        except CardcoreError as exc:
            log.warning("SBP QR %s could not be withdrawn: %s", qr.qrc_id, exc.message)
            return
        if info.status is PaymentStatus.SUCCESS and plan.on_lost_payment is not None:
            await plan.on_lost_payment(SbpPaid(qr, info, info.operation_id or ""))
