# Strategy: virtual card profiles are data (docs/conventions.md, 3). A profile
# is the personalisation of one card: the PSE and DDF directory files (EMV
# Book 1 section 12.2, Book 3 section 12.3), one or more applications with
# their FCI, GPO answer (Book 3 6.5.8), records by SFI, ICC master keys, RSA
# keys and PIN, and the card risk settings the emulator's card risk management
# reads. Everything the terminal can read is stored exactly as the card
# returns it (hex of BER-TLV); semantic facts (PAN, CDOLs, DDOL...) are taken
# back out of those bytes on load, so a corrupted record is corrupt everywhere.
# Files live in simulators/devices/profiles/*.json and are read with importlib.resources
# so an installed package finds them. Keys in them are TEST ONLY.
# Contactless cards (EMV Contactless Books A-D) add: the interfaces the card
# has, its ISO/IEC 14443-3 type A identity (UID, ATQA, SAK, ATS historical
# bytes), the PPSE '2PAY.SYS.DDF01' (Book B 3.3.2) and per application the
# contactless behaviour (qVSDC GPO with the cryptogram, or an EMV-mode single
# tap, CTQ, consumer-device CVM). MIFARE profiles are not EMV at all: only the
# RF identity, no application.
# The contact interface (ISO/IEC 7816-3) is a setting too: the protocols the
# ATR offers (T=0 alone by default, as most real contact payment cards) and
# whether the card's vpcd slot maps APDUs to T=0 TPDUs the way a CCID reader
# does (ISO/IEC 7816-3 12.2) or passes them unmapped (`t0_strict`).
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from base import tlv
from base.crypto import emv
from base.errors import CardcoreError
from hal.atr import AtrError, parse_atr
from simulators.devices.rsa import RsaError, RsaPrivateKey

__all__ = [
    "Application",
    "CardRisk",
    "ContactSettings",
    "ContactlessApp",
    "DirectoryFile",
    "Profile",
    "ProfileError",
    "RfParameters",
    "list_profiles",
    "load_profile",
    "load_profile_file",
]

PROFILE_FORMAT = 1
PROFILES_PACKAGE = "simulators.devices.profiles"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class ProfileError(CardcoreError):
    """Unknown or malformed virtual card profile."""


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ProfileError(f"{what} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise ProfileError(f"{what} is not hex") from exc


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProfileError(f"{what} must be an integer")
    return value


def _opt_int(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what)


@dataclass(frozen=True, slots=True)
class DirectoryFile:
    """A DDF: the PSE (1PAY.SYS.DDF01) or a nested directory."""

    name: bytes
    fci: bytes
    sfi: int
    records: tuple[bytes, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DirectoryFile:
        return cls(
            name=_hex(data["name"], "DDF name"),
            fci=_hex(data["fci"], "DDF FCI"),
            sfi=_int(data["sfi"], "DDF SFI"),
            records=tuple(_hex(r, "directory record") for r in data["records"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name.hex().upper(),
            "fci": self.fci.hex().upper(),
            "sfi": self.sfi,
            "records": [r.hex().upper() for r in self.records],
        }


INTERFACES = ("contact", "contactless")
# PC/SC part 3 3.1.3.2.3 card names of storage cards (SAK -> name bytes C0 C1).
_STORAGE_CARD_NAMES = {0x08: b"\x00\x01", 0x18: b"\x00\x02", 0x00: b"\x00\x03", 0x09: b"\x00\x26"}


def _pcsc_atr(body: bytes) -> bytes:
    tck = 0
    for b in body[1:]:
        tck ^= b
    return body + bytes([tck])


@dataclass(frozen=True, slots=True)
class RfParameters:
    """ISO/IEC 14443-3 type A identity of a contactless card.

    ``atqa`` holds the two ATQA bytes in the order they travel over the air
    (least significant byte first, ISO/IEC 14443-3 6.5.2): ATQA 0x0004 is
    ``04 00``, ATQA 0x0044 is ``44 00`` - the order of the ECR manual's
    ``smartcard`` descriptor. SAK b6 (0x20) set: the card speaks ISO/IEC
    14443-4 (APDUs); ``historical`` are the ATS historical bytes then.
    """

    uid: bytes
    atqa: bytes
    sak: int
    historical: bytes = b""

    @property
    def iso14443_4(self) -> bool:
        return bool(self.sak & 0x20)

    def pcsc_atr(self) -> bytes:
        """The ATR a PC/SC reader builds for the card (PC/SC part 3 3.1.3.2.3)."""
        if self.iso14443_4:
            hist = self.historical[:15]
            return _pcsc_atr(bytes([0x3B, 0x80 | len(hist), 0x80, 0x01]) + hist)
        name = _STORAGE_CARD_NAMES.get(self.sak, b"\x00\x00")
        body = bytes.fromhex("3B8F8001804F0CA000000306") + b"\x03" + name + bytes(4)
        return _pcsc_atr(body)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RfParameters:
        rf = cls(
            uid=_hex(data["uid"], "UID"),
            atqa=_hex(data["atqa"], "ATQA"),
            sak=_int(data["sak"], "SAK"),
            historical=_hex(data.get("historical", ""), "ATS historical bytes"),
        )
        if len(rf.uid) not in (4, 7, 10) or len(rf.atqa) != 2 or not 0 <= rf.sak <= 0xFF:
            raise ProfileError("UID is 4, 7 or 10 bytes, ATQA 2 bytes, SAK one byte")
        return rf

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid.hex().upper(),
            "atqa": self.atqa.hex().upper(),
            "sak": self.sak,
            "historical": self.historical.hex().upper(),
        }


ContactlessKind = Literal["qvsdc", "emv"]


@dataclass(frozen=True, slots=True)
class ContactlessApp:
    """How an application behaves over the contactless interface.

    kind: "qvsdc" - the Visa-style quick path (EMV Contactless Book C-3): GET
        PROCESSING OPTIONS takes the TTQ '9F66' in the PDOL and answers the
        cryptogram, the CTQ '9F6C' and, for an offline approval, the fDDA
        signature; "emv" - an EMV-mode single tap (Book C-2 style, and the
        Mir-style kernel): GPO, READ RECORD, one GENERATE AC, no second one.
    ctq: the card's base Card Transaction Qualifiers (qvsdc); the CVM bits
        are added per transaction from the TTQ.
    cdcvm: a consumer device (phone) that verifies the cardholder itself.
    see_phone: the device wants the cardholder to unlock it first: a GPO that
        needs a CVM answers '6986' once, then the next tap has CDCVM.
    online_pin: when the reader asks for a CVM, ask for online PIN (qvsdc).
    fdda: sign offline approvals with fDDA (qvsdc).
    gpo_refuses: GET PROCESSING OPTIONS answers '6985' (select next).
    """

    kind: ContactlessKind = "emv"
    ctq: bytes = b"\x20\x00"
    cdcvm: bool = False
    see_phone: bool = False
    online_pin: bool = False
    fdda: bool = True
    gpo_refuses: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContactlessApp:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ProfileError(f"unknown contactless settings {sorted(unknown)}")
        kind = data.get("kind", "emv")
        if kind not in ("qvsdc", "emv"):
            raise ProfileError("contactless kind must be qvsdc or emv")
        ctq = _hex(data.get("ctq", "2000"), "CTQ")
        if len(ctq) != 2:
            raise ProfileError("CTQ is 2 bytes")
        return cls(
            kind=kind,
            ctq=ctq,
            **{
                name: bool(data.get(name, getattr(cls, name)))
                for name in ("cdcvm", "see_phone", "online_pin", "fdda", "gpo_refuses")
            },
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ctq": self.ctq.hex().upper(),
            "cdcvm": self.cdcvm,
            "see_phone": self.see_phone,
            "online_pin": self.online_pin,
            "fdda": self.fdda,
            "gpo_refuses": self.gpo_refuses,
        }


@dataclass(frozen=True, slots=True)
class ContactSettings:
    """The contact interface of a card (ISO/IEC 7816-3).

    protocols: what a generated ATR offers, 0 (T=0) and/or 1 (T=1), the first
        used without PPS (8.2.3); a profile with an ATR of its own offers what
        that ATR says. Default T=0 alone: in the public ATR list (pcsc-tools'
        smartcard_list.txt) most contact Visa, Mastercard and Mir cards offer
        only T=0, some only T=1, none both.
    t0_strict: the card sits in a reader that passes APDUs to a T=0 card as
        they are: the Le of a case-4 command reaches the card, which answers
        '6700' (a TPDU is header, Lc, data: 12.2, case 4S). Default False: the reader
        maps APDUs to TPDUs (12.2) as CCID readers at APDU level do.
    """

    protocols: tuple[int, ...] = (0,)
    t0_strict: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContactSettings:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ProfileError(f"unknown contact settings {sorted(unknown)}")
        protocols = tuple(_int(p, "protocol") for p in data.get("protocols", [0]))
        if protocols not in ((0,), (1,), (0, 1)):
            raise ProfileError("contact protocols are [0], [1] or [0, 1]")
        return cls(protocols, bool(data.get("t0_strict", False)))

    def to_json(self) -> dict[str, Any]:
        return {"protocols": list(self.protocols), "t0_strict": self.t0_strict}


UnableOnline = Literal["approve", "decline", "limits"]


@dataclass(frozen=True, slots=True)
class CardRisk:
    """Card risk management settings (the card's side of Book 3 10.8 / 10.9).

    offline_limit: highest amount (minor units) the card approves offline in
        one transaction; None = no single-transaction limit.
    cumulative_offline_limit: highest sum of offline approvals since the last
        online one (GET DATA / PUT DATA 9F54); None = none.
    consecutive_offline_limit: offline approvals allowed in a row before the
        card asks to go online (GET DATA / PUT DATA 9F58); None = none.
    always_online: never approve offline (TC requested -> ARQC).
    always_decline: answer every GENERATE AC with an AAC.
    issuer_auth_required: after an ARQC, approve (TC) only when issuer
        authentication was performed and succeeded.
    unable_online: second GENERATE AC with ARC Y3/Z3: "approve", "decline" or
        "limits" (approve when the offline limits allow it).
    pin_blocked_online: go online when the PIN try counter is 0.
    new_card_online: go online while the card has never been online (9F13 = 0).
    international_online: go online when the terminal country (9F1A) differs
        from the issuer country (5F28).
    """

    offline_limit: int | None = None
    cumulative_offline_limit: int | None = None
    consecutive_offline_limit: int | None = None
    always_online: bool = False
    always_decline: bool = False
    issuer_auth_required: bool = False
    unable_online: UnableOnline = "limits"
    pin_blocked_online: bool = True
    new_card_online: bool = False
    international_online: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CardRisk:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ProfileError(f"unknown card risk settings {sorted(unknown)}")
        unable = data.get("unable_online", "limits")
        if unable not in ("approve", "decline", "limits"):
            raise ProfileError("unable_online must be approve, decline or limits")
        flags = {
            name: bool(data.get(name, False))
            for name in (
                "always_online",
                "always_decline",
                "issuer_auth_required",
                "new_card_online",
                "international_online",
            )
        }
        return cls(
            offline_limit=_opt_int(data.get("offline_limit"), "offline_limit"),
            cumulative_offline_limit=_opt_int(
                data.get("cumulative_offline_limit"), "cumulative_offline_limit"
            ),
            consecutive_offline_limit=_opt_int(
                data.get("consecutive_offline_limit"), "consecutive_offline_limit"
            ),
            unable_online=unable,
            pin_blocked_online=bool(data.get("pin_blocked_online", True)),
            **flags,
        )

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Application:
    """One EMV application (ADF) as personalised."""

    aid: bytes
    fci: bytes
    gpo_format: int
    aip: bytes
    afl: bytes
    gpo_extra: bytes
    files: Mapping[int, tuple[bytes, ...]]
    cryptogram_version: emv.CryptogramVersion
    dki: int
    icc_master_keys: emv.IccMasterKeys
    risk: CardRisk
    pin: str | None = field(default=None, repr=False)
    pin_try_limit: int = 3
    pin_try_counter: int = 3
    atc: int = 0
    last_online_atc: int = 0
    blocked: bool = False
    genac_format: int = 1
    internal_authenticate_format: int = 1
    script_mac_length: int = 8
    get_data: Mapping[int, bytes] = field(default_factory=dict)
    icc_key: RsaPrivateKey | None = None
    pin_key: RsaPrivateKey | None = None
    contactless: ContactlessApp | None = None

    @property
    def qvsdc(self) -> bool:
        return self.contactless is not None and self.contactless.kind == "qvsdc"

    @cached_property
    def data(self) -> dict[int, bytes]:
        """Every primitive data object of the FCI, the fixed GPO data and the
        records; first one wins."""
        found: dict[int, bytes] = {}
        files = (r for sfi in sorted(self.files) for r in self.files[sfi])
        sources = [self.fci, self.gpo_extra, *files]
        for source in sources:
            for obj in tlv.iter_primitives(source):
                found.setdefault(obj.tag, obj.value)
        return found

    def _dol(self, tag: int) -> list[tuple[int, int]]:
        raw = self.data.get(tag)
        return [] if raw is None else tlv.decode_dol(raw)

    @property
    def pdol(self) -> list[tuple[int, int]]:
        return self._dol(0x9F38)

    @property
    def cdol1(self) -> list[tuple[int, int]]:
        return self._dol(0x8C)

    @property
    def cdol2(self) -> list[tuple[int, int]]:
        return self._dol(0x8D)

    @property
    def pan(self) -> str:
        return self.data.get(0x5A, b"").hex().upper().rstrip("F")

    @property
    def psn(self) -> str:
        return self.data.get(0x5F34, b"\x00").hex()

    @property
    def label(self) -> str:
        return self.data.get(0x50, b"").decode("ascii", "replace")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Application:
        gpo = data["gpo"]
        crypto = data["cryptogram"]
        version = emv.VERSIONS.get(crypto["version"])
        if version is None:
            raise ProfileError(f"unknown cryptogram version {crypto['version']!r}")
        keys = crypto["icc_master_keys"]
        files = {
            _int(int(sfi), "SFI"): tuple(_hex(r, f"SFI {sfi} record") for r in records)
            for sfi, records in data["files"].items()
        }
        try:
            icc_key = RsaPrivateKey.from_json(data["icc_key"]) if data.get("icc_key") else None
            pin_key = RsaPrivateKey.from_json(data["pin_key"]) if data.get("pin_key") else None
        except RsaError as exc:
            raise ProfileError(str(exc)) from exc
        pin = data.get("pin")
        if pin is not None and not (isinstance(pin, str) and pin.isdigit() and 4 <= len(pin) <= 12):
            raise ProfileError("pin must be 4-12 digits")
        app = cls(
            aid=_hex(data["aid"], "AID"),
            fci=_hex(data["fci"], "FCI"),
            gpo_format=_int(gpo["format"], "GPO format"),
            aip=_hex(gpo["aip"], "AIP"),
            afl=_hex(gpo["afl"], "AFL"),
            gpo_extra=_hex(gpo.get("extra", ""), "GPO extra data"),
            files=files,
            cryptogram_version=version,
            dki=_int(crypto.get("dki", 1), "DKI"),
            icc_master_keys=emv.IccMasterKeys(
                ac=_hex(keys["ac"], "MK-AC"),
                smi=_hex(keys["smi"], "MK-SMI"),
                smc=_hex(keys["smc"], "MK-SMC"),
            ),
            script_mac_length=_int(crypto.get("script_mac_length", 8), "script MAC length"),
            risk=CardRisk.from_json(data.get("risk", {})),
            pin=pin,
            pin_try_limit=_int(data.get("pin_try_limit", 3), "pin_try_limit"),
            pin_try_counter=_int(data.get("pin_try_counter", 3), "pin_try_counter"),
            atc=_int(data.get("atc", 0), "atc"),
            last_online_atc=_int(data.get("last_online_atc", 0), "last_online_atc"),
            blocked=bool(data.get("blocked", False)),
            genac_format=_int(data.get("genac_format", 1), "genac_format"),
            internal_authenticate_format=_int(
                data.get("internal_authenticate_format", 1), "internal_authenticate_format"
            ),
            get_data={
                int(tag, 16): _hex(value, f"GET DATA {tag}")
                for tag, value in data.get("get_data", {}).items()
            },
            icc_key=icc_key,
            pin_key=pin_key,
            contactless=(
                ContactlessApp.from_json(data["contactless"]) if data.get("contactless") else None
            ),
        )
        app.validate()
        return app

    def validate(self) -> None:
        if self.gpo_format not in (1, 2):
            raise ProfileError("GPO format must be 1 or 2")
        if self.genac_format not in (1, 2) or self.internal_authenticate_format not in (1, 2):
            raise ProfileError("response formats must be 1 or 2")
        if len(self.aip) != 2 or not self.afl or len(self.afl) % 4:
            raise ProfileError("AIP is 2 bytes, AFL a non-empty multiple of 4")
        if not 5 <= len(self.aid) <= 16:
            raise ProfileError("AID must be 5-16 bytes")
        if not 0 <= self.pin_try_counter <= self.pin_try_limit <= 15:
            raise ProfileError("PIN try counter must be 0..limit<=15")
        if not 4 <= self.script_mac_length <= 8:
            raise ProfileError("script MAC length must be 4-8")
        for sfi in self.files:
            if not 1 <= sfi <= 30:
                raise ProfileError(f"SFI {sfi} out of range")
        try:
            _ = self.data, self.pdol, self.cdol1, self.cdol2
        except tlv.TlvError as exc:
            raise ProfileError(f"application {self.aid.hex().upper()}: {exc}") from exc
        for i in range(0, len(self.afl), 4):
            sfi, first, last = self.afl[i] >> 3, self.afl[i + 1], self.afl[i + 2]
            records = self.files.get(sfi, ())
            if first < 1 or last < first or last > len(records):
                raise ProfileError(f"AFL names records of SFI {sfi} that do not exist")
        if self.qvsdc:
            if 0x9F66 not in [tag for tag, _ in self.pdol]:
                raise ProfileError("a qVSDC application needs the TTQ (9F66) in its PDOL")
        elif not self.cdol1:
            raise ProfileError("CDOL1 (8C) is missing")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "aid": self.aid.hex().upper(),
            "fci": self.fci.hex().upper(),
            "blocked": self.blocked,
            "gpo": {
                "format": self.gpo_format,
                "aip": self.aip.hex().upper(),
                "afl": self.afl.hex().upper(),
                "extra": self.gpo_extra.hex().upper(),
            },
            "files": {
                str(sfi): [r.hex().upper() for r in records]
                for sfi, records in sorted(self.files.items())
            },
            "get_data": {f"{t:X}": v.hex().upper() for t, v in self.get_data.items()},
            "pin": self.pin,
            "pin_try_limit": self.pin_try_limit,
            "pin_try_counter": self.pin_try_counter,
            "atc": self.atc,
            "last_online_atc": self.last_online_atc,
            "genac_format": self.genac_format,
            "internal_authenticate_format": self.internal_authenticate_format,
            "cryptogram": {
                "version": self.cryptogram_version.name,
                "dki": self.dki,
                "script_mac_length": self.script_mac_length,
                "icc_master_keys": {
                    "warning": "TEST ONLY",
                    "ac": self.icc_master_keys.ac.hex().upper(),
                    "smi": self.icc_master_keys.smi.hex().upper(),
                    "smc": self.icc_master_keys.smc.hex().upper(),
                },
            },
            "risk": self.risk.to_json(),
            "icc_key": self.icc_key.to_json() if self.icc_key else None,
            "pin_key": self.pin_key.to_json() if self.pin_key else None,
        }
        if self.contactless is not None:
            out["contactless"] = self.contactless.to_json()
        return out


ProfileKind = Literal["emv", "mifare"]


@dataclass(frozen=True)
class Profile:
    """A virtual card: ``name``, human ``description`` and ``summary`` (the key
    facts for people and test tables; the emulator never reads it), the ATR,
    the PSE and other DDFs, and the applications.

    ``kind`` "mifare" is a non-EMV contactless card (no application, only its
    ``rf`` identity); ``interfaces`` says where the card can be presented;
    ``ppse`` is the contactless directory (its FCI lists the applications)."""

    name: str
    description: str
    applications: tuple[Application, ...]
    pse: DirectoryFile | None = None
    ddfs: tuple[DirectoryFile, ...] = ()
    atr: bytes | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    kind: ProfileKind = "emv"
    interfaces: tuple[str, ...] = ("contact",)
    rf: RfParameters | None = None
    ppse: DirectoryFile | None = None
    contact: ContactSettings = field(default_factory=ContactSettings)

    @property
    def contactless(self) -> bool:
        return "contactless" in self.interfaces

    @property
    def protocols(self) -> tuple[int, ...]:
        """The protocols the contact ATR offers, first the default one."""
        return parse_atr(self.atr).protocols if self.atr else self.contact.protocols

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        try:
            if data.get("format") != PROFILE_FORMAT:
                raise ProfileError(f"profile format must be {PROFILE_FORMAT}")
            kind = data.get("kind", "emv")
            if kind not in ("emv", "mifare"):
                raise ProfileError("profile kind must be emv or mifare")
            apps = tuple(Application.from_json(a) for a in data["applications"])
            if not apps and kind == "emv":
                raise ProfileError("a profile needs at least one application")
            if apps and kind == "mifare":
                raise ProfileError("a MIFARE profile has no EMV application")
            interfaces = tuple(str(i) for i in data.get("interfaces", ["contact"]))
            if not interfaces or any(i not in INTERFACES for i in interfaces):
                raise ProfileError(f"interfaces must be some of {INTERFACES}")
            rf = RfParameters.from_json(data["rf"]) if data.get("rf") else None
            if ("contactless" in interfaces) != (rf is not None):
                raise ProfileError("a contactless card needs its RF parameters, only it")
            if kind == "mifare" and interfaces != ("contactless",):
                raise ProfileError("a MIFARE card is contactless only")
            atr = _hex(data["atr"], "ATR") if data.get("atr") else None
            if atr is not None:
                try:
                    parse_atr(atr)
                except AtrError as exc:
                    raise ProfileError(f"ATR: {exc}") from exc
            contact = ContactSettings.from_json(data.get("contact") or {})
            if atr is not None and "protocols" in (data.get("contact") or {}):
                raise ProfileError("a profile with its own ATR offers what the ATR says")
            return cls(
                name=str(data["name"]),
                description=str(data.get("description", "")),
                applications=apps,
                pse=DirectoryFile.from_json(data["pse"]) if data.get("pse") else None,
                ddfs=tuple(DirectoryFile.from_json(d) for d in data.get("ddfs", [])),
                atr=atr,
                summary=dict(data.get("summary", {})),
                kind=kind,
                interfaces=interfaces,
                rf=rf,
                ppse=DirectoryFile.from_json(data["ppse"]) if data.get("ppse") else None,
                contact=contact,
            )
        except ProfileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProfileError(f"malformed profile: {exc!r}") from exc

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": PROFILE_FORMAT,
            "name": self.name,
            "warning": "TEST ONLY - virtual card for tests and simulator mode; every key "
            "and PIN in this file is public test material",
            "description": self.description,
            "summary": dict(self.summary),
            "atr": self.atr.hex().upper() if self.atr else None,
            "pse": self.pse.to_json() if self.pse else None,
            "ddfs": [d.to_json() for d in self.ddfs],
            "applications": [a.to_json() for a in self.applications],
        }
        if self.kind != "emv" or self.interfaces != ("contact",):
            out["kind"] = self.kind
            out["interfaces"] = list(self.interfaces)
            out["rf"] = self.rf.to_json() if self.rf else None
            out["ppse"] = self.ppse.to_json() if self.ppse else None
        if self.contact != ContactSettings():
            out["contact"] = self.contact.to_json()
        return out


def list_profiles(interface: str | None = None) -> list[str]:
    """Names of the bundled profiles, sorted; only those presentable on
    ``interface`` ("contact" or "contactless") when given."""
    root = resources.files(PROFILES_PACKAGE)
    names = sorted(
        entry.name[:-5]
        for entry in root.iterdir()
        if entry.name.endswith(".json") and _NAME.match(entry.name[:-5])
    )
    if interface is None:
        return names
    return [name for name in names if interface in _interfaces(name)]


@lru_cache(maxsize=256)
def _interfaces(name: str) -> tuple[str, ...]:
    entry = resources.files(PROFILES_PACKAGE) / f"{name}.json"
    data = json.loads(entry.read_text(encoding="utf-8"))
    return tuple(data.get("interfaces", ["contact"]))


def load_profile(name: str) -> Profile:
    """Load a bundled profile by name (see `list_profiles`)."""
    if not _NAME.match(name):
        raise ProfileError(f"invalid profile name {name!r}")
    entry = resources.files(PROFILES_PACKAGE) / f"{name}.json"
    if not entry.is_file():
        raise ProfileError(f"unknown virtual card profile {name!r}")
    return Profile.from_json(json.loads(entry.read_text(encoding="utf-8")))


def load_profile_file(path: str | Path) -> Profile:
    """Load a profile from a JSON file outside the package."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        return Profile.from_json(json.loads(text))
    except (OSError, json.JSONDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from exc
