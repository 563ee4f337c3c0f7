# Strategy: the documents of the terminal-management server (issue 8) and
# their translation into a Config overlay (docs/architecture.md: the rest of the
# application reads only `terminal.config`). Sans-I/O: bytes in, typed values
# and a plain dict out; every defect is a ProvisioningFormatError naming the
# document, so a bad include never reaches the configuration.
# - Terminal part, GET {base}/terminals/{sn}:
#     <epay header="/common/header_{pack}"><ROOT name=".." stage="..">
#       <options><application><tag name="9F1C">HEX</tag>...</application></options>
#     </ROOT></epay>
#   with the terminal EMV data objects (EMV Book 3 Annex A): 9F1C Terminal
#   Identification (an, HEX of ASCII), 9F16 Merchant Identifier (ans), 9F15
#   Merchant Category Code (n4, BCD), 9F4E Merchant Name and Location (ans;
#   read as UTF-8 because the management servers send Cyrillic).
# - Header, GET {base}/common/header_{pack}:
#     <hconf><include root=".." name=".." stage=".." src="/common/{tag}_{id}"/>...</hconf>
# - Parts, GET {base}{src}: a document whose root tag, name and stage are the
#   include's. The roots this terminal understands: `cconf` (common part:
#   acquirer id and hosts, key-loader hosts, end-of-day options as
#   `<settlement cutover=".." force=".."/>`), `econf` (terminal EMV
#   parameters as tags, and the supported applications), `kconf` (payment
#   system CA public keys, EMV Book 2 11.2, checked against their SHA-1
#   checksum). Other roots are kept and shown but not interpreted.
# The wire shape of the terminal part and header follows the public code of a
# management server serving terminals with this application (Java package
# ru.shtrih.kds: repository/TerminalRepository.java keeps per-terminal
# "stage" and per-template "xml" and "name", tools/Reset.java the activator);
# the inner layout of cconf/econf/kconf is this project's own where that code
# leaves it open.
from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from base.xmlread import XmlError, read_element
from cardcore.provisioning.errors import ProvisioningFormatError

__all__ = [
    "KNOWN_ROOTS",
    "Include",
    "TerminalDocument",
    "parse_header",
    "parse_part",
    "parse_terminal",
    "translate",
]

KNOWN_ROOTS = ("cconf", "econf", "kconf")
_SRC = re.compile(r"^/common/[A-Za-z0-9_.-]+$")
_HEADER = re.compile(r"^/common/header_[A-Za-z0-9_.-]+$")
_NAME = re.compile(r"^[\w.\- ]{1,64}$")
_STAGE = re.compile(r"^[\w.\-:]{1,64}$")
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})*$")
_ROOT = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _parse(data: bytes, what: str) -> ET.Element:
    try:
        return read_element(data)
    except XmlError as exc:
        raise ProvisioningFormatError(f"{what}: {exc.message}") from None


def _attr(el: ET.Element, name: str, what: str, pattern: re.Pattern[str] | None = None) -> str:
    value = el.get(name)
    if value is None or not value.strip():
        raise ProvisioningFormatError(f"{what}: <{el.tag}> lacks '{name}'")
    value = value.strip()
    if pattern is not None and not pattern.match(value):
        raise ProvisioningFormatError(f"{what}: <{el.tag}> has an invalid '{name}'")
    return value


@dataclass(frozen=True)
class TerminalDocument:
    header: str
    root: str
    name: str
    stage: str
    element: ET.Element


@dataclass(frozen=True)
class Include:
    root: str
    name: str
    stage: str
    src: str


def parse_terminal(data: bytes) -> TerminalDocument:
    what = "terminal part"
    epay = _parse(data, what)
    if epay.tag != "epay":
        raise ProvisioningFormatError(f"{what}: root is <{epay.tag}>, expected <epay>")
    header = _attr(epay, "header", what, _HEADER)
    children = list(epay)
    if len(children) != 1:
        raise ProvisioningFormatError(f"{what}: <epay> must wrap exactly one element")
    part = children[0]
    if not _ROOT.match(part.tag):
        raise ProvisioningFormatError(f"{what}: invalid root <{part.tag}>")
    return TerminalDocument(
        header=header,
        root=part.tag,
        name=_attr(part, "name", what, _NAME),
        stage=_attr(part, "stage", what, _STAGE),
        element=part,
    )


def parse_header(data: bytes) -> list[Include]:
    what = "configuration header"
    root = _parse(data, what)
    if root.tag != "hconf":
        raise ProvisioningFormatError(f"{what}: root is <{root.tag}>, expected <hconf>")
    includes: list[Include] = []
    for el in root:
        if el.tag != "include":
            raise ProvisioningFormatError(f"{what}: unexpected <{el.tag}>")
        inc = Include(
            root=_attr(el, "root", what, _ROOT),
            name=_attr(el, "name", what, _NAME),
            stage=_attr(el, "stage", what, _STAGE),
            src=_attr(el, "src", what, _SRC),
        )
        if inc.root == "terminal" or any(i.root == inc.root for i in includes):
            raise ProvisioningFormatError(f"{what}: part <{inc.root}> included twice")
        includes.append(inc)
    return includes


def parse_part(data: bytes, include: Include) -> ET.Element:
    what = f"part {include.src}"
    el = _parse(data, what)
    if el.tag != include.root:
        raise ProvisioningFormatError(f"{what}: root <{el.tag}>, the header says <{include.root}>")
    if el.get("name") != include.name or el.get("stage") != include.stage:
        raise ProvisioningFormatError(f"{what}: name/stage differ from the header's")
    return el


# --- translation -------------------------------------------------------------


def _tags(parent: ET.Element | None, what: str) -> dict[str, bytes]:
    values: dict[str, bytes] = {}
    if parent is None:
        return values
    for el in parent.findall("tag"):
        name = _attr(el, "name", what).upper()
        text = (el.text or "").strip()
        if not re.match(r"^[0-9A-F]{2,8}$", name) or not _HEX.match(text):
            raise ProvisioningFormatError(f"{what}: tag {name} is not hex")
        values[name] = bytes.fromhex(text)
    return values


def _ascii(value: bytes, tag: str, what: str, limit: int) -> str:
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        raise ProvisioningFormatError(f"{what}: tag {tag} is not ASCII") from None
    if not text or len(text) > limit or not text.isprintable():
        raise ProvisioningFormatError(f"{what}: tag {tag} has an invalid value")
    return text


def _terminal_overlay(doc: TerminalDocument) -> dict[str, Any]:
    what = "terminal part"
    tags = _tags(doc.element.find("options/application"), what)
    for required in ("9F1C", "9F16"):
        if required not in tags:
            raise ProvisioningFormatError(f"{what}: tag {required} is missing")
    out: dict[str, Any] = {
        "tid": _ascii(tags["9F1C"], "9F1C", what, 16),
        "mid": _ascii(tags["9F16"], "9F16", what, 15).strip(),
    }
    if "9F15" in tags:
        mcc = tags["9F15"].hex()
        if len(mcc) != 4 or not mcc.isdigit():
            raise ProvisioningFormatError(f"{what}: tag 9F15 is not a 4-digit MCC")
        out["mcc"] = mcc
    if "9F4E" in tags:
        try:
            out["merchant-name-location"] = tags["9F4E"].decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ProvisioningFormatError(f"{what}: tag 9F4E is not text") from None
    return {"terminal": out}


def _port(el: ET.Element, what: str) -> int:
    text = _attr(el, "port", what)
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ProvisioningFormatError(f"{what}: invalid port")
    return int(text)


def _bool(text: str | None, what: str, default: bool) -> bool:
    if text is None:
        return default
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ProvisioningFormatError(f"{what}: '{text}' is not a boolean")


def _common_overlay(el: ET.Element) -> dict[str, Any]:
    what = "common part"
    overlay: dict[str, Any] = {}
    acquirer = el.find("acquirer")
    if acquirer is not None:
        terminal = {"acquirer-id": _attr(acquirer, "id", what, _NAME)}
        section: dict[str, Any] = {}
        for host in acquirer.findall("host"):
            role = _attr(host, "role", what)
            if role not in ("main", "mirror"):
                raise ProvisioningFormatError(f"{what}: acquirer host role '{role}'")
            section[role] = {"host": _attr(host, "address", what), "port": _port(host, what)}
        if "tls" in acquirer.attrib:
            section["tls"] = _bool(acquirer.get("tls"), what, False)
        if "dialect" in acquirer.attrib:
            section["dialect"] = _attr(acquirer, "dialect", what)
        if "bank-name" in acquirer.attrib:
            section["bank-name"] = acquirer.get("bank-name", "")
        overlay["terminal"] = terminal
        overlay["acquirer"] = section
    settlement = el.find("settlement")  # manual «Сверка итогов»: settlement cutover="true"
    if settlement is not None:
        overlay["settlement"] = {
            "cutover": _bool(settlement.get("cutover"), what, False),
            "forced-settlement": _bool(settlement.get("force"), what, False),
        }
    keyloader = el.find("keyloader")
    if keyloader is not None:
        prov: dict[str, Any] = {}
        for host in keyloader.findall("host"):
            role = _attr(host, "role", what)
            url = _attr(host, "url", what)
            if role not in ("main", "mirror") or not url.startswith("https://"):
                raise ProvisioningFormatError(f"{what}: key-loader host must be https main/mirror")
            prov[f"key-server-{role}"] = url
        overlay["provisioning"] = prov
    return overlay


def _int_attr(el: ET.Element, name: str, what: str, default: int) -> int:
    text = el.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise ProvisioningFormatError(f"{what}: '{name}' is not a number")
    return int(text)


def _hex_attr(el: ET.Element, name: str, what: str, default: str | None = None) -> str:
    text = el.get(name)
    if text is None:
        if default is None:
            raise ProvisioningFormatError(f"{what}: <{el.tag}> lacks '{name}'")
        return default
    if not _HEX.match(text):
        raise ProvisioningFormatError(f"{what}: '{name}' is not hex")
    return text.upper()


def _emv_overlay(el: ET.Element) -> dict[str, Any]:
    what = "EMV part"
    emv: dict[str, Any] = {}
    tags = _tags(el.find("terminal"), what)
    if "9F1A" in tags:
        emv["country-code"] = int(tags["9F1A"].hex())
    if "9F33" in tags:
        emv["capabilities"] = tags["9F33"].hex().upper()
    if "9F40" in tags:
        emv["additional-capabilities"] = tags["9F40"].hex().upper()
    if "9F35" in tags:
        emv["terminal-type"] = tags["9F35"][0] if len(tags["9F35"]) == 1 else -1
    aids = []
    for app in el.findall("application"):
        aid = _hex_attr(app, "aid", what)
        if not 5 <= len(aid) // 2 <= 16:
            raise ProvisioningFormatError(f"{what}: AID {aid} has an invalid length")
        aids.append(
            {
                "aid": aid,
                "label": app.get("label", ""),
                "partial-selection": _bool(app.get("partial-selection"), what, True),
                "application-version": _hex_attr(app, "version", what, "0096"),
                "tac-denial": _hex_attr(app, "tac-denial", what, "0010000000"),
                "tac-online": _hex_attr(app, "tac-online", what, "DC4004F800"),
                "tac-default": _hex_attr(app, "tac-default", what, "DC4000A800"),
                "floor-limit": _int_attr(app, "floor-limit", what, 0),
                "random-selection-threshold": _int_attr(app, "threshold", what, 0),
                "random-selection-target-percent": _int_attr(app, "target-percent", what, 0),
                "random-selection-max-percent": _int_attr(app, "max-target-percent", what, 0),
                "default-ddol": _hex_attr(app, "ddol", what, "9F3704"),
                "default-tdol": _hex_attr(app, "tdol", what, ""),
                "priority": _int_attr(app, "priority", what, 0),
            }
        )
    if not aids:
        raise ProvisioningFormatError(f"{what}: no applications")
    emv["aids"] = aids
    return {"emv": emv}


def _capk_overlay(el: ET.Element) -> dict[str, Any]:
    what = "CA key part"
    keys = []
    for key in el.findall("key"):
        rid = _hex_attr(key, "rid", what)
        index = _hex_attr(key, "index", what)
        exponent = _hex_attr(key, "exponent", what)
        modulus = (key.text or "").strip().upper()
        if len(rid) != 10 or len(index) != 2 or exponent not in ("03", "010001"):
            raise ProvisioningFormatError(f"{what}: key {rid}/{index} has an invalid header")
        if not _HEX.match(modulus) or not 64 <= len(modulus) // 2 <= 248:
            raise ProvisioningFormatError(f"{what}: key {rid}/{index} modulus is invalid")
        checksum = key.get("checksum")
        if checksum is None:
            raise ProvisioningFormatError(f"{what}: key {rid}/{index} has no checksum")
        digest = hashlib.sha1(  # noqa: S324 - EMV Book 2 11.2 defines SHA-1 here
            bytes.fromhex(rid + index + modulus + exponent)
        ).hexdigest()
        if digest.upper() != checksum.upper():
            raise ProvisioningFormatError(f"{what}: key {rid}/{index} checksum mismatch")
        entry: dict[str, Any] = {
            "rid": rid,
            "index": index,
            "modulus": modulus,
            "exponent": exponent,
            "checksum": checksum.upper(),
        }
        if key.get("expiry"):
            entry["expiry"] = key.get("expiry")
        keys.append(entry)
    return {"emv": {"ca-keys": keys}}


def _merge(into: dict[str, Any], add: dict[str, Any]) -> None:
    for key, value in add.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def translate(terminal: TerminalDocument, parts: dict[str, ET.Element]) -> dict[str, Any]:
    """The Config overlay (kebab-case keys) from the terminal part and the
    included parts, keyed by root."""
    overlay: dict[str, Any] = {}
    if "cconf" in parts:
        _merge(overlay, _common_overlay(parts["cconf"]))
    if "econf" in parts:
        _merge(overlay, _emv_overlay(parts["econf"]))
    if "kconf" in parts:
        _merge(overlay, _capk_overlay(parts["kconf"]))
    _merge(overlay, _terminal_overlay(terminal))
    return overlay
