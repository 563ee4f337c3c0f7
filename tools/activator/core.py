# Strategy: the factory side of activation (manual «Инициализация терминала»,
# issue 8), modelled on the activator of the public management server
# (ru.shtrih.kds tools/Reset.java, Utils.nsRead/nsWrite) so the terminal is
# tested against the same behaviour:
# - connect to the ECR port and send <runreset> (an XML declaration first, as
#   the real activator does; with a token when the terminal is activated);
# - answer every <keepalive> ok; on the first one, connect to the activator
#   port and send <reset/>;
# - answer signconfigclientcertificate / signkeyloaderclientcertificate /
#   signacquirerclientcertificate with a certificate issued by the matching
#   CA of its TEST PKI for the terminal's key (cert and ca as HEX of PEM);
# - answer queryconfigcredentials with confdata: the configuration server's
#   root certificate (HEX), its vendor signature (RSA PKCS#1 v1.5 SHA-256,
#   HEX) and the configuration server URL;
# - read the answer to <reset>, then the answer to <runreset> (sn, cert);
#   a step that failed brings the terminal's error-stack, which is kept
#   (`ActivationResult.errors`) for people to read why.
# Packet lengths are read as signed bytes and packets over 8096 bytes refused,
# exactly like the real activator, so padding mistakes show up in tests.
# `Faults` injects the failures the terminal must survive.
from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cardcore.protocol.xmlcodec import (
    Message,
    decode_error_stack,
    decode_message,
    encode_message,
)
from simulators.tms.testpki import TestPki

__all__ = [
    "TEST_VENDOR_KEY",
    "ActivationResult",
    "ActivatorError",
    "Faults",
    "activate",
    "sign_confdata",
]

log = logging.getLogger(__name__)

# TEST ONLY: the private half of the bundled test vendor key
# (cardcore/provisioning/vendor-test-public.pem). Never a production key.
TEST_VENDOR_KEY = Path(__file__).with_name("TEST-ONLY-vendor-private.pem")
MAX_PACKET = 8096
RESET_ANSWER_GRACE = 5.0  # seconds to read <reset>'s answer once runreset's came
ROLE_OF = {
    "signconfigclientcertificate": "config",
    "signkeyloaderclientcertificate": "keyloader",
    "signacquirerclientcertificate": "acquirer",
}


class ActivatorError(Exception):
    pass


class _Closed(ActivatorError):
    """The terminal closed the connection."""


@dataclass
class Faults:
    """Failures to inject (tests): sign a different key than the terminal's,
    corrupt the confdata signature, or hang up after a given message."""

    wrong_key_for: str | None = None  # "config" | "keyloader" | "acquirer"
    bad_signature: bool = False
    disconnect_after: str | None = None  # a message name, e.g. "signkeyloaderclientcertificate"
    keepalive_status: str = "ok"


@dataclass
class ActivationResult:
    status: str
    sn: str | None = None
    cert_pem: str | None = None
    reset_status: str | None = None
    keepalive_indicators: list[str] = field(default_factory=list)
    max_length_byte: int = 0
    # The texts of the terminal's error-stack per answer that had one
    # ("reset", "runreset"), in the order they came.
    errors: dict[str, list[str]] = field(default_factory=dict)

    def keep_errors(self, message: Message) -> None:
        texts = decode_error_stack(message.body.get("error-stack"))
        if texts:
            self.errors[message.name] = texts


def sign_confdata(cert_bytes: bytes, vendor_key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(vendor_key_pem, None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ActivatorError("vendor key is not an RSA private key")
    return key.sign(cert_bytes, padding.PKCS1v15(), hashes.SHA256())


class _Peer:
    """Length-prefixed XML with the real activator's signed length reading."""

    def __init__(self, stream: trio.SocketStream, result: ActivationResult) -> None:
        self.stream = stream
        self.buffer = b""
        self.result = result

    async def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise _Closed("terminal closed the connection")
            self.buffer += chunk

    async def read(self) -> Message:
        await self._fill(4)
        raw = self.buffer[:4]
        self.result.max_length_byte = max(self.result.max_length_byte, *raw)
        signed = struct.unpack(">4b", raw)
        size = signed[0] * 0x1000000 + signed[1] * 0x10000 + signed[2] * 0x100 + signed[3]
        if size > MAX_PACKET or size < 1:
            raise ActivatorError(f"invalid data size {size}")
        await self._fill(4 + size)
        body, self.buffer = self.buffer[4 : 4 + size], self.buffer[4 + size :]
        return decode_message(body)

    async def write(self, message: Message, declaration: bool = True) -> None:
        xml = encode_message(message)
        if declaration:
            xml = b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>' + xml
        await self.stream.send_all(struct.pack(">I", len(xml)) + xml)


async def _reset_exchange(
    host: str,
    activator_port: int | Callable[[], int],
    pki: TestPki,
    confdata: dict[str, str],
    faults: Faults,
    result: ActivationResult,
) -> None:
    try:
        port = activator_port if isinstance(activator_port, int) else activator_port()
        stream = await trio.open_tcp_stream(host, port)
    except (OSError, ValueError, IndexError) as exc:
        # The terminal's answer to runreset on the ECR port tells the outcome.
        result.reset_status = f"not connected: {exc}"
        return
    async with stream:
        peer = _Peer(stream, result)
        await peer.write(Message("reset"))
        while True:
            try:
                message = await peer.read()
            except _Closed:
                # The terminal's answer to runreset on the ECR port tells the outcome.
                result.reset_status = "closed without an answer"
                return
            name = message.name
            if name == "reset":
                result.reset_status = message.status
                result.keep_errors(message)
                return
            if name in ROLE_OF:
                role = ROLE_OF[name]
                key_pem = str(message.body.get("key", "")).encode()
                if faults.wrong_key_for == role:
                    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                    key_pem = other.public_key().public_bytes(
                        serialization.Encoding.PEM,
                        serialization.PublicFormat.SubjectPublicKeyInfo,
                    )
                device = str(message.body.get("device-identifier", "undefined"))
                cert, ca = await trio.to_thread.run_sync(pki.issue_client, role, key_pem, device)
                body = {
                    "status": "ok",
                    "signed-cert": {"cert": cert.hex().upper(), "ca": ca.hex().upper()},
                }
            elif name == "queryconfigcredentials":
                body = {"status": "ok", "confdata": dict(confdata)}
            else:
                raise ActivatorError(f"unexpected <{name}> on the activator port")
            if faults.disconnect_after == name:
                return  # hang up without answering
            await peer.write(Message(name, body))


async def activate(
    host: str,
    port: int,
    activator_port: int | Callable[[], int],
    pki: TestPki,
    tms_url: str,
    *,
    vendor_key_pem: bytes | None = None,
    tms_root: bytes | None = None,
    confdata_sign: bytes | None = None,
    token: str | None = None,
    faults: Faults | None = None,
) -> ActivationResult:
    """Run the whole activation against a terminal; returns what it answered.
    ``activator_port`` may be a callable read when the terminal asks (a
    simulator on port 0 publishes it in <data-dir>/run/activator.addr)."""
    faults = faults or Faults()
    root = tms_root if tms_root is not None else pki.ca_pem("tms-root")
    if confdata_sign is None:
        vendor = vendor_key_pem if vendor_key_pem is not None else TEST_VENDOR_KEY.read_bytes()
        confdata_sign = sign_confdata(root, vendor)
    if faults.bad_signature:
        confdata_sign = bytes([confdata_sign[0] ^ 0xFF]) + confdata_sign[1:]
    confdata = {"cert": root.hex().upper(), "sign": confdata_sign.hex().upper(), "url": tms_url}
    result = ActivationResult(status="")
    stream = await trio.open_tcp_stream(host, port)
    async with stream, trio.open_nursery() as nursery:
        peer = _Peer(stream, result)
        await peer.write(Message("runreset", {"token": token} if token else {}))
        started = False
        reset_done = trio.Event()

        async def reset_exchange() -> None:
            try:
                await _reset_exchange(host, activator_port, pki, confdata, faults, result)
            finally:
                reset_done.set()

        while True:
            message = await peer.read()
            if message.name == "runreset":
                result.status = message.status or ""
                result.keep_errors(message)
                sn, cert = message.body.get("sn"), message.body.get("cert")
                result.sn = sn if isinstance(sn, str) else None
                if isinstance(cert, str):
                    result.cert_pem = bytes.fromhex(cert).decode("ascii")
                # The terminal answered <reset> first: read that answer (and
                # its error-stack) before hanging up, however the two
                # connections were scheduled.
                if started:
                    with trio.move_on_after(RESET_ANSWER_GRACE):
                        await reset_done.wait()
                nursery.cancel_scope.cancel()
                return result
            if message.name != "keepalive":
                raise ActivatorError(f"unexpected <{message.name}> on the ECR port")
            indicator = str(message.body.get("reset-connected-indicator", ""))
            result.keepalive_indicators.append(indicator)
            if not started and indicator == "0" and faults.keepalive_status == "ok":
                started = True
                nursery.start_soon(reset_exchange)
            await peer.write(Message("keepalive", {"status": faults.keepalive_status}))
    raise ActivatorError("unreachable")
