# Strategy: the secure channel of the ECR manual («Шифрование команд», RFC 4492)
# exactly as docs/protocol-decisions.md fixes it:
# - client-handshake: base64 of a TLS ServerECDHParams for secp256r1,
#   03 (named_curve) 0017 (secp256r1) 41 (point length 65) 04 || X || Y: 69 bytes.
# - server-handshake: base64 of 41 04 || X || Y: 66 bytes.
# - AES-256 key: the raw 32-byte ECDH shared x-coordinate.
# - encrypted: base64 of tag(16) || IV(16, random) || AES-GCM ciphertext of
#   `<encrypted-data>children</encrypted-data>` in UTF-8, no AAD.
# - The server keeps a key per secure login, for as long as that login's
#   token lives, up to a bound; the one whose tag verifies opens the command
#   and seals the answer and the messages of that command, errors included.
#   The key ring keeps each key's AES-GCM object with it, made once.
# - A sealed packet whose IV was already seen under its key is a replay and is
#   refused (docs/protocol-decisions.md): a captured command sent again, or an
#   answer of the terminal's own sent back, decrypts like a fresh one.
# - Base64 is strict both ways: only the alphabet, padding only to complete
#   the last quantum (RFC 4648 §3.3, §4).
# - A sealed packet is read as the envelope it is (base.xmlread.read_envelope:
#   the root, its attributes, the <encrypted> text) by the same hardened
#   reader as every packet; any other packet as a mapping (decode_message).
from __future__ import annotations

import binascii
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from base.errors import CardcoreError
from base.xmlread import read_envelope
from cardcore.protocol.xmlcodec import Message, XmlError, decode_message, encode_body, open_tag

__all__ = [
    "CLIENT_HANDSHAKE_PREFIX",
    "ENCRYPTED",
    "ENCRYPTED_DATA",
    "IvLog",
    "KeyRing",
    "ReplayedPacket",
    "SecureChannelError",
    "clear_message",
    "client_handshake",
    "decode_packet",
    "derive_key",
    "is_encrypted",
    "open_message",
    "parse_client_handshake",
    "parse_server_handshake",
    "seal",
    "seal_message",
    "seal_packet",
    "seal_stream",
    "server_handshake",
    "unseal",
]

CLIENT_HANDSHAKE_PREFIX = bytes.fromhex("0300174104")
SERVER_HANDSHAKE_PREFIX = bytes.fromhex("4104")
TAG_LEN = 16
IV_LEN = 16
ENCRYPTED = "encrypted"
ENCRYPTED_DATA = "encrypted-data"
_ENCRYPTED_TAG = f"<{ENCRYPTED}".encode()


class SecureChannelError(CardcoreError):
    """Secure channel failure (bad handshake, or no key verifies the data)."""


def _b64decode(text: str, what: str) -> bytes:
    # Strict: only the alphabet, padding only to complete the last quantum
    # (RFC 4648 §3.3, §4). binascii's strict mode checks all of it but
    # padding after a whole quantum ("QUJD="), which it lets through.
    body = text.strip()
    if body.endswith("=") and len(body.rstrip("=")) % 4 == 0:
        raise SecureChannelError(f"{what} is not valid base64: padding after a whole quantum")
    try:
        return binascii.a2b_base64(body, strict_mode=True)
    except (binascii.Error, ValueError):
        raise SecureChannelError(f"{what} is not valid base64") from None


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _point(raw: bytes, what: str) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise SecureChannelError(f"{what} is not a point on secp256r1") from None


def _raw_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    numbers = public_key.public_numbers()
    return b"\x04" + numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def parse_client_handshake(text: str) -> ec.EllipticCurvePublicKey:
    raw = _b64decode(text, "client-handshake")
    if len(raw) != 69 or not raw.startswith(CLIENT_HANDSHAKE_PREFIX):
        raise SecureChannelError(
            "client-handshake must be 69 bytes: 03 0017 41 04 X Y (secp256r1 ServerECDHParams)"
        )
    return _point(raw[4:], "client-handshake")


def client_handshake(public_key: ec.EllipticCurvePublicKey) -> str:
    return _b64encode(b"\x03\x00\x17\x41" + _raw_point(public_key))


def server_handshake(public_key: ec.EllipticCurvePublicKey) -> str:
    return _b64encode(b"\x41" + _raw_point(public_key))


def parse_server_handshake(text: str) -> ec.EllipticCurvePublicKey:
    raw = _b64decode(text, "server-handshake")
    if len(raw) != 66 or not raw.startswith(SERVER_HANDSHAKE_PREFIX):
        raise SecureChannelError("server-handshake must be 66 bytes: 41 04 X Y")
    return _point(raw[1:], "server-handshake")


def derive_key(private_key: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    """The AES-256 key is the 32-byte ECDH shared secret (the x-coordinate)."""
    return private_key.exchange(ec.ECDH(), peer)


def seal(
    key: bytes, plaintext: bytes, iv: bytes | None = None, cipher: AESGCM | None = None
) -> str:
    """``cipher``: AESGCM(key), when the caller keeps one."""
    iv = iv if iv is not None else os.urandom(IV_LEN)
    if len(iv) != IV_LEN:
        raise ValueError("IV must be 16 bytes")
    sealed = (cipher or AESGCM(key)).encrypt(iv, plaintext, None)  # ciphertext || tag
    return _b64encode(sealed[-TAG_LEN:] + iv + sealed[:-TAG_LEN])


_CHUNK = 1 << 20


def seal_stream(key: bytes, source: IO[bytes], target: IO[bytes], iv: bytes | None = None) -> None:
    """seal() for a plaintext too large to hold: reads ``source`` to its end
    and writes the same base64 text to ``target`` (the ciphertext waits in a
    spooled temporary file, as the tag goes first)."""
    iv = iv if iv is not None else os.urandom(IV_LEN)
    if len(iv) != IV_LEN:
        raise ValueError("IV must be 16 bytes")
    encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    with tempfile.SpooledTemporaryFile(max_size=_CHUNK * 4) as ciphertext:
        while data := source.read(_CHUNK):
            ciphertext.write(encryptor.update(data))
        ciphertext.write(encryptor.finalize())
        ciphertext.seek(0)
        pending = encryptor.tag + iv
        while data := ciphertext.read(_CHUNK):
            pending += data
            whole = len(pending) - len(pending) % 3
            target.write(binascii.b2a_base64(pending[:whole], newline=False))
            pending = pending[whole:]
        target.write(binascii.b2a_base64(pending, newline=False))


def _split(text: str) -> tuple[bytes, bytes]:
    """An encrypted block as AES-GCM takes it: (IV, ciphertext || tag)."""
    raw = _b64decode(text, ENCRYPTED)
    if len(raw) < TAG_LEN + IV_LEN:
        raise SecureChannelError("encrypted block shorter than tag and IV")
    return raw[TAG_LEN : TAG_LEN + IV_LEN], raw[TAG_LEN + IV_LEN :] + raw[:TAG_LEN]


def unseal(key: bytes, text: str, cipher: AESGCM | None = None) -> bytes:
    iv, data = _split(text)
    try:
        return (cipher or AESGCM(key)).decrypt(iv, data, None)
    except InvalidTag:
        raise SecureChannelError("authentication tag does not verify") from None


def is_encrypted(message: Message) -> bool:
    return ENCRYPTED in message.body


def decode_packet(data: bytes) -> Message:
    """One packet as it comes, sealed or clear: decode_message's reading of
    it. A sealed one (a root holding just an <encrypted> child) is read as
    that envelope, not as a general mapping; only a packet that names the
    element can be one."""
    if _ENCRYPTED_TAG in data:
        # Read as decode_message reads: UTF-8, bounded by the frame decoder.
        envelope = read_envelope(data, ENCRYPTED, encoding="utf-8", limit=None)
        if envelope is not None:
            return Message(envelope.name, {ENCRYPTED: envelope.text}, envelope.attrs)
    return decode_message(data)


def seal_message(message: Message, key: bytes, cipher: AESGCM | None = None) -> Message:
    """Replace every child by <encrypted>; the root and its attributes stay."""
    plaintext = encode_body(ENCRYPTED_DATA, message.body)
    return Message(message.name, {ENCRYPTED: seal(key, plaintext, cipher=cipher)}, message.attrs)


def seal_packet(
    message: Message, key: bytes, cipher: AESGCM | None = None, iv: bytes | None = None
) -> bytes:
    """encode_message(seal_message(...)), laid out at once: the base64 text
    goes into the packet as it comes, not through the general encoder."""
    sealed = seal(key, encode_body(ENCRYPTED_DATA, message.body), iv=iv, cipher=cipher)
    name = message.name
    head = open_tag(name, message.attrs) if message.attrs else f"<{name}>"
    return f"{head}\n  <{ENCRYPTED}>{sealed}</{ENCRYPTED}>\n</{name}>".encode()


def clear_message(message: Message, plaintext: bytes) -> Message:
    """The command inside a decrypted block, under the packet's root."""
    inner = decode_message(plaintext)
    if inner.name != ENCRYPTED_DATA:
        raise XmlError(f"decrypted block must be <{ENCRYPTED_DATA}>, not <{inner.name}>")
    return Message(message.name, inner.body, message.attrs)


def _encrypted_text(message: Message) -> str:
    value = message.body.get(ENCRYPTED)
    if not isinstance(value, str) or len(message.body) != 1:
        raise SecureChannelError("an encrypted packet carries exactly one <encrypted> child")
    return value


def open_message(message: Message, key: bytes) -> Message:
    return clear_message(message, unseal(key, _encrypted_text(message)))


class ReplayedPacket(SecureChannelError):
    """A sealed packet whose IV was already seen under its key."""


# Sealed packets (commands, answers, messages) all the ring's keys may carry
# between them: the IV logs stay bounded (a set costs some 64 bytes an IV,
# 17 MiB when the ring is full). When they are all used, the key that has
# carried the most is retired and its cash register logs in again; a single
# busy register may carry them all (over ten thousand transactions, at some
# twenty packets each).
PACKETS_IN_RING = 1 << 18


class IvLog:
    """The IVs seen under one key, kept as their 64-bit prefixes.

    A sealed packet is refused when its IV was seen before under the same
    key, for as long as the key lives: the bytes are all that tells a
    replayed command (or an answer of ours sent back) from a fresh one, since
    both decrypt. Honest peers draw a random IV per packet, so a repeated
    prefix among them is as likely as guessing 64 random bits; a forger
    without the key cannot make a packet that verifies at all.
    """

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, iv: bytes) -> bool:
        """Record ``iv``; False when it was seen already."""
        value = int.from_bytes(iv[:8], "big")
        if value in self._seen:
            return False
        self._seen.add(value)
        return True


@dataclass
class _Entry:
    key: bytes
    label: str
    cipher: AESGCM
    seen: IvLog


class KeyRing:
    """At most ``size`` session keys, the most recently used first; a key is
    found by its tag.

    One command travels per TCP connection in the manual's sequence, so keys
    outlive connections; ``label`` ties a key to the login (the token) that
    created it, and the key lives until that token ends (discard_label). A
    new key beyond ``size`` drops the least recently used one. Every IV a key
    opens or seals is logged (IvLog): a sealed packet seen before is refused
    as a replay. All the logs together hold at most ``packets`` IVs; when they
    are full, the key that has carried the most is retired, and its cash
    register logs in again for a new one.
    """

    def __init__(self, size: int = 64, packets: int = PACKETS_IN_RING) -> None:
        self.size = size
        self.packets = packets
        self._logged = 0  # IVs in all the logs
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, key: bytes, label: str) -> None:
        self._entries[key] = _Entry(key, label, AESGCM(key), IvLog())
        self._entries.move_to_end(key, last=False)
        while len(self._entries) > self.size:
            self._drop(next(reversed(self._entries)))

    def _drop(self, key: bytes) -> None:
        self._logged -= len(self._entries.pop(key).seen)

    def discard_label(self, label: str) -> None:
        for key in [k for k, e in self._entries.items() if e.label == label]:
            self._drop(key)

    def _room(self, entry: _Entry) -> None:
        """Make room for one more IV: with the logs full, the key that has
        carried the most is retired (SecureChannelError if it is ``entry``'s)."""
        if self._logged < self.packets:
            return
        busiest = max(self._entries.values(), key=lambda e: len(e.seen))
        self._drop(busiest.key)
        if busiest is entry:
            raise SecureChannelError(
                f"the secure-channel key has carried {len(busiest.seen)} packets and is "
                "retired; log in with client-handshake for a new one"
            )

    def _log(self, entry: _Entry, iv: bytes) -> None:
        """Record an IV under ``entry``'s key (ReplayedPacket if seen before)."""
        self._room(entry)
        if not entry.seen.add(iv):
            raise ReplayedPacket("this sealed packet was received before; refused as a replay")
        self._logged += 1

    def unseal(self, message: Message, hint: bytes | None = None) -> tuple[bytes, bytes, str]:
        """Decrypt with the key whose tag verifies: (plaintext, key, label).
        The block is decoded once and tried under ``hint`` first (the key
        that opened the last packet of the same connection: a register
        keeps its key), then under each key, the most recently used first.
        A replay, or no key that verifies, raises SecureChannelError."""
        iv, data = _split(_encrypted_text(message))
        for entry in self._candidates(hint):
            try:
                plaintext = entry.cipher.decrypt(iv, data, None)
            except InvalidTag:
                continue
            self._log(entry, iv)
            self._entries.move_to_end(entry.key, last=False)
            return plaintext, entry.key, entry.label
        raise SecureChannelError(
            "no secure-channel key verifies this packet; log in with client-handshake first"
        )

    def _candidates(self, hint: bytes | None) -> Iterator[_Entry]:
        first = self._entries.get(hint) if hint is not None else None
        if first is not None:
            yield first
        for entry in self._entries.values():
            if entry is not first:
                yield entry

    def open(self, message: Message, hint: bytes | None = None) -> tuple[Message, bytes, str]:
        """unseal() and the command or answer inside: (clear message, key, label)."""
        plaintext, key, label = self.unseal(message, hint)
        return clear_message(message, plaintext), key, label

    def fresh_iv(self, key: bytes) -> bytes | None:
        """A random IV for sealing under ``key``, logged so that the sealed
        packet cannot come back as a command; None when the ring does not
        hold the key (the caller draws its own)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        iv = os.urandom(IV_LEN)
        if self._logged < self.packets and entry.seen.add(iv):
            self._logged += 1  # (full logs retire a key at the next command)
        return iv

    def seal_packet(self, message: Message, key: bytes) -> bytes:
        """seal_packet() with the ring's AES-GCM object and a logged IV when
        it holds ``key``."""
        entry = self._entries.get(key)
        if entry is None:
            return seal_packet(message, key)
        return seal_packet(message, key, entry.cipher, self.fresh_iv(key))
