# Strategy: a simulated PC/SC part 3 contactless reader (Interoperability
# Specification for ICCs and Personal Computer Systems, part 3 v2.02, 3.2.2.1:
# pseudo-APDUs with CLA 'FF' that the reader answers itself) with one card in
# its field: either an ISO 14443-4 (type A) processor card, whose other APDUs
# pass through to the card, or a MIFARE Classic card.
# - ATR per 3.1.3.2.3 (hal.atr.contactless_atr).
# - GET DATA FF CA: P1 00 UID, P1 01 ATS historical bytes (processor cards).
# - LOAD KEYS FF 82: P1 '00' (card key, plain, volatile), P2 key number
#   0..1, six key bytes.
# - GENERAL AUTHENTICATE FF 86: data 01 00 block key-type ('60' A / '61' B)
#   key-number.
# - READ BINARY FF B0 / UPDATE BINARY FF D6: P1 P2 the block number, 16 bytes.
# Status words follow part 3 (6300 authentication failed, 6982 security
# status not satisfied, 6986 command not allowed, 6988/6989 bad key number or
# length, 6A81 function not supported, 6B00 wrong parameters, 6Cxx wrong Le).
# Used for MIFARE Classic memory by the simulated contactless reader, and by
# `cardcore sim vpcd` for contactless profiles, so the PC/SC driver's part 3
# code runs against it through real pcscd. A contactless profile keeps its
# own RF identity (UID, ATQA as on the air, SAK, ATS historical bytes); a
# contact-only card put in the field gets a random-style UID.
from __future__ import annotations

import hashlib

from hal.atr import card_type_for_sak, contactless_atr, derive_atqa_sak
from hal.interfaces import CardType
from simulators.devices.card import VirtualCard
from simulators.devices.mifare import MifareCardError, MifareClassicCard, MifareKeyType

__all__ = ["VOLATILE_KEY_SLOTS", "Part3Reader", "default_historical", "default_uid"]

VOLATILE_KEY_SLOTS = 2


def default_uid(name: str) -> bytes:
    """A stable 4-byte random-style UID ('08' first byte: a random UID per
    ISO 14443-3) for a virtual processor card named ``name``."""
    return b"\x08" + hashlib.sha256(name.encode()).digest()[:3]


def default_historical(card: VirtualCard) -> bytes:
    """ATS historical bytes of a virtual processor card: its ATR's."""
    from hal.atr import parse_atr

    return parse_atr(card.atr).historical


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


class Part3Reader:
    """A contactless reader with one card in its field."""

    def __init__(
        self,
        card: VirtualCard | MifareClassicCard,
        *,
        uid: bytes | None = None,
        historical: bytes | None = None,
        atqa_sak_command: bytes | None = None,
    ) -> None:
        self.card = card
        # A vendor pseudo-APDU answering ATQA || SAK, as some readers offer
        # (part 3 defines none); None: the reader does not tell them.
        self.atqa_sak_command = atqa_sak_command
        self._keys: list[bytes | None] = [None] * VOLATILE_KEY_SLOTS
        if isinstance(card, MifareClassicCard):
            self.card_type = card.card_type
            self.uid = card.uid
            self.atqa, self.sak = card.atqa, card.sak
            self.historical = b""
            self.atr = contactless_atr(self.card_type)
            return
        rf = card.profile.rf
        if rf is not None:  # a contactless profile: its own RF identity
            self.uid, self.atqa, self.sak = rf.uid, rf.atqa, rf.sak
            self.historical = rf.historical
            self.card_type = card_type_for_sak(rf.sak)
            self.atr = rf.pcsc_atr()
            return
        self.card_type = CardType.PROCESSOR
        self.uid = uid if uid is not None else default_uid(card.profile.name)
        derived = derive_atqa_sak(CardType.PROCESSOR, self.uid)
        if derived is None:
            raise ValueError("UID must be 4, 7 or 10 bytes")
        self.atqa, self.sak = derived
        self.historical = historical if historical is not None else default_historical(card)
        self.atr = contactless_atr(self.card_type, self.historical)

    def activate(self) -> bytes:
        """Field on, card selected (and for processor cards RATS done): the ATR."""
        if isinstance(self.card, MifareClassicCard):
            self.card.reset()
        else:
            self.card.reset(contactless=self.card.profile.rf is not None)
        return self.atr

    def transmit(self, capdu: bytes) -> bytes:
        if len(capdu) < 4:
            return _sw(0x6700)
        if self.atqa_sak_command is not None and capdu == self.atqa_sak_command:
            return self.atqa + bytes([self.sak]) + _sw(0x9000)
        if capdu[0] == 0xFF:
            return self._pseudo(capdu)
        if isinstance(self.card, VirtualCard):
            return self.card.transmit(capdu)
        return _sw(0x6A81)  # not ISO 14443-4: the reader cannot deliver APDUs to it

    # --- pseudo-APDUs -----------------------------------------------------
    def _pseudo(self, capdu: bytes) -> bytes:
        ins, p1, p2 = capdu[1], capdu[2], capdu[3]
        body = capdu[4:]
        handler = {
            0xCA: self._get_data,
            0x82: self._load_key,
            0x86: self._authenticate,
            0xB0: self._read,
            0xD6: self._update,
        }.get(ins)
        if handler is None:
            return _sw(0x6D00)
        return handler(p1, p2, body)

    @staticmethod
    def _with_le(data: bytes, body: bytes) -> bytes:
        le = body[-1] if len(body) == 1 else None
        if le is None:
            return _sw(0x6700)
        if le and le != len(data):
            return _sw(0x6C00 | len(data))
        return data + _sw(0x9000)

    def _get_data(self, p1: int, p2: int, body: bytes) -> bytes:
        if p2 != 0:
            return _sw(0x6B00)
        if p1 == 0x00:
            return self._with_le(self.uid, body)
        if p1 == 0x01 and self.card_type is CardType.PROCESSOR:
            return self._with_le(self.historical, body)
        return _sw(0x6A81)

    def _load_key(self, p1: int, p2: int, body: bytes) -> bytes:
        if p1 != 0x00:
            return _sw(0x6986)  # only volatile plain card keys in this reader
        if p2 >= VOLATILE_KEY_SLOTS:
            return _sw(0x6988)
        if len(body) != 7 or body[0] != 6:
            return _sw(0x6989)
        self._keys[p2] = bytes(body[1:])
        return _sw(0x9000)

    def _mifare(self) -> MifareClassicCard | None:
        return self.card if isinstance(self.card, MifareClassicCard) else None

    def _authenticate(self, p1: int, p2: int, body: bytes) -> bytes:
        card = self._mifare()
        if card is None:
            return _sw(0x6A81)
        if p1 or p2 or len(body) != 6 or body[0] != 5 or body[1:3] != b"\x01\x00":
            return _sw(0x6B00)
        block, key_type, slot = body[3], body[4], body[5]
        if key_type not in (MifareKeyType.A, MifareKeyType.B):
            return _sw(0x6B00)
        if slot >= VOLATILE_KEY_SLOTS:
            return _sw(0x6988)
        key = self._keys[slot]
        if key is None:
            return _sw(0x6300)
        try:
            card.authenticate(block, MifareKeyType(key_type), key)
        except MifareCardError as exc:
            return _sw(exc.sw)
        return _sw(0x9000)

    def _read(self, p1: int, p2: int, body: bytes) -> bytes:
        card = self._mifare()
        if card is None:
            return _sw(0x6A81)
        if len(body) != 1:
            return _sw(0x6700)
        if body[0] not in (0, 16):
            return _sw(0x6C10)
        try:
            return card.read((p1 << 8) | p2) + _sw(0x9000)
        except MifareCardError as exc:
            return _sw(exc.sw)

    def _update(self, p1: int, p2: int, body: bytes) -> bytes:
        card = self._mifare()
        if card is None:
            return _sw(0x6A81)
        if len(body) != 17 or body[0] != 16:
            return _sw(0x6700)
        try:
            card.write((p1 << 8) | p2, bytes(body[1:]))
        except MifareCardError as exc:
            return _sw(exc.sw)
        return _sw(0x9000)
