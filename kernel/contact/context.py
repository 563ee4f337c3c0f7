# Strategy: the state of one contact transaction (EMV 4.3 Book 3 10): one
# tag -> value store for terminal, ICC and issuer data, the TVR and TSI,
# and the facts later steps need (AIP, ODA records, PDOL/CDOL data sent, the
# recovered keys). `get` serves DOL building (Book 3 5.4) and always answers
# the live TVR '95', TSI '9B' and CVM Results '9F34'.
# Card data never overwrites terminal data: the dictionary source decides
# (Book 3 10.2: terminal-sourced tags returned by the card are ignored), and
# a primitive object the card returns twice ends the transaction.
from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass, field

from base import tlv
from kernel import dictionary
from kernel.apdu import Transport
from kernel.capk import CaKeyStore
from kernel.config import AidConfig, TerminalConfig, TransactionRequest
from kernel.dictionary import Source
from kernel.errors import CardDataError
from kernel.oda import IccPublicKey, IssuerPublicKey
from kernel.selection import SelectedApplication
from kernel.services import EntropySource, KernelServices, MessageId, OnlineResponse
from kernel.tvr import Tsi, TsiBit, Tvr, TvrBit

__all__ = ["Context", "OdaMethod"]

log = logging.getLogger("kernel.contact")


class OdaMethod(enum.Enum):
    SDA = "SDA"
    DDA = "DDA"
    CDA = "CDA"


# Tags whose lengths the flow relies on: out of the dictionary bounds, the
# card data is malformed and the transaction ends (Book 3 10.2).
STRICT_LENGTH_TAGS = frozenset(
    {
        0x5A, 0x5F24, 0x5F25, 0x5F28, 0x5F34, 0x82, 0x8F, 0x9F07, 0x9F08, 0x9F0D,
        0x9F0E, 0x9F0F, 0x9F14, 0x9F23, 0x9F42, 0x9F44, 0x9F32, 0x9F47, 0x9F2E,
        0x9F36, 0x9F27, 0x9F26, 0x57,
    }
)  # fmt: skip


@dataclass
class Context:
    config: TerminalConfig
    request: TransactionRequest
    services: KernelServices
    transport: Transport
    entropy: EntropySource
    ca_keys: CaKeyStore
    when: dt.datetime
    data: dict[int, bytes] = field(default_factory=dict)
    icc_tags: set[int] = field(default_factory=set)
    tvr: Tvr = field(default_factory=Tvr)
    tsi: Tsi = field(default_factory=Tsi)
    cvm_results: bytes = b"\x3f\x00\x00"
    application: SelectedApplication | None = None
    aid_config: AidConfig | None = None
    aip: bytes = b"\x00\x00"
    afl: bytes = b""
    oda_records: list[tuple[int, bytes]] = field(default_factory=list)
    oda_method: OdaMethod | None = None
    oda_failed: bool = False
    pdol_data: bytes = b""
    cdol1_data: bytes = b""
    issuer_key: IssuerPublicKey | None = None
    icc_key: IccPublicKey | None = None
    signature_required: bool = False
    pin_entered: str = "no"
    online_pin_block: bytes | None = None
    messages: list[int] = field(default_factory=list)
    # completion state (Book 3 10.8-10.11)
    online_response: OnlineResponse | None = None
    unable_to_go_online: bool = False
    script_results: bytearray = field(default_factory=bytearray)
    advice_required: bool = False

    # --- data store ---------------------------------------------------------

    def get(self, tag: int) -> bytes | None:
        if tag == 0x95:
            return bytes(self.tvr)
        if tag == 0x9B:
            return bytes(self.tsi)
        if tag == 0x9F34:
            return self.cvm_results
        return self.data.get(tag)

    def has(self, tag: int) -> bool:
        return self.get(tag) is not None

    def set_terminal(self, tag: int, value: bytes) -> None:
        self.data[tag] = value

    def snapshot(self) -> dict[int, bytes]:
        out = dict(self.data)
        out[0x95] = bytes(self.tvr)
        out[0x9B] = bytes(self.tsi)
        out[0x9F34] = self.cvm_results
        return out

    def store_icc_objects(self, objects: list[tlv.Tlv], where: str) -> None:
        """Keep card objects; duplicates of primitive objects terminate (Book 3 10.2)."""
        for obj in objects:
            element = dictionary.element(obj.tag)
            if element is not None and element.source is not Source.ICC:
                log.info("%s: ignoring %s from the card", where, dictionary.describe(obj.tag))
                continue
            if obj.tag in self.icc_tags and not obj.constructed:
                raise CardDataError(f"{where}: {tlv.tag_hex(obj.tag)} returned more than once")
            if obj.tag in STRICT_LENGTH_TAGS and not dictionary.length_ok(obj.tag, obj.value):
                raise CardDataError(
                    f"{where}: {tlv.tag_hex(obj.tag)} has invalid length {len(obj.value)}"
                )
            self.icc_tags.add(obj.tag)
            self.data[obj.tag] = obj.value

    def store_response_objects(self, objects: list[tlv.Tlv]) -> None:
        """Objects of a GENERATE AC / INTERNAL AUTHENTICATE response: latest value wins."""
        for obj in objects:
            self.icc_tags.add(obj.tag)
            self.data[obj.tag] = obj.value

    # --- conveniences -------------------------------------------------------

    @property
    def selected(self) -> SelectedApplication:
        if self.application is None:
            raise RuntimeError("no application selected yet")
        return self.application

    @property
    def aid_cfg(self) -> AidConfig:
        if self.aid_config is None:
            raise RuntimeError("no application selected yet")
        return self.aid_config

    @property
    def today(self) -> dt.date:
        return self.when.date()

    @property
    def languages(self) -> str:
        return (self.application.language if self.application else None) or ""

    def aip_has(self, byte: int, mask: int) -> bool:
        return bool(self.aip[byte] & mask)

    def set_tvr(self, *bits: TvrBit) -> None:
        self.tvr.set(*bits)

    def set_tsi(self, *bits: TsiBit) -> None:
        self.tsi.set(*bits)

    async def display(self, message: MessageId, *, amount: int | None = None) -> None:
        self.messages.append(int(message))
        await self.services.display(message, amount=amount, languages=self.languages)
