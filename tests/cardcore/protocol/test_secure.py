"""Secure channel (manual «Шифрование команд»; docs/protocol-decisions.md)."""

from __future__ import annotations

import base64
import binascii
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import example, given
from hypothesis import strategies as st

from cardcore.protocol import secure, xmlcodec
from cardcore.protocol.status import Status, status_of
from cardcore.protocol.xmlcodec import MAX_DEPTH, Message, XmlError, decode_message, encode_message


def _xy(key: ec.EllipticCurvePrivateKey) -> bytes:
    n = key.public_key().public_numbers()
    return n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big")


def test_handshake_layouts() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    client = base64.b64decode(secure.client_handshake(key.public_key()))
    server = base64.b64decode(secure.server_handshake(key.public_key()))
    assert client == bytes.fromhex("0300174104") + _xy(key) and len(client) == 69
    assert server == bytes.fromhex("4104") + _xy(key) and len(server) == 66
    assert secure.parse_client_handshake(base64.b64encode(client).decode()) == key.public_key()
    assert secure.parse_server_handshake(base64.b64encode(server).decode()) == key.public_key()


@pytest.mark.parametrize(
    "raw",
    [
        bytes.fromhex("0300184104") + bytes(64),  # secp384r1 id
        bytes.fromhex("0300174104") + bytes(63),  # short
        bytes.fromhex("0300174104") + bytes(64),  # not on the curve
        bytes.fromhex("0300174102") + bytes(64),  # compressed marker
    ],
)
def test_bad_client_handshake(raw: bytes) -> None:
    with pytest.raises(secure.SecureChannelError):
        secure.parse_client_handshake(base64.b64encode(raw).decode())


def test_bad_base64() -> None:
    with pytest.raises(secure.SecureChannelError):
        secure.parse_client_handshake("!!!not base64")


@given(st.text(st.sampled_from("AQgw+/=_- \n"), max_size=12))
@example("QUJD")
@example("QUJD=")
@example("QUI=")
@example("QUJD==")
@example("QUJD====")
@example("QQ==QQ==")
def test_base64_is_read_strictly(text: str) -> None:
    """What is read is what binascii's strict mode reads; it refuses, in
    addition, padding after a whole quantum (RFC 4648)."""
    try:
        raw = secure._b64decode(text, "block")
    except secure.SecureChannelError:
        raw = None
    try:
        strict: bytes | None = binascii.a2b_base64(text.strip(), strict_mode=True)
    except binascii.Error:
        strict = None
    body = text.strip()
    superfluous = body.endswith("=") and len(body.rstrip("=")) % 4 == 0
    assert raw == (None if superfluous else strict)


def test_key_is_the_ecdh_x_coordinate_both_ways() -> None:
    a, b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    key = secure.derive_key(a, b.public_key())
    assert key == secure.derive_key(b, a.public_key())
    assert len(key) == 32


def test_seal_layout_is_tag_iv_ciphertext() -> None:
    key, iv = os.urandom(32), bytes(range(16))
    sealed = base64.b64decode(secure.seal(key, b"<encrypted-data/>", iv=iv))
    tag, got_iv, ciphertext = sealed[:16], sealed[16:32], sealed[32:]
    assert got_iv == iv
    assert AESGCM(key).decrypt(iv, ciphertext + tag, None) == b"<encrypted-data/>"


@given(st.binary(max_size=200))
def test_sealed_text_is_standard_base64(plaintext: bytes) -> None:
    # The layout (tag, IV, ciphertext) as the base64 module writes it, over every padding case.
    key, iv = bytes(range(32)), bytes(16)
    sealed = AESGCM(key).encrypt(iv, plaintext, None)
    expected = base64.b64encode(sealed[-16:] + iv + sealed[:-16]).decode()
    assert secure.seal(key, plaintext, iv=iv) == expected


def test_unseal_rejects_tampering() -> None:
    key = os.urandom(32)
    sealed = bytearray(base64.b64decode(secure.seal(key, b"hello")))
    sealed[-1] ^= 1
    with pytest.raises(secure.SecureChannelError):
        secure.unseal(key, base64.b64encode(bytes(sealed)).decode())
    with pytest.raises(secure.SecureChannelError):
        secure.unseal(key, base64.b64encode(b"short").decode())


def test_seal_message_keeps_root_and_attributes() -> None:
    key = os.urandom(32)
    message = Message("transaction", {"amount": "000000012300"}, {"force-sbp": "true"})
    sealed = secure.seal_message(message, key)
    assert sealed.name == "transaction" and sealed.attrs == {"force-sbp": "true"}
    assert list(sealed.body) == ["encrypted"]
    plaintext = secure.unseal(key, sealed.body["encrypted"])
    assert decode_message(plaintext) == Message("encrypted-data", {"amount": "000000012300"})
    assert secure.open_message(sealed, key) == message


def test_keyring_finds_the_verifying_key_and_forgets_old_ones() -> None:
    ring = secure.KeyRing(size=2)
    keys = [os.urandom(32) for _ in range(3)]
    for i, key in enumerate(keys):
        ring.add(key, f"t{i}")
    assert len(ring) == 2
    message = Message("getparameters", {"token": "X"})
    opened, key, label = ring.open(secure.seal_message(message, keys[1]))
    assert (opened, key, label) == (message, keys[1], "t1")
    with pytest.raises(secure.SecureChannelError):
        ring.open(secure.seal_message(message, keys[0]))  # evicted
    ring.discard_label("t1")
    with pytest.raises(secure.SecureChannelError):
        ring.open(secure.seal_message(message, keys[1]))


def test_keyring_seals_with_the_given_key() -> None:
    ring = secure.KeyRing(size=2)
    keys = [os.urandom(32) for _ in range(3)]
    ring.add(keys[0], "t0")
    ring.add(keys[1], "t1")
    message = Message("getparameters", {"status": "ok", "sn": "1"})
    for key in keys:  # the ring's two, and one it does not hold
        sealed = decode_message(ring.seal_packet(message, key))
        assert secure.open_message(sealed, key) == message
        for other in keys:
            if other != key:
                with pytest.raises(secure.SecureChannelError):
                    secure.open_message(sealed, other)


@pytest.mark.parametrize(
    "attrs", [{}, {"server-handshake": "QQTx/+=="}, {"a": "x\"<&>'y", "b": ""}]
)
def test_sealed_packet_is_the_sealed_message_encoded(attrs: dict[str, str]) -> None:
    key = os.urandom(32)
    message = Message("login", {"status": "ok", "token": "<&>", "list": ["1", "2"]}, attrs)
    packet = secure.seal_packet(message, key)
    sealed = decode_message(packet)
    assert encode_message(sealed) == packet  # the encoder's own layout
    assert sealed.attrs == attrs and list(sealed.body) == ["encrypted"]
    assert secure.open_message(sealed, key) == message


def test_keyring_refuses_mixed_clear_and_encrypted_children() -> None:
    ring = secure.KeyRing()
    key = os.urandom(32)
    ring.add(key, "t")
    sealed = secure.seal_message(Message("a", {"b": "c"}), key)
    with pytest.raises(secure.SecureChannelError):
        ring.open(Message("a", {**sealed.body, "extra": "1"}))


@pytest.mark.parametrize(
    ("text", "reason"),
    [("!!!not base64", "not valid base64"), (base64.b64encode(bytes(31)).decode(), "shorter")],
)
def test_keyring_names_a_block_no_key_could_open(text: str, reason: str) -> None:
    ring = secure.KeyRing()
    ring.add(os.urandom(32), "t")
    with pytest.raises(secure.SecureChannelError, match=reason):
        ring.open(Message("getparameters", {"encrypted": text}))


def test_keyring_tries_each_key_on_the_same_block() -> None:
    ring = secure.KeyRing()
    keys = [os.urandom(32) for _ in range(4)]
    for i, key in enumerate(keys):
        ring.add(key, f"t{i}")
    message = Message("getparameters", {"token": "X"})
    for i, key in enumerate(keys):  # the newest is tried first, the oldest last
        assert ring.open(secure.seal_message(message, key)) == (message, key, f"t{i}")


def test_keyring_drops_the_least_recently_used_key() -> None:
    ring = secure.KeyRing(size=2)
    keys = [os.urandom(32) for _ in range(3)]
    ring.add(keys[0], "t0")
    ring.add(keys[1], "t1")
    message = Message("getparameters", {"token": "X"})
    ring.open(secure.seal_message(message, keys[0]))  # used: t1 is now the least recent
    ring.add(keys[2], "t2")
    assert ring.open(secure.seal_message(message, keys[0]))[2] == "t0"
    assert ring.open(secure.seal_message(message, keys[2]))[2] == "t2"
    with pytest.raises(secure.SecureChannelError, match="no secure-channel key"):
        ring.open(secure.seal_message(message, keys[1]))


def test_keyring_full_logs_retire_the_busiest_key() -> None:
    ring = secure.KeyRing(size=4, packets=10)
    busy, quiet = os.urandom(32), os.urandom(32)
    ring.add(busy, "busy")
    ring.add(quiet, "quiet")
    message = Message("ping")
    ring.open(secure.seal_message(message, quiet))
    for _ in range(9):
        ring.open(secure.seal_message(message, busy))
    # The logs are full: the quiet key's next packet retires the busy key.
    assert ring.open(secure.seal_message(message, quiet))[2] == "quiet"
    with pytest.raises(secure.SecureChannelError, match="no secure-channel key"):
        ring.open(secure.seal_message(message, busy))
    assert len(ring) == 1


def test_iv_log_remembers_every_iv() -> None:
    log = secure.IvLog()
    ivs = [os.urandom(16) for _ in range(5000)]
    assert all(log.add(iv) for iv in ivs)
    assert len(log) == 5000
    assert not any(log.add(iv) for iv in ivs)
    assert log.add(os.urandom(16))


# ------------------------------------------------ packets as they come in
@pytest.mark.parametrize(
    "attrs", [{}, {"server-handshake": "QQTx/+=="}, {"a": "x\"<&>'y", "b": ""}]
)
def test_a_sealed_packet_reads_as_decode_message_reads_it(attrs: dict[str, str]) -> None:
    key = os.urandom(32)
    message = Message("getparameters", {"token": "<&>", "list": ["1", "2"]}, attrs)
    packet = secure.seal_packet(message, key)
    sealed = secure.decode_packet(packet)
    assert sealed == decode_message(packet)
    assert secure.open_message(sealed, key) == message


@pytest.mark.parametrize(
    "packet",
    [
        b"<getparameters><token>X</token></getparameters>",
        b"<getparameters/>",
        b"<a><encrypted>QUJD</encrypted><encrypted>QUJD</encrypted></a>",
        b"<a><encrypted>QUJD</encrypted><extra>1</extra></a>",
        b'<a><encrypted n="1">QUJD</encrypted></a>',
        b"<a><encrypted><b>QUJD</b></encrypted></a>",
        b"<a><encrypted/></a>",
        b"<a>\n  <encrypted>\n  QUJD\n  </encrypted>\n</a>",
        b"<encrypted-data><token>X</token></encrypted-data>",
    ],
)
def test_any_packet_reads_as_decode_message_reads_it(packet: bytes) -> None:
    assert secure.decode_packet(packet) == decode_message(packet)


_SEALED_HOSTILE = [
    b'<!DOCTYPE a [<!ENTITY x "QUJD">]><a><encrypted>&x;</encrypted></a>',
    b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a><encrypted>&x;</encrypted></a>',
    b"<?evil instruction?><a><encrypted>QUJD</encrypted></a>",
    b"<a><encrypted>QU<?evil instruction?>JD</encrypted></a>",
    b"<a><encrypted>QUJD</encrypted></a><?evil instruction?>",
    b"<a><encrypted>" + b"<b>" * MAX_DEPTH + b"</b>" * MAX_DEPTH + b"</encrypted></a>",
    b"<a><encrypted>QUJD</encrypted>",
    b"<a><encrypted>&undefined;</encrypted></a>",
    b"<a><encrypted>QU\xc3\x28JD</encrypted></a>",
    b"<a><encrypted>QUJD</encrypted></a><a/>",
    b"<a>text<encrypted>QUJD</encrypted></a>",
]


@pytest.mark.parametrize("packet", _SEALED_HOSTILE)
def test_a_hostile_sealed_packet_is_a_format_error(packet: bytes) -> None:
    with pytest.raises(XmlError) as info:
        secure.decode_packet(packet)
    assert status_of(info.value) is Status.FORMAT_ERROR
    assert "root:" not in info.value.message
    with pytest.raises(type(info.value)):  # refused as any packet is
        decode_message(packet)


@given(st.binary(max_size=200), st.sampled_from([b"", b"<a><encrypted>", b"<encrypted>"]))
def test_garbage_decodes_as_decode_message_decodes_it(data: bytes, head: bytes) -> None:
    packet = head + data
    try:
        expected = decode_message(packet)
    except XmlError as exc:
        with pytest.raises(type(exc)):
            secure.decode_packet(packet)
        return
    assert secure.decode_packet(packet) == expected


def test_a_sealed_packet_is_read_as_an_envelope_not_a_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    packet = secure.seal_packet(Message("getparameters", {"token": "X"}), os.urandom(32))
    expected = decode_message(packet)

    def no_mapping(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("read as a mapping")

    monkeypatch.setattr(xmlcodec, "read_mapping", no_mapping)
    assert secure.decode_packet(packet) == expected
    with pytest.raises(AssertionError):
        secure.decode_packet(b"<getparameters><token>X</token></getparameters>")


def test_keyring_tries_the_connections_key_first(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [os.urandom(32) for _ in range(8)]
    message = Message("getparameters", {"token": "X"})
    sealed = {i: secure.seal_message(message, keys[i]) for i in (0, 3, 5)}
    tried: list[bytes] = []

    class Counting:
        def __init__(self, key: bytes) -> None:
            self.key, self.inner = key, AESGCM(key)

        def decrypt(self, iv: bytes, data: bytes, aad: bytes | None) -> bytes:
            tried.append(self.key)
            return self.inner.decrypt(iv, data, aad)

    monkeypatch.setattr(secure, "AESGCM", Counting)
    ring = secure.KeyRing(size=8)
    for i, key in enumerate(keys):
        ring.add(key, f"t{i}")
    # Without a hint the oldest key is tried last: eight attempts.
    assert ring.open(sealed[0])[1] == keys[0]
    assert len(tried) == 8
    tried.clear()
    assert ring.open(sealed[3], keys[3])[1] == keys[3]
    assert tried == [keys[3]]
    tried.clear()
    # A hint that does not verify costs one attempt more, nothing else.
    assert ring.open(sealed[5], keys[3])[1] == keys[5]
    assert tried[0] == keys[3] and tried[-1] == keys[5]


def test_full_iv_logs_stay_within_their_memory_bound() -> None:
    """The ring's IV logs at PACKETS_IN_RING, the most they hold: about
    17 MiB (docs/protocol-decisions.md), measured, not assumed."""
    import tracemalloc

    ring = secure.KeyRing(size=2)
    keys = os.urandom(32), os.urandom(32)
    for i, key in enumerate(keys):
        ring.add(key, f"t{i}")
    tracemalloc.start()
    try:
        for n in range(secure.PACKETS_IN_RING):
            assert ring.fresh_iv(keys[n & 1]) is not None
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ring._logged == secure.PACKETS_IN_RING
    assert used < 20 * 2**20
