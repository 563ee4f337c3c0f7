"""Replay of tests/vectors/emv-contact-apdu-trace.txt (emvpt dummy card) through the kernel.

The trace is a card emulator script, not expected terminal output (see the caveats in its
header), so the responder below answers from the trace's request -> response pairs and only
checks, for the commands whose bytes depend on the kernel, what a compliant kernel must send:
- GET PROCESSING OPTIONS is matched without its Le byte (emvpt sends a case 3 command);
- VERIFY plaintext must carry the format-2 block of PIN 1234; VERIFY enciphered is decrypted
  with the trace's ICC private key (the trace's own block has zero padding, the kernel's is
  random, Book 2 7.1);
- GENERATE AC is matched on its header: the trace's CDOL data carry TVR 0000000000 and ARC
  'Y3' where a compliant kernel sends 'expired application' and the host's ARC;
- GET DATA of objects the trace does not have answers 6A88.
Caveats kept from the vector: the card is expired for the 2020-07-24 transaction date
(5F24 = 181130), so the kernel sets TVR 'expired application'; ARQC/TC/ARPC are dummies.
CA key: RID AFFFFFFFFF index 92 from the trace file.
"""

from __future__ import annotations

import logging
import re
from collections import deque

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from base import tlv
from kernel.capk import CaKeyStore, CaPublicKey
from kernel.config import AidConfig, TerminalConfig, TransactionRequest
from kernel.contact import ContactKernel
from kernel.outcome import Decision
from kernel.services import MessageId, OnlineResponse, OnlineResult
from kernel.tvr import TvrBit
from tests.kernel.helpers import FixedEntropy, ScriptedServices
from tests.vectors import vector_text

TRACE = vector_text("emv-contact-apdu-trace.txt")
H = bytes.fromhex


def _pairs() -> list[tuple[bytes, bytes]]:
    pairs = re.findall(r"- req: '([0-9A-F ]+)'\s*\n\s*res: '([0-9A-F ]+)'", TRACE)
    return [(H(q.replace(" ", "")), H(r.replace(" ", ""))) for q, r in pairs]


def _pem(name: str) -> bytes:
    start = TRACE.index(f"######## verbatim emvpt/config/{name}")
    block = TRACE[start:].split("-----BEGIN RSA PRIVATE KEY-----", 1)[1]
    body = block.split("-----END RSA PRIVATE KEY-----", 1)[0]
    return b"-----BEGIN RSA PRIVATE KEY-----" + body.encode() + b"-----END RSA PRIVATE KEY-----\n"


def ca_store() -> CaKeyStore:
    section = TRACE[TRACE.index("AFFFFFFFFF:") :]
    modulus = re.search(r"modulus: ([0-9A-F]+)", section)
    assert modulus is not None
    return CaKeyStore([CaPublicKey(H("AFFFFFFFFF"), 0x92, H(modulus.group(1)), b"\x03")])


class TraceCard:
    """Answers C-APDUs from the trace; stateful where the trace repeats a command."""

    def __init__(self) -> None:
        self.answers: dict[bytes, deque[bytes]] = {}
        self.genac: list[bytes] = []
        for req, res in _pairs():
            if req[1] == 0xAE:
                self.genac.append(res)
                continue
            self.answers.setdefault(req, deque()).append(res)
        key = serialization.load_pem_private_key(_pem("icc_1234560012345608"), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self.icc_key = key
        self.challenge = H("B34571E839F2E14F")
        self.log: list[bytes] = []
        self.genac_data: list[tuple[int, bytes]] = []
        self.pin_blocks: list[bytes] = []
        self.second_cid: int | None = None

    def _lookup(self, capdu: bytes) -> bytes | None:
        keys = [capdu]
        if len(capdu) > 5 and len(capdu) == 6 + capdu[4]:
            keys.append(capdu[:-1])  # case 4 sent, case 3 in the trace
        for key in keys:
            queue = self.answers.get(key)
            if queue:
                return queue.popleft() if len(queue) > 1 else queue[0]
        return None

    def _decrypt(self, data: bytes) -> bytes:
        n = self.icc_key.private_numbers()
        m = pow(int.from_bytes(data, "big"), n.d, n.public_numbers.n)
        return m.to_bytes(len(data), "big")

    async def transmit(self, capdu: bytes) -> bytes:
        self.log.append(capdu)
        ins = capdu[1]
        if ins == 0xAE:
            p1 = capdu[2]
            self.genac_data.append((p1, capdu[5 : 5 + capdu[4]]))
            res = self.genac[len(self.genac_data) - 1]
            if len(self.genac_data) == 2 and p1 & 0xC0 == 0x00:
                res = res[:2] + b"\x00" + res[3:]  # the card follows an AAC request
            return res
        if ins == 0x20:
            data = capdu[5 : 5 + capdu[4]]
            if capdu[3] == 0x80:
                self.pin_blocks.append(data)
                return b"\x90\x00" if data == H("241234FFFFFFFFFF") else b"\x63\xc2"
            plain = self._decrypt(data)
            self.pin_blocks.append(plain)
            ok = plain[0] == 0x7F and plain[1:9] == H("241234FFFFFFFFFF")
            return b"\x90\x00" if ok and plain[9:17] == self.challenge else b"\x63\xc2"
        if ins == 0xCA:
            found = self._lookup(capdu)
            return found if found is not None else b"\x6a\x88"
        found = self._lookup(capdu)
        if found is None:
            raise AssertionError(f"C-APDU not in the trace: {capdu.hex().upper()}")
        return found


def config(capabilities: str) -> TerminalConfig:
    return TerminalConfig(
        aids=(
            AidConfig(
                aid=H("AFFFFFFFFF"),
                application_version=H("0096"),
                tac_denial=H("0000000000"),
                tac_online=H("0000000000"),
                tac_default=H("0000000000"),
                floor_limit=10000,
            ),
        ),
        country_code=246,
        capabilities=H(capabilities),
        terminal_type=0x22,
    )


REQUEST = TransactionRequest(amount=100, currency=978, when=FixedEntropy().moment)
APPROVAL = OnlineResponse(
    OnlineResult.APPROVED, arc=b"00", issuer_authentication_data=H("1234567812345678")
)


def ins_flow(card: TraceCard) -> list[str]:
    return [f"{c[1]:02X}" for c in card.log]


async def test_replay_plaintext_pin_online_approval(caplog: pytest.LogCaptureFixture) -> None:
    card = TraceCard()
    services = ScriptedServices(online=APPROVAL)
    kernel = ContactKernel(config("E0E8C8"), ca_store(), entropy=FixedEntropy())
    with caplog.at_level(logging.DEBUG, logger="kernel.trace"):
        outcome = await kernel.run(card.transmit, services, REQUEST)

    assert outcome.error is None, outcome.error
    assert outcome.decision is Decision.APPROVED_ONLINE
    # Book 3 10.4.3: 5F24 = 181130 is before 2020-07-24.
    assert outcome.tvr == H("0040000000")
    assert outcome.tsi == H("F800")
    assert outcome.cvm_results == H("410302")
    assert outcome.cid == 0x40
    assert outcome.get(0x9F4C) == H("002C")  # DDA IDN recovered from the SDAD
    assert outcome.pan == "1234560012345608"
    assert outcome.get(0x8A) == b"00"
    assert ins_flow(card) == [
        "A4", "C0", "B2", "B2", "B2",  # SELECT PSE (61xx), directory with 6Cxx, end
        "A4", "C0",  # final SELECT
        "A8", "C0",  # GPO
        "B2", "B2", "B2", "B2", "B2", "B2", "B2", "B2", "B2", "B2",  # 5 records, each 6Cxx
        "88", "C0",  # INTERNAL AUTHENTICATE (DDA)
        "CA", "20",  # GET DATA PIN try counter (absent), VERIFY plaintext
        "AE", "C0",  # first GENERATE AC: ARQC
        "82",  # EXTERNAL AUTHENTICATE with the host's 91
        "AE",  # second GENERATE AC: TC
    ]  # fmt: skip
    first_p1, first_data = card.genac_data[0]
    assert first_p1 == 0x80  # ARQC, no CDA (card does DDA only)
    assert first_data == H("0000000001000000000000000246004000000009782007240001234567")
    second_p1, second_data = card.genac_data[1]
    assert second_p1 == 0x40
    assert second_data[:2] == b"00"  # the host's ARC first (CDOL2 starts with 8A)
    assert services.displayed == [
        MessageId.ENTER_PIN,
        MessageId.PIN_OK,
        MessageId.PLEASE_WAIT,
        MessageId.APPROVED,
        MessageId.REMOVE_CARD,
    ]
    assert MessageId.PIN_OK in services.displayed
    # The trace must not leak the PAN, track 2 or the PIN block.
    text = caplog.text
    assert "1234560012345608" not in text.replace(" ", "")
    assert "241234FFFFFFFFFF" not in text.upper().replace(" ", "")
    assert "VERIFY" in text and "<redacted" in text
    assert "5A Application Primary Account Number (PAN) [8] <redacted 8 bytes>" in text


async def test_replay_enciphered_pin_with_icc_key() -> None:
    card = TraceCard()
    entropy = FixedEntropy()
    kernel = ContactKernel(config("E0F8C8"), ca_store(), entropy=entropy)
    outcome = await kernel.run(card.transmit, ScriptedServices(online=APPROVAL), REQUEST)
    assert outcome.decision is Decision.APPROVED_ONLINE, outcome.error
    assert outcome.cvm_results == H("440302")  # enciphered offline PIN, supported, successful
    assert "84" in ins_flow(card)  # GET CHALLENGE before VERIFY P2=88
    verify = [c for c in card.log if c[1] == 0x20]
    assert len(verify) == 1 and verify[0][3] == 0x88 and verify[0][4] == 128
    plain = card.pin_blocks[0]
    assert plain[:17] == H("7F241234FFFFFFFFFFB34571E839F2E14F")
    assert plain[17:] == bytes([entropy.pad_byte]) * (128 - 17)  # Book 2 7.1 padding
    assert outcome.tvr == H("0040000000")


async def test_replay_unable_to_go_online_uses_default_action_codes() -> None:
    card = TraceCard()
    services = ScriptedServices(online=OnlineResponse(OnlineResult.UNABLE_TO_GO_ONLINE))
    kernel = ContactKernel(config("E0E8C8"), ca_store(), entropy=FixedEntropy())
    outcome = await kernel.run(card.transmit, services, REQUEST)
    # IAC-Default B8483C9800 covers 'expired application': decline with 'Z3'.
    assert outcome.decision is Decision.DECLINED
    assert outcome.decline_reason == "unabletoonline"
    assert outcome.unable_to_go_online
    assert card.genac_data[1][0] == 0x00
    assert card.genac_data[1][1][:2] == b"Z3"
    assert "82" not in ins_flow(card)
    assert TvrBit.EXPIRED_APPLICATION.mask & outcome.tvr[1]


async def test_replay_online_request_carries_field55_without_pan() -> None:
    card = TraceCard()
    services = ScriptedServices(online=APPROVAL)
    kernel = ContactKernel(config("E0E8C8"), ca_store(), entropy=FixedEntropy())
    await kernel.run(card.transmit, services, REQUEST)
    (request,) = services.online_requests
    assert request.cid == 0x80
    assert request.cryptogram == H("B0189101D11416C1")
    f55 = {o.tag: o.value for o in tlv.decode(request.field55())}
    assert f55[0x9F26] == H("B0189101D11416C1")
    assert f55[0x95] == H("0040000000")
    assert f55[0x9F36] == H("00F3")
    assert 0x5A not in f55 and 0x57 not in f55
    assert "1234560012345608" not in repr(request)
    assert request.pan == "1234560012345608"
