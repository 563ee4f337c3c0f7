# Strategy: the ECR `transaction` command (manual «Транзакция») end to end:
# the request checked (cardcore.engine.request), the acquirer's rules applied
# (manual entry, operations without the card, the password they may need),
# then one operation runs: with the card (cardcore.engine.card: detection,
# EMV kernel, host; a void of a receipt number), without it
# (cardcore.engine.cardless: manual entry, forced refund; a void of `last` or
# forced, cardcore.engine.voids) or by SBP (cardcore.engine.sbp). Operations use the
# till (cardcore.engine.flow) and the ledger (cardcore.ledger), which owns
# every state change and its queued messages, and never call each other.
# While a flow runs, store-and-forward leaves its queued reversal alone; the
# engine releases it when the flow ends, however it ends.
from __future__ import annotations

import logging

from cardcore.connection import Answer, CommandContext
from cardcore.engine import cardless, voids
from cardcore.engine.card import CardOperation
from cardcore.engine.flow import (
    Flow,
    InterfaceNotAllowed,
    NotApproved,
    NotDetected,
    Till,
    TransactionNotFound,
)
from cardcore.engine.recovery import recover, register_senders
from cardcore.engine.request import (
    Operation,
    manual_entry_password,
    parse_transaction,
)
from cardcore.engine.sbp import SbpFlows
from cardcore.errors import InvalidArguments, NotAuthorized
from cardcore.terminal import Terminal

__all__ = [
    "InterfaceNotAllowed",
    "NotApproved",
    "NotDetected",
    "TransactionEngine",
    "TransactionNotFound",
]

log = logging.getLogger(__name__)


class TransactionEngine:
    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.till = Till(terminal)
        self.sbp = SbpFlows(self.till)
        self.card = CardOperation(self.till, self.sbp)

    def register_senders(self) -> None:
        """Let store-and-forward deliver the SBP refunds the engine queues."""
        register_senders(self.terminal)

    async def recover(self) -> int:
        """After a crash: see cardcore.engine.recovery."""
        return await recover(self.terminal)

    async def transaction(self, ctx: CommandContext) -> Answer:
        config = self.terminal.config
        password = manual_entry_password(ctx.message)
        if password is not None:  # before the card data is looked at
            await self._check_password(password, "manual card entry")
        command = parse_transaction(ctx.message, config.terminal.currency, self.terminal.today())
        accepted = [config.terminal.currency, *config.acquirer.currencies]
        if command.currency not in accepted:
            # Only what the acquirer takes (docs/protocol-decisions.md).
            raise InvalidArguments(
                f"currency {command.currency} is not accepted; the acquirer takes "
                f"{', '.join(dict.fromkeys(accepted))}"
            )
        if command.force_sbp and command.currency != config.terminal.currency:
            raise InterfaceNotAllowed(f"SBP takes {config.terminal.currency} only")
        acquirer = config.acquirer
        if command.manual is not None and command.operation.value not in acquirer.manual_entry:
            raise InterfaceNotAllowed(
                f"the acquirer does not allow manual card entry for {command.operation}"
            )
        if command.forced:
            allowed = (
                acquirer.forced_void
                if command.operation is Operation.VOID
                else acquirer.forced_refund
            )
            if not allowed:
                raise InterfaceNotAllowed(
                    f"the acquirer does not allow a {command.operation} without the card"
                )
        # A void of a receipt number is made with the card; `last` and
        # `forced` are without it (variants Б and В).
        cardless_void = command.operation is Operation.VOID and (
            command.forced or command.number == "last"
        )
        if acquirer.forced_password and (command.forced or cardless_void):
            await self._check_password(command.password, f"a {command.operation} without the card")
        ctx.start_keepalive()
        if command.operation is Operation.VOID:
            void = await voids.prepare(self.till, command)
            if cardless_void:
                return await voids.commit(self.till, ctx, void)
            return await self.card.void(ctx, void)
        flow = self.till.new_flow(command)
        try:
            return await self._run(ctx, flow)
        finally:
            # Whatever the flow left queued may go now.
            self.terminal.host.release(flow.record.id)

    async def _check_password(self, password: str | None, what: str) -> None:
        if not password:
            raise NotAuthorized(f"{what} needs the administrator password")
        await self.terminal.auth.check_password(password)

    async def _run(self, ctx: CommandContext, flow: Flow) -> Answer:
        command = flow.command
        if command.operation is Operation.REFUND:
            if command.forced:
                return await cardless.forced_refund(self.till, ctx, flow)
            if command.force_sbp is True and command.manual is None:
                return await self.sbp.refund(ctx, flow)
            if command.rrn:
                await cardless.claim_purchase(self.till, flow)
        if command.manual is not None:
            return await cardless.manual_entry(self.till, ctx, flow)
        return await self.card.run(ctx, flow)
