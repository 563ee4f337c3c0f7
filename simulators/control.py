# Strategy: the simulator control socket (docs/conventions.md, the command
# line: `cardcore sim present|remove|host|sbp ... --data-dir DIR`). A running
# `cardcore serve --simulator` listens on a Unix socket in <data-dir>/run; each
# connection carries one JSON request line and gets one JSON answer line, so
# scripts and tests outside the repository can drive scenarios with nothing
# but the CLI. Handlers are registered by the simulated parts themselves.
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import trio

from base.errors import CardcoreError

__all__ = ["ControlError", "ControlRefused", "SimControlServer", "control_path", "send_control"]

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
MAX_REQUEST = 64 * 1024


class ControlError(CardcoreError):
    """Simulator control request failed."""


class ControlRefused(ControlError):
    """The simulator answered, and refused the request."""


def control_path(data_dir: Path) -> Path:
    return data_dir / "run" / "sim.sock"


class SimControlServer:
    def __init__(self, path: Path, handlers: Mapping[str, Handler]) -> None:
        self.path = path
        self.handlers = dict(handlers)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.path.unlink(missing_ok=True)
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(os.fspath(self.path))
        os.chmod(self.path, 0o600)
        sock.listen(16)
        listener = trio.SocketListener(sock)
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                async with listener:
                    while True:
                        stream = await listener.accept()
                        nursery.start_soon(self._serve_one, stream)
        finally:
            self.path.unlink(missing_ok=True)

    async def _serve_one(self, stream: trio.SocketStream) -> None:
        async with stream:
            try:
                with trio.fail_after(10):
                    request = await _read_line(stream)
                    answer = await self._dispatch(request)
            except (ControlError, ValueError) as exc:
                answer = {"ok": False, "error": str(exc)}
            except trio.TooSlowError:
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(json.dumps(answer).encode() + b"\n")

    async def _dispatch(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            raise ControlError("request must be a JSON object with a 'command'")
        handler = self.handlers.get(request["command"])
        if handler is None:
            raise ControlError(f"unknown simulator command '{request['command']}'")
        try:
            result = await handler(request)
        except CardcoreError as exc:
            raise ControlError(exc.message) from None
        log.info("simulator control: %s", json.dumps(_shown(request), ensure_ascii=False))
        return {"ok": True, **result}


def _shown(request: dict[str, Any]) -> dict[str, Any]:
    """The request as the log shows it: the key server's keys (`tms keys
    TYPE=HEX`) by their type only, as no key goes into a log."""
    if request.get("command") != "tms" or request.get("action") != "keys":
        return request
    args = [str(a) for a in request.get("args") or []]
    shown = [a if a.startswith("bad-kcv=") else a.partition("=")[0] + "=(key)" for a in args]
    return {**request, "args": shown}


async def _read_line(stream: trio.abc.ReceiveStream) -> Any:
    buffer = b""
    while b"\n" not in buffer:
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        buffer += chunk
        if len(buffer) > MAX_REQUEST:
            raise ControlError("request too long")
    return json.loads(buffer.split(b"\n", 1)[0] or b"null")


def send_control(data_dir: Path, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Blocking client for the CLI: one request, one answer."""
    path = control_path(data_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(
                f"no simulator is running with data dir {data_dir} "
                f"(start `cardcore serve --simulator --data-dir {data_dir}`)"
            ) from None
        except OSError as exc:
            raise ControlError(f"cannot reach the simulator at {path}: {exc.strerror}") from None
        data = b""
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:  # a timeout included
            raise ControlError(f"the simulator did not answer: {exc.strerror or exc}") from None
    try:
        answer: dict[str, Any] = json.loads(data)
    except ValueError:
        raise ControlError("the simulator gave no answer") from None
    if not answer.get("ok"):
        raise ControlRefused(str(answer.get("error", "request failed")))
    return answer
