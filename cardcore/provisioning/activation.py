# Strategy: terminal activation, manual «Инициализация терминала» (runreset on
# the ECR port, reset on the activator port), issue 8 and
# docs/architecture.md (the activator listener exists only during runreset).
# - runreset keeps the 4433 channel alive with <keepalive> carrying
#   reset-connected-indicator (0 until the activator connects, then 1); the
#   first one goes out at once, because the activator of the public management
#   server connects to 4434 only after it has seen it (ru.shtrih.kds
#   tools/Reset.java, sendRunReset/doReset). A non-ok answer cancels.
# - The activator listener accepts one activator; its <reset> starts the work
#   on a fresh staged generation: a new device master key, then for the
#   configuration, key-loader and acquirer servers an RSA-2048 key and a
#   sign*certificate message (device-identifier, sn, key as PEM SPKI), each
#   answer checked (status ok, cert carries our key and is signed by its CA);
#   then queryconfigcredentials, whose confdata/cert signature is checked with
#   the vendor key. Only then is <reset> answered ok, the generation published
#   and runreset answered with status, sn and the key-loader certificate (HEX
#   of PEM, as the public activator stores it for the key server).
# - Any failure (bad answer, timeout, disconnect, keepalive cancel) discards
#   the staged generation: the live one, and so the data dir, is untouched.
#   A failure of the work of <reset> (no vendor key configured, a certificate
#   or the confdata signature that does not verify) is logged with its reason
#   and goes to the activator in the error-stack of both answers.
# - Packets on both activation channels are padded so the activator's signed
#   length bytes stay below 0x80 and under 8096 bytes (Utils.nsRead there).
from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from base.errors import CardcoreError
from cardcore.errors import OperationCancelled
from cardcore.protocol.framing import (
    ACTIVATOR_MAX_PACKET,
    FrameDecoder,
    FramingError,
    encode_frame_signed_safe,
)
from cardcore.protocol.status import status_of
from cardcore.protocol.xmlcodec import (
    Body,
    Message,
    XmlError,
    decode_message,
    encode_error_stack,
    encode_message,
)
from cardcore.provisioning import pki
from cardcore.provisioning.credentials import ROLES, TMS_ROOT_FILE, identity
from cardcore.provisioning.errors import (
    ProvisioningError,
    ProvisioningFormatError,
    ProvisioningLinkError,
    ProvisioningTimeout,
    VerificationFailed,
)
from cardcore.server import open_listeners
from cardcore.storage import atomic_write, ensure_private_dir
from cardcore.terminal import Terminal

__all__ = ["SIGN_MESSAGES", "ActivatorChannel", "run_activation"]

log = logging.getLogger(__name__)

SIGN_MESSAGES = {
    "config": "signconfigclientcertificate",
    "keyloader": "signkeyloaderclientcertificate",
    "acquirer": "signacquirerclientcertificate",
}


class ActivatorChannel:
    """The activator connection: framed XML with signed-length-safe packets."""

    def __init__(self, stream: trio.abc.Stream, answer_timeout: float) -> None:
        self.stream = stream
        self.answer_timeout = answer_timeout
        self._decoder = FrameDecoder(64 * 1024)
        self._ready: list[bytes] = []

    async def send(self, message: Message) -> None:
        try:
            frame = encode_frame_signed_safe(encode_message(message), ACTIVATOR_MAX_PACKET)
        except FramingError as exc:
            raise ProvisioningFormatError(exc.message) from None
        try:
            await self.stream.send_all(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ProvisioningLinkError("activator disconnected") from None

    async def receive(self, timeout: float | None = None) -> Message:
        with trio.move_on_after(self.answer_timeout if timeout is None else timeout) as scope:
            while not self._ready:
                try:
                    data = await self.stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    raise ProvisioningLinkError("activator disconnected")
                try:
                    self._ready.extend(self._decoder.feed(data))
                except FramingError as exc:
                    raise ProvisioningFormatError(f"activator: {exc.message}") from None
        if scope.cancelled_caught:
            raise ProvisioningTimeout("the activator did not answer in time")
        try:
            return decode_message(self._ready.pop(0))
        except XmlError as exc:
            raise ProvisioningFormatError(f"activator: {exc.message}") from None

    async def ask(self, name: str, body: Body) -> Message:
        await self.send(Message(name, body))
        answer = await self.receive()
        if answer.name != name:
            raise ProvisioningFormatError(f"activator answered <{answer.name}> to <{name}>")
        if answer.status != "ok":
            raise ProvisioningError(f"activator refused <{name}>: {answer.status}")
        return answer


def _hex_field(body: Any, path: tuple[str, ...], what: str) -> bytes:
    node = body
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise ProvisioningFormatError(f"{what}: missing <{'/'.join(path)}>")
        node = node[key]
    if not isinstance(node, str):
        raise ProvisioningFormatError(f"{what}: <{'/'.join(path)}> is not text")
    try:
        value = bytes.fromhex(node.strip())
    except ValueError:
        raise ProvisioningFormatError(f"{what}: <{'/'.join(path)}> is not hex") from None
    if not value:
        raise ProvisioningFormatError(f"{what}: <{'/'.join(path)}> is empty")
    return value


def _vendor_key(terminal: Terminal) -> rsa.RSAPublicKey:
    cfg = terminal.config.provisioning
    if cfg.vendor_key_file:
        try:
            return pki.load_vendor_key(Path(cfg.vendor_key_file).read_bytes())
        except OSError as exc:
            raise ProvisioningError(
                f"vendor key file {cfg.vendor_key_file}: {exc.strerror}"
            ) from None
    if not (terminal.simulator or cfg.allow_test_vendor_key):
        raise VerificationFailed(
            "no vendor key configured (provisioning.vendor-key-file); "
            "the bundled test key is for simulator and test deployments only"
        )
    return pki.load_vendor_key()


async def _reset(terminal: Terminal, channel: ActivatorChannel) -> str:
    """The work of <reset>; returns the key-loader certificate PEM."""
    info = terminal.devices.info
    device_id = terminal.device_identifier
    vendor = _vendor_key(terminal)
    with terminal.provisioning.stage(fresh=True) as staging:
        staging.new_device_master_key()
        password = pki.client_key_password(staging.device_master_key())
        certs = {}
        for role in ROLES:
            key = await trio.to_thread.run_sync(pki.generate_client_key)
            name = SIGN_MESSAGES[role]
            answer = await channel.ask(
                name,
                {
                    "device-identifier": device_id,
                    "sn": info.serial_number,
                    "key": pki.public_key_pem(key),
                },
            )
            cert_pem = _hex_field(answer.body, ("signed-cert", "cert"), name)
            ca_pem = _hex_field(answer.body, ("signed-cert", "ca"), name)
            cert, ca = pki.verify_signed_certificate(cert_pem, ca_pem, key, f"{role} client")
            ident = identity(role)
            staging.write(ident.cert_file, pki.certificate_pem(cert))
            staging.write(ident.ca_file, pki.certificate_pem(ca))
            staging.write(ident.key_file, pki.encrypt_private_key(key, password))
            certs[role] = cert
            log.info(
                "activation: %s client certificate accepted (expires %s)",
                role,
                pki.expiry_date(cert),
            )
        answer = await channel.ask("queryconfigcredentials", {})
        what = "queryconfigcredentials"
        root_bytes = _hex_field(answer.body, ("confdata", "cert"), what)
        signature = _hex_field(answer.body, ("confdata", "sign"), what)
        confdata = answer.body.get("confdata")
        url = confdata.get("url") if isinstance(confdata, dict) else None
        if not isinstance(url, str) or not url.strip().startswith("https://"):
            raise ProvisioningFormatError(f"{what}: <confdata/url> must be an https URL")
        pki.verify_confdata(root_bytes, signature, vendor)
        root = pki.load_certificate(root_bytes, "configuration server root certificate")
        staging.write(TMS_ROOT_FILE, pki.certificate_pem(root))
        state = staging.state
        state.activated = True
        state.sn = info.serial_number
        state.tms_url = url.strip().rstrip("/")
        state.activated_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        staging.set_overlay({})
        config = terminal.provisioned_config({})
        # Answer the activator last of all its exchanges, then make it live.
        await channel.send(Message("reset", {"status": "ok"}))
        terminal.publish(staging, config)
        terminal.forget_working_keys()
    keyloader = pki.certificate_pem(certs["keyloader"]).decode("ascii")
    log.info("activation complete: serial %s, configuration server %s", info.serial_number, url)
    return keyloader


async def run_activation(terminal: Terminal, on_connected: Callable[[], None]) -> dict[str, str]:
    """Open the activator port, wait for one activator's <reset>, do the work.
    Returns the body of the runreset answer."""
    server = terminal.config.server
    cfg = terminal.config.provisioning
    listeners = await open_listeners(server.listen, server.activator_port, "activator listener")
    port = listeners[0].socket.getsockname()[1]
    addr_file = terminal.data_dir / "run" / "activator.addr"
    result: dict[str, str] = {}
    log.info("activation: waiting for the activator on port %d", port)
    try:
        ensure_private_dir(addr_file.parent)
        atomic_write(addr_file, f"{listeners[0].socket.getsockname()[0]} {port}\n".encode())
        with trio.fail_after(cfg.activation_timeout):
            stream = await _accept_one(listeners)
    except trio.TooSlowError:
        raise ProvisioningTimeout("no activator connected in time") from None
    finally:
        addr_file.unlink(missing_ok=True)
        with trio.CancelScope(shield=True):
            for listener in listeners:
                await listener.aclose()
    # Port 4434 is closed from here on: one activator per runreset.
    async with stream:
        on_connected()
        channel = ActivatorChannel(stream, cfg.activator_answer_timeout)
        first = await channel.receive(cfg.activation_timeout)
        if first.name != "reset":
            raise ProvisioningFormatError(f"activator sent <{first.name}>, expected <reset>")
        try:
            keyloader_pem = await _reset(terminal, channel)
        except CardcoreError as exc:
            # Why, for whoever reads the log (the ECR answer's status alone
            # does not say): texts of CardcoreError carry no secrets.
            log.warning("activation failed: %s", exc.message)
            await _tell_activator(channel, exc)
            raise
        except trio.Cancelled:
            with trio.CancelScope(shield=True):
                await _tell_activator(channel, OperationCancelled("activation cancelled"))
            raise
    result["sn"] = terminal.devices.info.serial_number
    result["cert"] = keyloader_pem.encode("ascii").hex().upper()
    return result


async def _accept_one(listeners: list[trio.SocketListener]) -> trio.SocketStream:
    accepted: list[trio.SocketStream] = []
    async with trio.open_nursery() as nursery:

        async def accept(listener: trio.SocketListener) -> None:
            stream = await listener.accept()
            if accepted:
                await stream.aclose()
                return
            accepted.append(stream)
            nursery.cancel_scope.cancel()

        for listener in listeners:
            nursery.start_soon(accept, listener)
    return accepted[0]


async def _tell_activator(channel: ActivatorChannel, exc: CardcoreError) -> None:
    """Best effort: answer <reset> with the failure before closing."""
    with trio.move_on_after(2):
        with contextlib.suppress(CardcoreError):
            await channel.send(
                Message(
                    "reset",
                    {"status": status_of(exc), "error-stack": encode_error_stack([exc.message])},
                )
            )
