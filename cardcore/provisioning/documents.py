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
#   Identification, 9F16 Merchant Identifier, 9F15 Merchant Category Code
#   (n4, BCD), 9F4E Merchant Name and Location (text read as UTF-8 because
#   the management servers send Cyrillic), and the receipt's header and
#   footer lines.
# - Header, GET {base}/common/header_{pack}:
#     <hconf><include root=".." name=".." stage=".." src="/common/{tag}_{id}"/>...</hconf>
# - Parts, GET {base}{src}: a document whose root tag, name and stage are the
#   include's. The roots this terminal understands: `cconf` (common part),
#   `econf` (terminal EMV parameters and the supported applications as EMV
#   tags), `kconf` (payment system CA public keys, EMV Book 2 11.2, checked
#   against their SHA-1 checksum). Other roots are kept and shown but not
#   interpreted. Where each configuration key goes is one table
#   (cardcore.provisioning.mapping), read both ways: `translate` here, and
#   `build` for a server that serves a configuration (the simulator).
# The wire shape of the terminal part and header follows the public code of a
# management server serving terminals with this application (Java package
# ru.shtrih.kds: repository/TerminalRepository.java keeps per-terminal
# "stage" and per-template "xml" and "name", tools/Reset.java the activator);
# the inner layout of cconf/econf/kconf is this project's own where that code
# leaves it open.
from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from base.xmlread import XmlError, read_element
from cardcore.provisioning import mapping
from cardcore.provisioning.errors import ProvisioningFormatError

__all__ = [
    "KNOWN_ROOTS",
    "Include",
    "TerminalDocument",
    "build",
    "parse_header",
    "parse_part",
    "parse_terminal",
    "translate",
]

log = logging.getLogger(__name__)

KNOWN_ROOTS = ("cconf", "econf", "kconf")
_SRC = re.compile(r"^/common/[A-Za-z0-9_.-]+$")
_HEADER = re.compile(r"^/common/header_[A-Za-z0-9_.-]+$")
_NAME = re.compile(r"^[\w.\- ]{1,64}$")
_STAGE = re.compile(r"^[\w.\-:]{1,64}$")
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


def translate(terminal: TerminalDocument, parts: Mapping[str, ET.Element]) -> dict[str, Any]:
    """The Config overlay (kebab-case keys) from the terminal part and the
    included parts, keyed by root. What no configuration key reads is logged."""
    overlay, unread = mapping.decode({**parts, "terminal": terminal.element})
    if unread:
        log.warning("configuration documents: not used by this terminal: %s", ", ".join(unread))
    return overlay


_NAMES = {"terminal": "terminal", "cconf": "common", "econf": "emv", "kconf": "ca_keys"}


def build(
    overlay: Mapping[str, Any], *, sn: str, pack: str, stages: Mapping[str, str]
) -> dict[str, bytes]:
    """The documents a server serves for ``overlay``, by path: the terminal
    part (/terminals/{sn}), the header and one include per other part, each
    named `{pack}_{what it is}` with its stage from ``stages`` (by part). The
    inverse of parse_* and translate; ValueError for what no document carries."""
    parts = mapping.encode(overlay)
    parts.setdefault("terminal", ET.Element("terminal"))
    header = ET.Element("hconf")
    out: dict[str, bytes] = {}
    for part, element in parts.items():
        element.set("name", f"{pack}_{_NAMES[part]}")
        element.set("stage", stages.get(part, "1"))
        if part == "terminal":
            continue
        src = f"/common/{part}_{pack}"
        ET.SubElement(header, "include", root=element.tag, name=element.get("name", ""),
                      stage=element.get("stage", ""), src=src)  # fmt: skip
        out[src] = ET.tostring(element, encoding="utf-8")
    epay = ET.Element("epay", header=f"/common/header_{pack}")
    epay.append(parts["terminal"])
    out[f"/terminals/{sn}"] = ET.tostring(epay, encoding="utf-8")
    out[f"/common/header_{pack}"] = ET.tostring(header, encoding="utf-8")
    return out
