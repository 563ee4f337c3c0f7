# Strategy: the cash register's side of the ECR protocol, for scripts, tests and
# cash-register developers. It follows the manual's sequence («Протокол обмена
# данными»): connect, send a command, answer every message the terminal sends
# (keepalive ok; unknown messages notimplemented), receive the answer. The
# secure channel («Шифрование команд») is optional per command: after a login
# with a client-handshake, `secure=True` seals the command, and the answer and
# messages come back sealed with the same key.
# `EcrClient` is the trio API; `BlockingEcrClient` runs each call in its own
# trio loop for plain scripts.
from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric import ec

from base.errors import CardcoreError
from cardcore.protocol.framing import FrameDecoder, encode_frame
from cardcore.protocol.secure import (
    ENCRYPTED,
    client_handshake,
    decode_packet,
    derive_key,
    open_message,
    parse_server_handshake,
    seal_message,
)
from cardcore.protocol.xmlcodec import Body, Message, encode_message

__all__ = [
    "BlockingEcrClient",
    "ClientError",
    "ConnectError",
    "EcrClient",
    "EcrConnection",
    "MessageHandler",
    "default_message_answer",
]

MessageHandler = Callable[[Message], "Body | Awaitable[Body]"]
# Called with (bytes received, packet length) while a large packet arrives.
ProgressHandler = Callable[[int, int], None]
PROGRESS_FROM = 1 << 20  # smaller packets arrive too fast to be worth a progress line
CLIENT_MAX_PACKET = 256 * 1024 * 1024  # answers (full reports) may be large


class ClientError(CardcoreError):
    """The terminal could not be reached or broke the protocol."""


class ConnectError(ClientError):
    """No connection to the terminal could be opened (nothing was sent)."""


def default_message_answer(message: Message) -> Body:
    """Answers a correct cash register gives when it has nothing better to say."""
    if message.name in ("keepalive", "display", "displayqrcode", "dex"):
        return {"status": "ok"}
    if message.name == "smartcard":
        return {"command": "next"}  # manual: unknown terminal commands are answered `next`
    return {"status": "notimplemented"}


@dataclass
class Session:
    """What a login leaves for later commands: the token and the channel key."""

    token: str | None = None
    key: bytes | None = None


class EcrConnection:
    """One TCP connection; several commands may run on it one after another."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        session: Session,
        on_message: MessageHandler,
        timeout: float,
        on_progress: ProgressHandler | None = None,
    ) -> None:
        self._stream = stream
        self._session = session
        self._on_message = on_message
        self._timeout = timeout
        self._on_progress = on_progress
        self._decoder = FrameDecoder(CLIENT_MAX_PACKET)
        self._ready: list[bytes] = []

    async def aclose(self) -> None:
        """Close the connection: the terminal frees its slot at once."""
        await self._stream.aclose()

    async def send_raw(self, payload: bytes) -> None:
        await self._stream.send_all(encode_frame(payload, max_packet=CLIENT_MAX_PACKET))

    async def _send(self, message: Message, key: bytes | None) -> None:
        if key is not None:
            message = seal_message(message, key)
        await self.send_raw(encode_message(message))

    async def receive(self) -> Message:
        while not self._ready:
            with trio.move_on_after(self._timeout) as scope:
                data = await self._stream.receive_some(65536)
            if scope.cancelled_caught:
                raise ClientError(f"no packet from the terminal within {self._timeout:g} s")
            if not data:
                raise ClientError("the terminal closed the connection")
            self._ready.extend(self._decoder.feed(data))
            expected = self._decoder.expected
            if self._on_progress is not None and expected and expected >= PROGRESS_FROM:
                self._on_progress(self._decoder.pending, expected)
        return decode_packet(self._ready.pop(0))

    async def command(
        self,
        name: str,
        params: Body | None = None,
        attrs: dict[str, str] | None = None,
        *,
        secure: bool = False,
    ) -> Message:
        key = self._session.key if secure else None
        if secure and key is None:
            raise ClientError("no secure channel: log in with secure=True first")
        await self._send(Message(name, dict(params or {}), dict(attrs or {})), key)
        return await self.answer_for(name, key)

    async def answer_for(self, name: str, key: bytes | None) -> Message:
        """Serve messages until the answer to command ``name`` arrives."""
        while True:
            packet = await self.receive()
            if key is not None and ENCRYPTED in packet.body:
                packet = open_message(packet, key)
            if packet.name in (name, "error"):
                return packet
            reply = self._on_message(packet)
            if inspect.isawaitable(reply):
                reply = await reply
            await self._send(Message(packet.name, dict(reply)), key)


class EcrClient:
    """Talks to `cardcore serve`; by default one connection per command."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4433,
        *,
        on_message: MessageHandler = default_message_answer,
        timeout: float = 120.0,
        session: Session | None = None,
        on_progress: ProgressHandler | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.on_message = on_message
        self.timeout = timeout
        self.session = session or Session()
        self.on_progress = on_progress

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[EcrConnection]:
        try:
            stream = await trio.open_tcp_stream(self.host, self.port)
        except OSError as exc:
            raise ConnectError(
                f"cannot connect to {self.host}:{self.port}: {_connect_failure(exc)}"
            ) from None
        async with stream:
            yield EcrConnection(
                stream, self.session, self.on_message, self.timeout, self.on_progress
            )

    async def command(
        self,
        name: str,
        params: Body | None = None,
        attrs: dict[str, str] | None = None,
        *,
        secure: bool = False,
    ) -> Message:
        try:
            async with self.connect() as conn:
                return await conn.command(name, params, attrs, secure=secure)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise ClientError(f"connection to the terminal failed: {exc}") from None

    async def login(self, password: str, *, secure: bool = False) -> Message:
        if not secure:
            answer = await self.command("login", {"password": password})
        else:
            own = ec.generate_private_key(ec.SECP256R1())
            attrs = {"client-handshake": client_handshake(own.public_key())}
            async with self.connect() as conn:
                await conn.send_raw(encode_message(Message("login", {"password": password}, attrs)))
                answer = await conn.receive()
            handshake = answer.attrs.get("server-handshake")
            if handshake is not None:
                key = derive_key(own, parse_server_handshake(handshake))
                answer = open_message(answer, key)
                self.session.key = key
        token = answer.body.get("token")
        if answer.status == "ok" and isinstance(token, str):
            self.session.token = token
        return answer

    def _token(self, token: str | None) -> str:
        token = token or self.session.token
        if token is None:
            raise ClientError("not logged in: no token")
        return token

    async def logout(self, token: str | None = None, *, secure: bool = False) -> Message:
        answer = await self.command("logout", {"token": self._token(token)}, secure=secure)
        if answer.status == "ok":
            self.session = Session()
        return answer

    async def getparameters(self, token: str | None = None, *, secure: bool = False) -> Message:
        return await self.command("getparameters", {"token": self._token(token)}, secure=secure)

    async def changepassword(
        self, password: str, newpassword: str, token: str | None = None, *, secure: bool = False
    ) -> Message:
        params = {"token": self._token(token), "password": password, "newpassword": newpassword}
        return await self.command("changepassword", params, secure=secure)

    async def resetpassword(self) -> Message:
        return await self.command("resetpassword")


def _connect_failure(exc: OSError) -> str:
    """Why a connection failed: trio reports every address it tried in an
    exception group under a summary; the reasons are in the group."""
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup):
        reasons = {
            os.strerror(e.errno) if e.errno else str(e)
            for e in cause.exceptions
            if isinstance(e, OSError)
        }
        if reasons:
            return "; ".join(sorted(reasons))
    return exc.strerror or str(exc)


class BlockingEcrClient:
    """The same API for plain scripts: each call runs in its own trio loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4433, **kwargs: Any) -> None:
        self._client = EcrClient(host, port, **kwargs)

    @property
    def session(self) -> Session:
        return self._client.session

    def _run(self, fn: Callable[..., Awaitable[Message]], *args: Any, **kwargs: Any) -> Message:
        async def call() -> Message:
            return await fn(*args, **kwargs)

        return trio.run(call)

    def command(
        self,
        name: str,
        params: Body | None = None,
        attrs: dict[str, str] | None = None,
        *,
        secure: bool = False,
    ) -> Message:
        return self._run(self._client.command, name, params, attrs, secure=secure)

    def login(self, password: str, *, secure: bool = False) -> Message:
        return self._run(self._client.login, password, secure=secure)

    def logout(self, *, secure: bool = False) -> Message:
        return self._run(self._client.logout, secure=secure)

    def getparameters(self, *, secure: bool = False) -> Message:
        return self._run(self._client.getparameters, secure=secure)

    def changepassword(self, password: str, newpassword: str, *, secure: bool = False) -> Message:
        return self._run(self._client.changepassword, password, newpassword, secure=secure)

    def resetpassword(self) -> Message:
        return self._run(self._client.resetpassword)
