# Strategy: the end-of-day commands of the ECR manual: «Отчет» (report),
# «Сверка итогов» (settlement), «Очистка журнала» (clear) — by the
# administrator password, not the token (manual: «Отчеты и транзакции с
# вводом данных карты вручную») — and «Проверка связи с сервером авторизации»
# (testconnection), «Загрузка рабочих ключей» (loadworkkeys) by the token.
# All but testconnection are device operations (exclusive,
# docs/protocol-decisions.md). The work is in cardcore.endofday, loaded on
# first use.
from __future__ import annotations

from typing import TYPE_CHECKING

from cardcore.connection import Answer, Command, CommandContext
from cardcore.protocol.messages import Clear, Report, Settlement, TokenCommand, parse_params
from cardcore.terminal import Terminal

if TYPE_CHECKING:
    from cardcore.endofday.service import EndOfDay

__all__ = ["commands"]


def commands(terminal: Terminal) -> dict[str, Command]:
    auth = terminal.auth
    service: EndOfDay | None = None

    def eod() -> EndOfDay:
        nonlocal service
        if service is None:
            from cardcore.endofday.service import EndOfDay

            service = EndOfDay(terminal)
        return service

    async def report(ctx: CommandContext) -> Answer:
        params = parse_params(ctx.message, Report)
        await auth.check_password(params.password)
        return await eod().report(full=params.report_type == "full")

    async def settlement(ctx: CommandContext) -> Answer:
        params = parse_params(ctx.message, Settlement)
        await auth.check_password(params.password)
        from cardcore.endofday.service import Progress

        # A batch upload can take a while: the keepalives say how far it is.
        progress = Progress()
        ctx.start_keepalive(body=progress.keepalive_body)
        return await eod().settle(force=params.forced, progress=progress)

    async def clear(ctx: CommandContext) -> Answer:
        params = parse_params(ctx.message, Clear)
        await auth.check_password(params.password)
        return await eod().clear()

    async def testconnection(ctx: CommandContext) -> Answer:
        auth.authorize(ctx.message)
        parse_params(ctx.message, TokenCommand)
        return await eod().test_connection()

    async def loadworkkeys(ctx: CommandContext) -> Answer:
        auth.authorize(ctx.message)
        parse_params(ctx.message, TokenCommand)
        return await eod().load_work_keys()

    return {
        "report": Command(report, exclusive=True),
        "settlement": Command(settlement, exclusive=True),
        "clear": Command(clear, exclusive=True),
        "testconnection": Command(testconnection),
        "loadworkkeys": Command(loadworkkeys, exclusive=True),
    }
