# Strategy: the provisioning commands of the ECR manual: «Инициализация
# терминала» (runreset), «Проверка и загрузка обновлений конфигурации с
# сервера конфигураций» (updateconfiguration) and «Загрузка мастер ключей»
# (loadmasterkeys). All three are device operations (exclusive) and need the
# admin token; runreset alone is accepted without one while the terminal has
# never been activated (docs/protocol-decisions.md). The work lives in
# cardcore.provisioning; these handlers check access and shape the answers.
from __future__ import annotations

from cardcore.connection import Answer, Command, CommandContext
from cardcore.protocol.messages import RunReset, TokenCommand, parse_params
from cardcore.protocol.xmlcodec import encode_error_stack
from cardcore.terminal import Terminal

__all__ = ["commands"]


def commands(terminal: Terminal) -> dict[str, Command]:
    auth = terminal.auth

    async def runreset(ctx: CommandContext) -> Answer:
        if terminal.activated or ctx.message.params().get("token") is not None:
            auth.authorize(ctx.message)
        parse_params(ctx.message, RunReset)
        # The activator of a real management server sends runreset itself and
        # reads lengths as signed bytes.
        ctx.signed_length_peer = True
        connected = False

        def indicator() -> dict[str, str]:
            return {"reset-connected-indicator": "1" if connected else "0"}

        def on_connected() -> None:
            nonlocal connected
            connected = True

        from cardcore.provisioning import activation  # loaded on first use: start-up stays fast

        ctx.start_keepalive(body=indicator, first_after=0)
        result = await activation.run_activation(terminal, on_connected)
        return Answer(result)

    async def updateconfiguration(ctx: CommandContext) -> Answer:
        auth.authorize(ctx.message)
        parse_params(ctx.message, TokenCommand)
        from cardcore.provisioning import tms

        await tms.update_configuration(terminal)
        return Answer()

    async def loadmasterkeys(ctx: CommandContext) -> Answer:
        auth.authorize(ctx.message)
        parse_params(ctx.message, TokenCommand)
        from cardcore.provisioning import keyload

        load = await keyload.load_master_keys(terminal)
        if not load.failures:
            return Answer({"receipt": load.receipt})
        # Some keys failed: the receipt says which, each with its result.
        return Answer(
            {
                "status": load.status,
                "receipt": load.receipt,
                "error-stack": encode_error_stack(load.failures),
            }
        )

    return {
        "runreset": Command(runreset, exclusive=True),
        "updateconfiguration": Command(updateconfiguration, exclusive=True),
        "loadmasterkeys": Command(loadmasterkeys, exclusive=True),
    }
