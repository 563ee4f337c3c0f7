# Strategy: where every configuration key travels in the management
# server's documents (cardcore/provisioning/README.md: the terminal part in
# <epay>, and the parts the header includes), as one table read in both
# directions: `decode` turns the documents into a Config overlay (what
# updateconfiguration installs), `encode` turns an overlay into documents
# (the simulated server; the tests prove that every key survives the trip).
# - EMV data travels as EMV data, `<tag name="TAG">HEX</tag>`, in each data
#   element's own format: the terminal's (EMV Book 3 Annex A, Book 4 Annex A:
#   9F1C, 9F16, 9F15, 9F4E in the terminal part; 9F1A, 5F2A, 9F33, 9F40, 9F35
#   and the Data Exchange Tag List DF811E in <econf><terminal>) and each
#   application's (<econf><applications><application>: 9F06, 50, 87, 9F09,
#   9F1B; the TACs as Book C-2 writes them, DF8120 default, DF8121 denial,
#   DF8122 online, also read from the proprietary DF11/DF13/DF12 that public
#   terminal configurations use; DF01 ASI, DF14 default DDOL, 97 default
#   TDOL, DF15/DF17/DF16 random selection; contactless per Book B and C-2:
#   9F2A kernel id, DF8123 floor, DF8124 (DF8125 with on-device CVM)
#   transaction, DF8126 CVM limits,
#   9F66 TTQ, DF8112 Tags To Read). CA public keys keep the Book 2 11.2
#   fields with their checksum (<kconf><key rid index exponent checksum>).
# - Everything else is an element per section with kebab-case attributes,
#   and the manual's own names where it gives them ([JCONF]:
#   <interfaces><mifare enable="true"/>, data-exchange, settlement
#   cutover="true", host-key, bank-name, acquirer-tag).
# - A list lives in a container element of its own: when the container is
#   there, the list is exactly what it holds (an empty one clears it); when
#   it is not, the list is not the server's to set.
# - LOCAL_ONLY keys never come from a server, each with the reason.
# Whatever a document holds that no row reads is reported, not refused: a
# real server's documents carry more than this terminal uses.
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cardcore.config import find_key
from cardcore.provisioning import codecs as C
from cardcore.provisioning.errors import ProvisioningFormatError

__all__ = [
    "LOCAL_ONLY",
    "PARTS",
    "TABLE",
    "Each",
    "Row",
    "decode",
    "encode",
    "table_keys",
]

# The parts a document set consists of, their root element and their name in messages.
PARTS = {
    "terminal": ("terminal", "terminal part"),
    "cconf": ("cconf", "common part"),
    "econf": ("econf", "EMV part"),
    "kconf": ("kconf", "CA key part"),
}


@dataclass(frozen=True)
class Row:
    """One configuration key: the element at ``path`` below its part's root
    ('' the root itself; ET syntax, `host[@role='main']`) and, there, the
    attribute ``attr``, the EMV tag ``tag`` (``aliases``: other tags read
    for it), the element's ``text``, or a list of ``items`` child elements."""

    key: str
    part: str
    path: str
    codec: C.Codec = C.TEXT
    attr: str | None = None
    tag: str | None = None
    items: str | None = None
    text: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Each:
    """A list of tables (``key``): one ``element`` per entry in the
    container at ``path``; ``rows`` are relative to the entry."""

    key: str
    part: str
    path: str
    element: str
    rows: tuple[Row, ...]


def _attrs(part: str, path: str, section: str, *names: str, codec: C.Codec) -> list[Row]:
    return [Row(f"{section}.{name}", part, path, codec, attr=name) for name in names]


def _tag(key: str, tag: str, codec: C.Codec, *aliases: str) -> Row:
    return Row(key, "", "", codec, tag=tag, aliases=aliases)


def _switch(key: str, path: str) -> Row:
    return Row(key, "cconf", path, C.BOOL, attr="enable")


_APPLICATION = (
    _tag("aid", "9F06", C.HEX),
    _tag("label", "50", C.UTF8),
    _tag("partial-selection", "DF01", C.ASI),
    _tag("application-version", "9F09", C.HEX),
    _tag("tac-default", "DF8120", C.HEX, "DF11"),
    _tag("tac-denial", "DF8121", C.HEX, "DF13"),
    _tag("tac-online", "DF8122", C.HEX, "DF12"),
    _tag("floor-limit", "9F1B", C.binary_number(4)),
    _tag("random-selection-threshold", "DF15", C.bcd_number(6)),
    _tag("random-selection-target-percent", "DF17", C.binary_number(1)),
    _tag("random-selection-max-percent", "DF16", C.binary_number(1)),
    _tag("default-ddol", "DF14", C.HEX),
    _tag("default-tdol", "97", C.HEX),
    _tag("priority", "87", C.binary_number(1)),
    _tag("kernel-id", "9F2A", C.HEX),
    _tag("ctls-floor-limit", "DF8123", C.bcd_number(6)),
    _tag("ctls-transaction-limit", "DF8124", C.bcd_number(6)),
    _tag("ctls-transaction-limit-cdcvm", "DF8125", C.bcd_number(6)),
    _tag("ctls-cvm-limit", "DF8126", C.bcd_number(6)),
    _tag("ttq", "9F66", C.HEX),
    _tag("tags-to-read", "DF8112", C.TAG_LIST),
)

_CA_KEY = (
    Row("rid", "", "", attr="rid"),
    Row("index", "", "", attr="index"),
    Row("exponent", "", "", attr="exponent"),
    Row("checksum", "", "", attr="checksum"),
    Row("expiry", "", "", attr="expiry"),
    Row("modulus", "", "", text=True),
)

_HOST_KEY = (
    Row("name", "", "", attr="name"),
    Row("entry", "", "", C.INT, attr="entry"),
    Row("version", "", "", C.INT, attr="version"),
)


def _terminal_tag(key: str, tag: str, codec: C.Codec) -> Row:
    return Row(key, "terminal", "options/application", codec, tag=tag)


def _emv_tag(key: str, tag: str, codec: C.Codec) -> Row:
    return Row(key, "econf", "terminal", codec, tag=tag)


def _host(section: str, role: str, path: str) -> list[Row]:
    where = f"{path}/host[@role='{role}']"
    return [
        Row(f"{section}.{role}.host", "cconf", where, attr="address"),
        Row(f"{section}.{role}.port", "cconf", where, C.INT, attr="port"),
    ]


_SECONDS = C.FLOAT

TABLE: tuple[Row | Each, ...] = (
    # --- the terminal part: the merchant's identity (EMV Book 3 Annex A) -------------
    _terminal_tag("terminal.tid", "9F1C", C.UTF8),
    _terminal_tag("terminal.mid", "9F16", C.UTF8),
    _terminal_tag("terminal.mcc", "9F15", C.bcd_digits(4, 2)),
    _terminal_tag("terminal.merchant-name-location", "9F4E", C.UTF8),
    Row("terminal.header-lines", "terminal", "receipt/header", items="line"),
    Row("terminal.footer-lines", "terminal", "receipt/footer", items="line"),
    # --- the EMV part ------------------------------------------------------------------
    _emv_tag("terminal.currency", "5F2A", C.bcd_digits(3, 2)),
    _emv_tag("emv.country-code", "9F1A", C.bcd_number(2)),
    _emv_tag("emv.capabilities", "9F33", C.HEX),
    _emv_tag("emv.additional-capabilities", "9F40", C.HEX),
    _emv_tag("emv.terminal-type", "9F35", C.binary_number(1)),
    _emv_tag("emv.data-exchange-tags", "DF811E", C.TAG_LIST),
    Each("emv.aids", "econf", "applications", "application", _APPLICATION),
    # --- the CA key part (EMV Book 2 11.2) ----------------------------------------------
    Each("emv.ca-keys", "kconf", "", "key", _CA_KEY),
    # --- the common part ----------------------------------------------------------------
    Row("terminal.acquirer-id", "cconf", "acquirer", attr="id"),
    *_attrs("cconf", "acquirer", "acquirer", "dialect", "bank-name", "acquirer-tag",
            codec=C.TEXT),
    *_host("acquirer", "main", "acquirer"),
    *_host("acquirer", "mirror", "acquirer"),
    Row("acquirer.tls", "cconf", "acquirer", C.TLS, attr="tls"),
    *_attrs("cconf", "acquirer", "acquirer", "connect-timeout", "response-timeout",
            "retry-initial", "retry-max", codec=_SECONDS),
    *_attrs("cconf", "acquirer", "acquirer", "forced-refund", "forced-void", "forced-password",
            "partial-void", "partial-refund", codec=C.BOOL),
    Row("acquirer.manual-entry", "cconf", "acquirer/manual-entry", items="operation"),
    Row("acquirer.currencies", "cconf", "acquirer/currencies", items="currency"),
    Row("settlement.cutover", "cconf", "settlement", C.BOOL, attr="cutover"),
    Row("settlement.forced-settlement", "cconf", "settlement", C.BOOL, attr="force"),
    Row("provisioning.key-server-main", "cconf", "keyloader/host[@role='main']", attr="url"),
    Row("provisioning.key-server-mirror", "cconf", "keyloader/host[@role='mirror']", attr="url"),
    _switch("transaction.data-exchange", "data-exchange"),
    *_attrs("cconf", "transaction", "transaction", "detection-timeout", "pin-timeout",
            codec=_SECONDS),
    Row("transaction.languages", "cconf", "transaction", attr="languages"),
    _switch("interfaces.contact", "interfaces/contact"),
    _switch("interfaces.contactless", "interfaces/contactless"),
    _switch("interfaces.mifare", "interfaces/mifare"),
    _switch("interfaces.sbp", "interfaces/sbp"),
    *_attrs("cconf", "sbp", "sbp", "agent-url", "terminal-id", "merchant-id", "bank-name",
            "secret-key", codec=C.TEXT),
    *_attrs("cconf", "sbp", "sbp", "poll-interval", "connect-timeout", "request-timeout",
            "qr-lifetime", "refund-wait", codec=_SECONDS),
    Row("sbp.max-poll-errors", "cconf", "sbp", C.INT, attr="max-poll-errors"),
    Row("sbp.check-payload-sum", "cconf", "sbp", C.BOOL, attr="check-payload-sum"),
    *_attrs("cconf", "sbp/tls", "sbp.tls", "ca-file", "client-cert-file", "client-key-file",
            codec=C.TEXT),
    *_attrs("cconf", "sbp/tls", "sbp.tls", "verify", "check-hostname", codec=C.BOOL),
    # manual «Установка ключа хоста для SAM AV2»: the parameters in `host-key`, found by name
    Row("sam.driver", "cconf", "sam", attr="driver"),
    Row("sam.change-key", "cconf", "sam", attr="change-key"),
    Each("sam.host-key", "cconf", "sam/host-keys", "host-key", _HOST_KEY),
    # --- the terminal's own running, also manageable -----------------------------------
    *_attrs("cconf", "server", "server", "listen", codec=C.TEXT),
    *_attrs("cconf", "server", "server", "port", "activator-port", "max-packet",
            "max-connections", "max-connections-per-peer", "secure-keys", codec=C.INT),
    *_attrs("cconf", "server", "server", "idle-timeout", "frame-timeout", "answer-timeout",
            "keepalive-interval", codec=_SECONDS),
    Row("server.allowed-clients", "cconf", "server/allowed-clients", items="client"),
    *_attrs("cconf", "admin", "admin", "lockout-after", "scrypt-n", "max-tokens", codec=C.INT),
    *_attrs("cconf", "admin", "admin", "token-idle-timeout", "lockout-initial", "lockout-max",
            "confirm-timeout", codec=_SECONDS),
    *_attrs("cconf", "readers", "readers", "driver", "atqa-sak-apdu", codec=C.TEXT),
    *_attrs("cconf", "readers", "readers", "poll", "settle", codec=_SECONDS),
    Row("readers.contact", "cconf", "readers/contact", items="pattern"),
    Row("readers.contactless", "cconf", "readers/contactless", items="pattern"),
    Row("readers.exclude", "cconf", "readers/exclude", items="pattern"),
    Row("readers.sam", "cconf", "readers/sam", items="pattern"),
    Row("readers.pin-entry", "cconf", "readers", attr="pin-entry"),
    Row("log.level", "cconf", "log", attr="level"),
    Row("pinpad.driver", "cconf", "pinpad", attr="driver"),
    *_attrs("cconf", "pinpad", "pinpad", "vendor-id", "product-id", codec=C.INT),
    Row("pinpad.transfer-timeout", "cconf", "pinpad", _SECONDS, attr="transfer-timeout"),
    *_attrs("cconf", "provisioning", "provisioning", "activation-timeout",
            "activator-answer-timeout", "http-timeout", "poll-interval", codec=_SECONDS),
    Row("provisioning.max-document", "cconf", "provisioning", C.INT, attr="max-document"),
)  # fmt: skip

# Keys only the terminal's own file sets, and why.
LOCAL_ONLY: dict[str, str] = {
    **{
        f"device.{name}": "the device's identity: the server addresses the terminal by it"
        for name in ("serial-number", "model", "firmware-mcu", "firmware-boot", "sdk")
    },
    "provisioning.vendor-key-file": "the trust anchor that decides who may provision the terminal",
    "provisioning.allow-test-vendor-key": "the trust anchor, as vendor-key-file",
    "provisioning.software-update-command": "what the terminal runs is never the server's choice",
    "emv.simulator-ca-keys": "TEST ONLY CA keys, a bench's choice",
    "log.syslog-identifier": "how the system's log routes the lines is the image's choice",
    "log.syslog-facility": "as log.syslog-identifier",
    "pinpad.emulated": "an emulated PIN pad is TEST ONLY, a bench's choice",
    "pinpad.emulated-pin": "TEST ONLY, as pinpad.emulated",
    "pinpad.emulated-scheme": "TEST ONLY, as pinpad.emulated",
}


def table_keys() -> list[str]:
    """Every key the table carries; an entry of a list of tables as
    `list[].field` (`emv.aids[].ttq`)."""
    keys: list[str] = []
    for row in TABLE:
        if isinstance(row, Each):
            keys += [f"{row.key}[].{sub.key}" for sub in row.rows]
        else:
            keys.append(row.key)
    return keys


# --- documents from an overlay ---------------------------------------------------------

_STEP = re.compile(r"^([\w-]+)(?:\[@([\w-]+)='([^']*)'\])?$")
_MISSING = object()


def _get(data: Mapping[str, Any], key: str) -> Any:
    found, value = find_key(data, key)
    return value if found else _MISSING


def _element(root: ET.Element, path: str) -> ET.Element:
    """The element at ``path``, made (with its predicate's attribute) when missing."""
    element = root
    for step in filter(None, path.split("/")):
        found = element.find(step)
        if found is None:
            match = _STEP.match(step)
            if match is None:
                raise ValueError(f"bad path step {step!r}")
            name, attr, value = match.groups()
            found = ET.SubElement(element, name, {attr: value} if attr else {})
        element = found
    return element


def _put(element: ET.Element, row: Row, value: Any) -> None:
    if row.items is not None:
        if not isinstance(value, list):
            raise ValueError(f"{row.key}: {value!r} is not a list")
        for item in value:
            ET.SubElement(element, row.items).text = row.codec.encode(item)
    elif row.tag is not None:
        ET.SubElement(element, "tag", name=row.tag).text = row.codec.encode(value)
    elif row.attr is not None:
        element.set(row.attr, row.codec.encode(value))
    else:
        element.text = row.codec.encode(value)


def _overlay_keys(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for name, value in data.items():
        key = f"{prefix}{name}"
        if value is None:
            continue  # not set
        if isinstance(value, Mapping):
            yield from _overlay_keys(value, f"{key}.")
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            for item in value:
                yield from _overlay_keys(item, f"{key}[].")
        else:
            yield key


def encode(overlay: Mapping[str, Any]) -> dict[str, ET.Element]:
    """The parts (by name, see PARTS) that carry ``overlay``; a part nothing
    goes into is left out. ValueError for a key the documents do not carry
    (a local-only key, a key of no section) or a value they cannot."""
    carried = set(table_keys())
    lists = {row.key for row in TABLE if isinstance(row, Each)}
    for key in _overlay_keys(overlay):
        if key not in carried and key not in lists:
            why = LOCAL_ONLY.get(key, "no document carries it")
            raise ValueError(f"configuration key '{key}' cannot come from a server: {why}")
    roots = {part: ET.Element(tag) for part, (tag, _) in PARTS.items()}
    used: set[str] = set()
    for row in TABLE:
        value = _get(overlay, row.key)
        if value is _MISSING or value is None:
            continue
        used.add(row.part)
        container = _element(roots[row.part], row.path)
        if isinstance(row, Row):
            _put(container, row, value)
            continue
        for entry in value:
            element = ET.SubElement(container, row.element)
            for sub in row.rows:
                if entry.get(sub.key) is not None:
                    _put(element, sub, entry[sub.key])
    return {part: roots[part] for part in PARTS if part in used}


# --- an overlay from documents ---------------------------------------------------------


class _Reader:
    """Reads one part, remembering what it read (the rest is reported)."""

    def __init__(self, part: str, root: ET.Element) -> None:
        self.what = PARTS[part][1]
        self.root = root
        self.read_attrs: set[tuple[int, str]] = {(id(root), "name"), (id(root), "stage")}
        self.read_elements: set[int] = {id(root)}

    def fail(self, where: str, reason: str) -> ProvisioningFormatError:
        return ProvisioningFormatError(f"{self.what}: {where}: {reason}")

    def find(self, base: ET.Element, path: str) -> ET.Element | None:
        element: ET.Element | None = base
        for step in filter(None, path.split("/")):
            assert element is not None
            element = element.find(step)
            if element is None:
                return None
            self.read_elements.add(id(element))
            match = _STEP.match(step)
            if match is not None and match.group(2):
                self.read_attrs.add((id(element), match.group(2)))
        return element

    def _tags(self, element: ET.Element, names: tuple[str, ...]) -> str | None:
        found: list[tuple[str, ET.Element]] = []
        for child in element.findall("tag"):
            name = (child.get("name") or "").strip().upper()
            if name in names:
                found.append((name, child))
        if len(found) > 1:
            raise self.fail(f"<{element.tag}>", f"tag {found[0][0]} given more than once")
        if not found:
            return None
        name, child = found[0]
        self.read_elements.add(id(child))
        self.read_attrs.add((id(child), "name"))
        return child.text or ""

    def value(self, element: ET.Element, row: Row) -> Any:
        where = f"<{element.tag}>"
        try:
            if row.items is not None:
                items = element.findall(row.items)
                self.read_elements.update(id(item) for item in items)
                return [row.codec.decode(item.text or "") for item in items]
            if row.tag is not None:
                text = self._tags(element, (row.tag, *row.aliases))
                where = f"{where} tag {row.tag}"
                return _MISSING if text is None else row.codec.decode(text)
            if row.attr is not None:
                text = element.get(row.attr)
                where = f"{where} '{row.attr}'"
                if text is None:
                    return _MISSING
                self.read_attrs.add((id(element), row.attr))
                return row.codec.decode(text)
            return row.codec.decode((element.text or "").strip())
        except ValueError as exc:
            raise self.fail(where, f"{exc} ({row.key})") from None

    def unread(self) -> Iterator[str]:
        def walk(element: ET.Element, path: str) -> Iterator[str]:
            if id(element) not in self.read_elements:
                name = element.get("name") if element.tag == "tag" else None
                yield f"{path}[{name}]" if name else path
                return
            for attr in element.attrib:
                if (id(element), attr) not in self.read_attrs:
                    yield f"{path}@{attr}"
            for child in element:
                yield from walk(child, f"{path}/{child.tag}")

        yield from walk(self.root, self.root.tag)


def _set(overlay: dict[str, Any], key: str, value: Any) -> None:
    *sections, name = key.split(".")
    target = overlay
    for section in sections:
        target = target.setdefault(section, {})
    target[name] = value


def decode(parts: Mapping[str, ET.Element]) -> tuple[dict[str, Any], list[str]]:
    """The Config overlay (kebab-case keys) that ``parts`` (by name, see
    PARTS) carry, and what they hold that no key reads."""
    overlay: dict[str, Any] = {}
    readers = {part: _Reader(part, root) for part, root in parts.items() if part in PARTS}
    for row in TABLE:
        reader = readers.get(row.part)
        if reader is None:
            continue
        element = reader.find(reader.root, row.path)
        if element is None:
            continue
        if isinstance(row, Row):
            value = reader.value(element, row)
            if value is not _MISSING:
                _set(overlay, row.key, value)
            continue
        entries = []
        for entry in element.findall(row.element):
            reader.read_elements.add(id(entry))
            values = {sub.key: reader.value(entry, sub) for sub in row.rows}
            entries.append({k: v for k, v in values.items() if v is not _MISSING})
        _set(overlay, row.key, entries)
    unread = [name for reader in readers.values() for name in reader.unread()]
    return overlay, unread
