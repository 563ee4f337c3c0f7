"""A deliberately small scripted terminal for driving the virtual card in tests.

It is not the kernel: no TVR/TSI logic, no CVM list processing. It sends the
commands a terminal sends, checks every signature with tests/simulators/devices/odacheck.py
and every cryptogram with the issuer-side API (base.crypto.emv.IssuerCrypto)
and the committed issuer master key file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources

from base import tlv
from base.crypto import emv, pinblock
from simulators.devices import VirtualCard
from tests.simulators.devices import odacheck

PSE = b"1PAY.SYS.DDF01"
DEFAULTS = {
    0x9F02: bytes.fromhex("000000012345"),
    0x9F03: bytes(6),
    0x9F1A: bytes.fromhex("0643"),
    0x95: bytes(5),
    0x5F2A: bytes.fromhex("0643"),
    0x9A: bytes.fromhex("250115"),
    0x9C: b"\x00",
    0x9F37: bytes.fromhex("1A2B3C4D"),
    0x9F35: b"\x22",
    0x9F33: bytes.fromhex("E0F8C8"),
    0x9F34: bytes.fromhex("410302"),
    0x9F45: bytes(2),
    0x9F4C: bytes(8),
}


def ca_keys() -> dict[tuple[str, str], odacheck.Key]:
    pki = resources.files("simulators.devices.pki")
    doc = json.loads(pki.joinpath("ca-keys.json").read_text(encoding="utf-8"))
    keys = {}
    for entry in doc["keys"]:
        key = odacheck.Key(bytes.fromhex(entry["modulus"]), bytes.fromhex(entry["exponent"]))
        assert odacheck.key_checksum(entry["rid"], entry["index"], key) == entry["checksum"]
        keys[(entry["rid"], entry["index"])] = key
    return keys


class CardError(AssertionError):
    def __init__(self, sw: int) -> None:
        super().__init__(f"SW {sw:04X}")
        self.sw = sw


@dataclass
class ProbeTerminal:
    card: VirtualCard
    values: dict[int, bytes] = field(default_factory=lambda: dict(DEFAULTS))
    log: list[tuple[bytes, bytes]] = field(default_factory=list)
    # filled while the transaction goes on
    aid: bytes = b""
    fci: dict[int, bytes] = field(default_factory=dict)
    aip: bytes = b""
    afl: bytes = b""
    records: dict[int, list[bytes]] = field(default_factory=dict)
    data: dict[int, bytes] = field(default_factory=dict)
    pdol_data: bytes = b""
    icc_key: odacheck.Key | None = None
    cdol1_data: bytes = b""

    def send(self, capdu: bytes) -> tuple[bytes, int]:
        rapdu = self.card.transmit(capdu)
        self.log.append((capdu, rapdu))
        assert self.card.last_error is None, self.card.last_error
        assert len(rapdu) >= 2
        return rapdu[:-2], int.from_bytes(rapdu[-2:], "big")

    def ok(self, capdu: bytes) -> bytes:
        data, sw = self.send(capdu)
        if sw != 0x9000:
            raise CardError(sw)
        return data

    # --- selection ----------------------------------------------------------

    def pse_entries(self) -> list[dict[int, bytes]]:
        return self.directory(PSE)

    def directory(self, name: bytes) -> list[dict[int, bytes]]:
        """Book 1 12.3.2: select the DDF, read its directory records, follow
        DDF entries (9D) into nested directories."""
        fci = self.ok(bytes([0, 0xA4, 4, 0, len(name)]) + name + b"\x00")
        sfi = tlv.find(fci, 0x88)
        assert sfi is not None
        entries: list[dict[int, bytes]] = []
        number = 1
        while True:
            data, sw = self.send(bytes([0, 0xB2, number, sfi[0] << 3 | 4, 0]))
            if sw == 0x6A83:
                return entries
            assert sw == 0x9000
            for obj in tlv.decode(data)[0].children():
                assert obj.tag == 0x61
                entry = {c.tag: c.value for c in obj.children()}
                if 0x9D in entry:
                    entries.extend(self.directory(entry[0x9D]))
                    self.ok(bytes([0, 0xA4, 4, 0, len(name)]) + name + b"\x00")
                else:
                    entries.append(entry)
            number += 1

    def select(self, aid: bytes) -> int:
        data, sw = self.send(bytes([0, 0xA4, 4, 0, len(aid)]) + aid + b"\x00")
        if data:
            self.aid = aid
            self.fci = {o.tag: o.value for o in tlv.iter_primitives(data)}
        return sw

    def dol(self, dol: bytes) -> bytes:
        out = b""
        for tag, length in tlv.decode_dol(dol):
            value = self.values.get(tag, b"")
            out += value[:length].rjust(length, b"\x00")
        return out

    # --- read application data ----------------------------------------------------

    def gpo(self) -> None:
        pdol = self.fci.get(0x9F38)
        self.pdol_data = self.dol(pdol) if pdol else b""
        body = tlv.encode(0x83, self.pdol_data)
        data = self.ok(bytes([0x80, 0xA8, 0, 0, len(body)]) + body + b"\x00")
        top = tlv.decode(data)[0]
        if top.tag == 0x80:
            self.aip, self.afl = top.value[:2], top.value[2:]
        else:
            assert top.tag == 0x77
            inner = {o.tag: o.value for o in top.children()}
            self.aip, self.afl = inner[0x82], inner[0x94]
        self.values[0x82] = self.aip

    def read_records(self) -> None:
        for i in range(0, len(self.afl), 4):
            sfi, first, last = self.afl[i] >> 3, self.afl[i + 1], self.afl[i + 2]
            for number in range(first, last + 1):
                record = self.ok(bytes([0, 0xB2, number, sfi << 3 | 4, 0]))
                self.records.setdefault(sfi, []).append(record)
                for obj in tlv.iter_primitives(record):
                    self.data.setdefault(obj.tag, obj.value)

    @property
    def pan(self) -> str:
        return self.data[0x5A].hex().upper().rstrip("F")

    @property
    def psn(self) -> str:
        return self.data.get(0x5F34, b"\x00").hex()

    # --- offline data authentication ---------------------------------------------

    def static_data(self) -> bytes:
        return odacheck.static_data(self.records, self.afl, self.aip, self.data.get(0x9F4A, b""))

    def issuer_key(self) -> odacheck.Key:
        ca = ca_keys()[(self.aid[:5].hex().upper(), self.data[0x8F].hex().upper())]
        key, _expiry = odacheck.issuer_key(
            ca, self.data[0x90], self.data.get(0x92, b""), self.data[0x9F32], self.pan
        )
        return key

    def recover_icc_key(self) -> tuple[odacheck.Key, bytes]:
        key, expiry = odacheck.icc_key(
            self.issuer_key(),
            self.data[0x9F46],
            self.data.get(0x9F48, b""),
            self.data[0x9F47],
            self.pan,
            self.static_data(),
        )
        self.icc_key = key
        return key, expiry

    def sda(self) -> bytes:
        return odacheck.ssad_dac(self.issuer_key(), self.data[0x93], self.static_data())

    def dda(self) -> bytes:
        """INTERNAL AUTHENTICATE with the DDOL; returns the ICC dynamic number."""
        assert self.icc_key is not None
        ddol_data = self.dol(self.data[0x9F49])
        data = self.ok(bytes([0, 0x88, 0, 0, len(ddol_data)]) + ddol_data + b"\x00")
        top = tlv.decode(data)[0]
        sdad = top.value if top.tag == 0x80 else tlv.find(top.value, 0x9F4B)
        assert sdad is not None
        dynamic = odacheck.sdad_dynamic_data(self.icc_key, sdad, ddol_data)
        return dynamic[1 : 1 + dynamic[0]]

    # --- cardholder verification ------------------------------------------------------

    def verify_plain(self, pin: str) -> int:
        return self.send(bytes.fromhex("0020008008") + pinblock.encode_iso2(pin))[1]

    def verify_enciphered(self, pin: str, key: odacheck.Key, *, bad_un: bool = False) -> int:
        un = self.ok(bytes.fromhex("0084000000"))
        assert len(un) == 8
        if bad_un:
            un = bytes(8)
        n = len(key.modulus)
        block = b"\x7f" + pinblock.encode_iso2(pin) + un + b"\x55" * (n - 17)
        value = pow(
            int.from_bytes(block, "big"),
            int.from_bytes(key.exponent, "big"),
            int.from_bytes(key.modulus, "big"),
        )
        return self.send(bytes([0, 0x20, 0, 0x88, n]) + value.to_bytes(n, "big"))[1]

    # --- GENERATE AC ---------------------------------------------------------------

    def generate_ac(self, p1: int, cdol: bytes) -> dict[int, bytes]:
        """Send GENERATE AC; returns the response objects, with 9F26 filled in
        from the CDA signature (checked here) when the card signed."""
        data = self.dol(cdol)
        first = not self.cdol1_data
        if first:
            self.cdol1_data = data
        r = self.ok(bytes([0x80, 0xAE, p1, 0, len(data)]) + data + b"\x00")
        top = tlv.decode(r)[0]
        if top.tag == 0x80:
            v = top.value
            return {0x9F27: v[:1], 0x9F36: v[1:3], 0x9F26: v[3:11], 0x9F10: v[11:]}
        objs = top.children()
        out = {o.tag: o.value for o in objs}
        if 0x9F4B in out:
            assert self.icc_key is not None
            dynamic = odacheck.sdad_dynamic_data(self.icc_key, out[0x9F4B], self.values[0x9F37])
            idn_len = dynamic[0]
            cid, ac, tx_hash = (
                dynamic[1 + idn_len : 2 + idn_len],
                dynamic[2 + idn_len : 10 + idn_len],
                dynamic[10 + idn_len : 30 + idn_len],
            )
            hashed = self.pdol_data + self.cdol1_data + (b"" if first else data)
            hashed += b"".join(o.encode() for o in objs if o.tag != 0x9F4B)
            assert hashlib.sha1(hashed).digest() == tx_hash, "CDA transaction data hash"
            assert cid == out[0x9F27]
            out[0x9F26] = ac
        return out

    def ac_data(self, response: dict[int, bytes]) -> dict[int, bytes]:
        """The field-55 view of the cryptogram for the issuer."""
        data = {tag: self.values[tag] for tag in emv.AC_DATA_TAGS if tag in self.values}
        data[0x82] = self.aip
        data.update({t: response[t] for t in (0x9F36, 0x9F10, 0x9F26)})
        return data
