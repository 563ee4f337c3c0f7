# Strategy: remote management by the configuration server, as the public
# management server this application works with defines it (Java package
# ru.shtrih.kds, controller/ConfController.java, "terminal messages"):
# - every `provisioning.poll-interval` seconds the terminal POSTs
#     <tm><sn/><ts>yyyyMMddHHmmss</ts><state>ok|busy</state>[<rsp>..</rsp>]</tm>
#   to {tms}/message over the same mutual TLS as updateconfiguration;
# - the server answers <tm/>, or <tm><cmd>CODE</cmd><id>ID</id></tm> (the
#   <cmd><code>CODE</code></cmd> form of its older endpoint is read too);
# - the terminal runs the command and reports in its next poll, which goes at
#   once: <rsp><id>ID</id><status>STATUS</status><payload>..</payload></rsp>,
#   STATUS one of the manual's Appendix A codes.
# Commands: `info` (getparameters' fields), `getlog` (the recent log lines,
# masked like the log: cardcore.logs.RECENT), `update` (updateconfiguration),
# `loadkeys` (loadmasterkeys), `updatesoftware` (the configured
# software-update command, with the server's <appmap> on its standard input;
# none configured: notimplemented). `update`, `loadkeys` and `updatesoftware`
# are device operations: they take the device lock the ECR commands take, so
# a remote update waits for a transaction to end and a transaction started
# meanwhile is answered "terminal busy".
# One task in the application's root nursery (cardcore/app.py) runs the
# loop; a failed poll is logged and the next one comes on time.
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import trio

from base.errors import CardcoreError
from cardcore.logs import RECENT, LogRing
from cardcore.protocol.status import status_of
from cardcore.protocol.xmlcodec import Body, XmlError, decode_message, encode_body
from cardcore.provisioning.credentials import TMS_ROOT_FILE, client_ssl_context
from cardcore.provisioning.errors import ProvisioningFormatError
from cardcore.terminal import Terminal

__all__ = ["Command", "RemoteManagement", "Result"]

log = logging.getLogger(__name__)

# Lines of the log a `getlog` result carries at most (the newest).
GETLOG_LINES = 200
# Seconds a software-update command may run.
SOFTWARE_UPDATE_TIMEOUT = 600.0
# Seconds between looks at a poll interval of 0 (off), in case an update turns it on.
IDLE_LOOK = 60.0


@dataclass(frozen=True)
class Command:
    """A command from the server: its code, its id, and what came with it."""

    code: str
    id: str
    extra: Body = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    id: str
    status: str
    payload: Body = field(default_factory=dict)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_answer(data: bytes) -> Command | None:
    """The command in the server's answer to a poll, None for `<tm/>`."""
    try:
        message = decode_message(data)
    except XmlError as exc:
        raise ProvisioningFormatError(f"remote management: {exc.message}") from None
    if message.name != "tm":
        raise ProvisioningFormatError(f"remote management: answer <{message.name}>, not <tm>")
    body = message.body
    cmd = body.get("cmd")
    code = _text(cmd.get("code")) if isinstance(cmd, dict) else _text(cmd)
    if not code:
        return None
    ident = _text(body.get("id")) or (_text(cmd.get("id")) if isinstance(cmd, dict) else "")
    if not ident:
        raise ProvisioningFormatError(f"remote management: command {code} without an id")
    extra = {k: v for k, v in body.items() if k not in ("cmd", "id")}
    return Command(code, ident, extra)


class RemoteManagement:
    def __init__(self, terminal: Terminal, device_lock: trio.Lock, ring: LogRing = RECENT) -> None:
        self.terminal = terminal
        self.device_lock = device_lock
        self.ring = ring
        self.result: Result | None = None  # to report with the next poll
        self.polls = 0

    # --- the loop -----------------------------------------------------------------
    def _enabled(self) -> bool:
        state = self.terminal.generation.state
        interval = self.terminal.config.provisioning.poll_interval
        return interval > 0 and state.activated and bool(state.tms_url and state.sn)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await self.terminal.ready.wait()
        failing = False
        while True:
            interval = self.terminal.config.provisioning.poll_interval
            if self.result is None or failing:
                await trio.sleep(interval if interval > 0 else IDLE_LOOK)
            if not self._enabled():
                continue
            try:
                command = await self.poll()
            except CardcoreError as exc:
                if not failing:  # once per outage, not once per poll
                    log.warning("remote management: poll failed: %s", exc.message)
                failing = True
                continue
            except Exception:
                # A defect here must not stop the terminal selling: say it, poll on.
                log.exception("remote management: poll failed unexpectedly")
                failing = True
                continue
            if failing:
                log.info("remote management: the configuration server answers again")
            failing = False
            if command is not None:
                self.result = await self.execute(command)

    async def poll(self) -> Command | None:
        """One poll: this terminal's state and the last result, the server's
        next command back."""
        terminal = self.terminal
        generation = terminal.generation
        state = generation.state
        body: Body = {
            "sn": state.sn or "",
            "ts": dt.datetime.now().strftime("%Y%m%d%H%M%S"),
            "state": "busy" if self.device_lock.locked() else "ok",
        }
        result = self.result
        if result is not None:
            body["rsp"] = {"id": result.id, "status": result.status, "payload": result.payload}
        cfg = terminal.config.provisioning
        context = client_ssl_context(generation, "config", TMS_ROOT_FILE)
        import httpx  # the HTTP stack loads with the first poll: start-up stays fast

        from cardcore.provisioning.tms import fetch

        async with httpx.AsyncClient(verify=context, timeout=cfg.http_timeout) as client:
            answer = await fetch(
                client, f"{state.tms_url}/message", cfg.max_document, body=encode_body("tm", body)
            )
        self.polls += 1
        if result is not None:
            log.info("remote management: %s result %s reported", result.id, result.status)
            self.result = None
        command = parse_answer(answer)
        if command is not None:
            log.info("remote management: command %s (%s)", command.code, command.id)
        return command

    # --- the commands -----------------------------------------------------------------
    async def execute(self, command: Command) -> Result:
        runner = {
            "info": self._info,
            "getlog": self._getlog,
            "update": self._update,
            "loadkeys": self._loadkeys,
            "updatesoftware": self._update_software,
        }.get(command.code)
        if runner is None:
            unknown = f"unknown command {command.code}"
            return Result(command.id, "notimplemented", {"message": unknown})
        try:
            status, payload = await runner(command)
        except CardcoreError as exc:
            log.warning("remote management: %s failed: %s", command.code, exc.message)
            return Result(command.id, status_of(exc), {"message": exc.message})
        except Exception:
            log.exception("remote management: %s failed unexpectedly", command.code)
            return Result(command.id, "systemerror", {"message": "internal error; see the log"})
        log.info("remote management: %s: %s", command.code, status)
        return Result(command.id, status, payload)

    async def _info(self, command: Command) -> tuple[str, Body]:
        from cardcore.commands.admin import parameters

        await trio.lowlevel.checkpoint()
        return "ok", {"parameters": parameters(self.terminal)}

    async def _getlog(self, command: Command) -> tuple[str, Body]:
        await trio.lowlevel.checkpoint()
        return "ok", {"log": {"line": self.ring.lines()[-GETLOG_LINES:]}}

    async def _update(self, command: Command) -> tuple[str, Body]:
        from cardcore.provisioning import tms

        async with self.device_lock:
            result = await tms.update_configuration(self.terminal)
        return "ok", {"changed": {"part": result.changed}}

    async def _loadkeys(self, command: Command) -> tuple[str, Body]:
        from cardcore.provisioning import keyload

        async with self.device_lock:
            load = await keyload.load_master_keys(self.terminal)
        if load.failures:
            return load.status, {"receipt": load.receipt, "message": "; ".join(load.failures)}
        return "ok", {"receipt": load.receipt}

    async def _update_software(self, command: Command) -> tuple[str, Body]:
        argv = self.terminal.config.provisioning.software_update_command
        if not argv:
            return "notimplemented", {
                "message": "software updates are not this application's: no"
                " provisioning.software-update-command is configured"
            }
        appmap = command.extra.get("appmap")
        stdin = encode_body("appmap", appmap if isinstance(appmap, dict) else {})
        async with self.device_lock:
            try:
                with trio.fail_after(SOFTWARE_UPDATE_TIMEOUT):
                    done = await trio.run_process(
                        argv, stdin=stdin, capture_stdout=True, capture_stderr=True, check=False
                    )
            except OSError as exc:
                return "failed", {"message": f"software update: {exc.strerror or exc}"}
            except trio.TooSlowError:
                return "timeout", {"message": "software update did not end in time"}
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip()[-500:]
            return "failed", {"message": f"software update exited {done.returncode}: {tail}"}
        return "ok", {}
