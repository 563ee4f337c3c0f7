# Strategy: the ECR `transaction` command (manual «Транзакция») as a device
# operation: exclusive (a second one is answered `failed` / "terminal busy"),
# run by the transaction engine. While a settlement's outcome at the host is
# unknown (cardcore.endofday.states: reconciling) the batch is frozen and
# transactions are refused until settlement is run again.
from __future__ import annotations

from typing import TYPE_CHECKING

from cardcore.connection import Answer, Command, CommandContext
from cardcore.terminal import Terminal

if TYPE_CHECKING:
    from cardcore.engine.engine import TransactionEngine

__all__ = ["commands"]


def commands(terminal: Terminal) -> dict[str, Command]:
    engine: TransactionEngine | None = None

    async def transaction(ctx: CommandContext) -> Answer:
        nonlocal engine
        from cardcore.endofday.service import check_no_unfinished_settlement

        await check_no_unfinished_settlement(terminal.journal)
        if engine is None:  # the EMV kernel and the host link load on first use
            from cardcore.engine.engine import TransactionEngine

            engine = TransactionEngine(terminal)
        return await engine.transaction(ctx)

    return {"transaction": Command(transaction, exclusive=True)}
