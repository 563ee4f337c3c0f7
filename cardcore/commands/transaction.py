# Strategy: the ECR `transaction` command (manual «Транзакция») as a device
# operation: exclusive (a second one is answered `failed` / "terminal busy"),
# run by the transaction engine.
from __future__ import annotations

from cardcore.engine.engine import TransactionEngine
from cardcore.server import Answer, Command, CommandContext
from cardcore.terminal import Terminal

__all__ = ["commands"]


def commands(terminal: Terminal) -> dict[str, Command]:
    engine = TransactionEngine(terminal)

    async def transaction(ctx: CommandContext) -> Answer:
        return await engine.transaction(ctx)

    return {"transaction": Command(transaction, exclusive=True)}
