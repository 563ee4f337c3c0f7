# Strategy: the XML of the ECR manual («Формат данных») on a hardened expat.
# - Parsing drives expat directly and builds the body in xmltodict's shape
#   (text -> str, attributes '@name', text beside children '#text', a repeated
#   child -> list; whitespace stripped): the shape the rest of the code reads,
#   without a general-purpose converter's cost on every packet (the tests
#   check that xmltodict reads any document the same way).
# - The expat parser rejects any DOCTYPE outright (so no internal or external
#   entity can be declared: billion-laughs and XXE fail on the first
#   declaration, before expansion), never reads external parameter entities,
#   and bounds the element depth.
# - Text is UTF-8 whatever the declaration says (docs/protocol-decisions.md: the manual says
#   ASCII but its own examples carry Cyrillic).
# - Most packets are one root with plain leaf children (a command, its
#   parameters). Such a packet, in a strict subset of XML where nothing needs
#   expat (ASCII names, no references, CDATA, comments, declarations or
#   carriage returns), is read by one linear regular expression in C: the
#   callbacks of a parse cost more than all the rest of a small command.
#   Anything outside the subset, well-formed or not, goes to expat, so that
#   both readings agree wherever the fast one answers (tested).
# - A message is its root tag (the command or message name), the root's
#   attributes and its children; parameters may come either way
#   (`<transaction type="payment">` = `<transaction><type>payment</type>`).
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import IO, Any
from xml.parsers import expat

import msgspec
from msgspec.structs import astuple

from base.errors import CardcoreError

__all__ = [
    "MAX_DEPTH",
    "Body",
    "Message",
    "XmlError",
    "XmlWriter",
    "decode_error_stack",
    "decode_message",
    "encode_body",
    "encode_error_stack",
    "encode_message",
    "escape",
    "quoteattr",
]

MAX_DEPTH = 32

# A parsed body in xmltodict's shape: child name -> text | None | dict | list.
Body = dict[str, Any]


# Escaping as xml.sax.saxutils does it, whose module imports urllib.request
# and with it http.client and the email package: some 25 modules a server
# that never makes an HTTP request would carry from start-up (the tests hold
# these to saxutils' results).
def escape(text: str) -> str:
    """&, < and > as entities."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def quoteattr(text: str) -> str:
    """An attribute value, escaped and quoted."""
    text = escape(text).replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    return '"{}"'.format(text.replace('"', "&quot;"))


class XmlError(CardcoreError):
    """Malformed or forbidden XML."""


class _Forbidden(Exception):
    pass


def _forbid_declaration(*_args: object) -> None:
    raise _Forbidden("DOCTYPE and entity declarations are not allowed")


def _forbid_instruction(*_args: object) -> None:
    raise _Forbidden("processing instructions are not allowed")


def _no_external_entities(*_args: object) -> int:
    raise _Forbidden("external entities are not allowed")


def _ignore(_data: str) -> None:
    pass


def _parser() -> expat.XMLParserType:
    """An expat parser that refuses any DTD and reads text as UTF-8."""
    parser = expat.ParserCreate("utf-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _forbid_declaration
    parser.EntityDeclHandler = _forbid_declaration
    parser.UnparsedEntityDeclHandler = _forbid_declaration
    parser.ExternalEntityRefHandler = _no_external_entities
    parser.ProcessingInstructionHandler = _forbid_instruction
    # Everything else (comments, the XML declaration) is dropped, and no
    # entity reference is ever expanded.
    parser.DefaultHandler = _ignore
    parser.ordered_attributes = True
    parser.buffer_text = True
    return parser


class _Tree:
    """expat handlers building one document in xmltodict's shape."""

    __slots__ = ("data", "depth", "item", "stack")

    def __init__(self) -> None:
        self.item: dict[str, Any] | None = None
        self.data: list[str] = []
        self.stack: list[tuple[dict[str, Any] | None, list[str]]] = []
        self.depth = 0

    def start(self, _name: str, attrs: list[str]) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:  # protects the recursive code that walks a body
            raise _Forbidden(f"elements nested deeper than {MAX_DEPTH}")
        self.stack.append((self.item, self.data))
        self.item = {f"@{k}": v for k, v in zip(attrs[::2], attrs[1::2], strict=True)} or None
        self.data = []

    def end(self, name: str) -> None:
        self.depth -= 1
        text = ("".join(self.data).strip() or None) if self.data else None
        item = self.item
        self.item, self.data = self.stack.pop()
        if item is not None:
            if text:
                _push(item, "#text", text)
            self.item = _push(self.item, name, item)
        else:
            self.item = _push(self.item, name, text)

    def characters(self, data: str) -> None:
        self.data.append(data)


def _push(item: dict[str, Any] | None, key: str, value: Any) -> dict[str, Any]:
    """Add a child as xmltodict does: a repeated name becomes a list."""
    if item is None:
        return {key: value}
    if key in item:
        known = item[key]
        if type(known) is list:
            known.append(value)
        else:
            item[key] = [known, value]
    else:
        item[key] = value
    return item


def _parse(data: bytes) -> dict[str, Any] | None:
    parser, tree = _parser(), _Tree()
    parser.StartElementHandler = tree.start
    parser.EndElementHandler = tree.end
    parser.CharacterDataHandler = tree.characters
    parser.Parse(data, True)
    return tree.item


class Message(msgspec.Struct, frozen=True):
    """One packet: a command, a message, or an answer to either. (A msgspec
    struct: made in C, several times per command.)"""

    name: str
    body: Body = msgspec.field(default_factory=dict)
    attrs: Mapping[str, str] = msgspec.field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """Root attributes and children as one parameter mapping."""
        if not self.attrs:
            return dict(self.body)  # most commands: nothing to merge
        merged: dict[str, Any] = dict(self.attrs)
        for key, value in self.body.items():
            if key in merged and merged[key] != value:
                raise XmlError(
                    f"parameter '{key}' given as attribute and element with different values"
                )
            merged[key] = value
        return merged

    @property
    def status(self) -> str | None:
        value = self.body.get("status")
        return value if isinstance(value, str) else None


# The flat subset (see the strategy note). Every repetition is followed by a
# character it cannot match, so giving back what it took could never lead to
# a match: each is possessive (*+, ++), and a text outside the subset fails
# where it leaves it, without backtracking. Linear time.
_WS = r"[ \t\r\n]*+"  # whitespace between elements is dropped
_NAME = r"[A-Za-z_][A-Za-z0-9._-]*+"
# Leaf text: no markup, no reference, no carriage return (expat normalises
# line ends) and none of the characters XML forbids: [^<>&\x00-\x08\x0b-\x1f
# \ufffe\uffff], written as the characters it allows: re matches a positive
# class half as fast again, and leaf text is most of a packet (the tests hold
# both spellings to each other and the readings to expat's).
_LEAF = r"[\t\n -%'-;=?-\ufffd\U00010000-\U0010ffff]*+"
# Attribute values: no tab or line end either (expat normalises them to
# spaces). Written as what they refuse: they are short and rarely in a
# frequent packet, and a class spelled over nearly all of Unicode takes
# milliseconds to compile at every start.
_DOUBLE = r'[^"<&\x00-\x1f\ufffe\uffff]*+'
_SINGLE = r"[^'<&\x00-\x1f\ufffe\uffff]*+"
_VALUE = rf"""(?:"({_DOUBLE})"|'({_SINGLE})')"""
_FLAT_PATTERN = re.compile(
    rf"{_WS}<(?P<root>{_NAME})(?P<attrs>(?:[ \t\r\n]++{_NAME}{_WS}={_WS}{_VALUE})*+){_WS}>"
    rf"(?P<body>(?:{_WS}<(?P<leaf>{_NAME})>(?P<text>{_LEAF})</(?P=leaf)>)*+){_WS}</(?P=root)>{_WS}"
)
_FLAT = _FLAT_PATTERN.fullmatch
# The commonest packet, a root without attributes around one leaf (a token,
# an encrypted block), by a pattern without the general one's loops. It is
# tried first: on any other packet it fails by the end of the first leaf.
_ONE_LEAF_PATTERN = re.compile(rf"{_WS}<({_NAME})>{_WS}<({_NAME})>({_LEAF})</\2>{_WS}</\1>{_WS}")
_ONE_LEAF = _ONE_LEAF_PATTERN.fullmatch
# Splitting what the general pattern has matched (and so checked) into
# attributes and leaves needs no character classes again: its values hold
# no closing quote, its leaf texts no '<' (cheaper to compile and to run).
_FLAT_ATTR = re.compile(rf"""({_NAME}){_WS}={_WS}(?:"([^"]*+)"|'([^']*+)')""").findall
_FLAT_LEAF = re.compile(rf"<({_NAME})>([^<]*+)</\1>").findall


def _flat_message(data: bytes) -> Message | None:
    """The packet if it is in the flat subset, else None (expat reads it)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    one = _ONE_LEAF(text)
    if one is not None:
        root, leaf, value = one.groups()
        return Message(root, {leaf: value.strip() or None})
    match = _FLAT(text)
    if match is None:
        return None
    # All groups at once (one call); the attribute value groups are unused here.
    root, attrs_text, _, _, body_text, leaf, leaf_text = match.groups()
    attrs: dict[str, str] = {}
    if attrs_text:
        for name, double, single in _FLAT_ATTR(attrs_text):
            if name in attrs:
                return None  # a repeated attribute: expat's error to report
            attrs[name] = double or single
    body: Body = {}
    if body_text:
        if body_text.count("<") == 2:
            # One leaf (a token, an encrypted block): the match holds it
            # already (leaf text has no '<', so two are its two tags).
            body[leaf] = leaf_text.strip() or None
        else:
            for name, value in _FLAT_LEAF(body_text):
                _push(body, name, value.strip() or None)
    return Message(root, body, attrs)


def decode_message(data: bytes) -> Message:
    """Parse one packet. Raises XmlError for anything but one well-formed element."""
    flat = _flat_message(data)
    if flat is not None:
        return flat
    return _decode_tree(data)


def _decode_tree(data: bytes) -> Message:
    try:
        doc = _parse(data)
    except _Forbidden as exc:
        raise XmlError(f"forbidden XML: {exc}") from None
    except expat.ExpatError as exc:
        raise XmlError(f"malformed XML: {exc}") from None
    except (ValueError, UnicodeError) as exc:
        raise XmlError(f"malformed XML: {exc}") from None
    if not isinstance(doc, dict) or len(doc) != 1:
        raise XmlError("malformed XML: expected one root element")
    ((name, content),) = doc.items()
    attrs: dict[str, str] = {}
    body: Body = {}
    if isinstance(content, dict):
        for key, value in content.items():
            if key.startswith("@"):
                attrs[key[1:]] = value
            elif key == "#text":
                raise XmlError(f"unexpected text in <{name}>")
            else:
                body[key] = value
    elif content is not None:
        raise XmlError(f"unexpected text in <{name}>")
    return Message(name=name, body=body, attrs=attrs)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else _scalar(value)
    if "&" in text or "<" in text or ">" in text:
        return escape(text)
    return text


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# Layouts of elements whose children are all plain text leaves (a parameter
# list), by their names and indent: an answer of the same shape
# (getparameters' 32 fields) reuses the text around its values. A layout is
# that text in pieces, the element's own tags included, with a free slot for
# each value between them: filling the slots at once and joining costs half
# of `%` formatting.
_LAYOUTS: dict[tuple[str, ...], list[str | None]] = {}
_MAX_LAYOUTS = 256


def _layout(name: str, keys: Iterable[str], pad: str) -> list[str | None]:
    """The element ``name`` of text leaves ``keys``, a free slot for each value."""
    inner = pad + "  "
    layout: list[str | None] = []
    close = f"{pad}<{name}>\n"
    for key in keys:
        layout += (f"{close}{inner}<{key}>", None)
        close = f"</{key}>\n"
    layout.append(f"{close}{pad}</{name}>\n")
    return layout


def _plain_leaves(name: str, value: dict[str, Any], pad: str) -> str | None:
    """The element ``name`` if its children are all plain text leaves, laid
    out; None if any is not. Checking the joined values in C first is
    cheaper than a check per leaf."""
    values = list(value.values())
    try:
        text = "".join(values)
    except TypeError:  # not all strings
        return None
    if "&" in text or "<" in text or ">" in text:
        return None
    shape = (name, pad, *value)
    layout = _LAYOUTS.get(shape)
    if layout is None:
        keys = "".join(value)
        if "@" in keys or "#" in keys:
            return None  # attributes or text: the general layout
        layout = _layout(name, value, pad)
        if len(_LAYOUTS) < _MAX_LAYOUTS:
            _LAYOUTS[shape] = layout
    pieces: list[Any] = layout.copy()
    pieces[1::2] = values  # every slot filled
    return "".join(pieces)


# Layouts of msgspec structs (a fixed list of fields: getparameters' answer)
# by type, element name and indent; and the last text made from each, with
# the values it was made from (a struct polled again is mostly unchanged).
_STRUCT_LAYOUTS: dict[tuple[type, str, str], list[str | None]] = {}
_STRUCT_TEXTS: dict[tuple[type, str, str], tuple[tuple[str, ...], str]] = {}


def _struct(out: list[str], name: str, value: msgspec.Struct, pad: str) -> None:
    """A struct is the element of its fields, in their order, by their
    encoded names: laid out from its type when all are text without markup
    (the names need no look-up), else as the same mapping would be."""
    values = astuple(value)
    shape = (type(value), name, pad)
    last = _STRUCT_TEXTS.get(shape)
    if last is not None and last[0] == values:  # (only text values are kept)
        out.append(last[1])
        return
    try:
        text: str | None = "".join(values)
    except TypeError:  # not all strings
        text = None
    if text is None or "&" in text or "<" in text or ">" in text:
        _emit(out, name, dict(zip(value.__struct_encode_fields__, values, strict=True)), pad)
        return
    layout = _STRUCT_LAYOUTS.get(shape)
    if layout is None:
        layout = _layout(name, value.__struct_encode_fields__, pad)
        if len(_STRUCT_LAYOUTS) < _MAX_LAYOUTS:
            _STRUCT_LAYOUTS[shape] = layout
    pieces: list[Any] = layout.copy()
    pieces[1::2] = values  # every slot filled
    text = "".join(pieces)
    if shape in _STRUCT_LAYOUTS:
        _STRUCT_TEXTS[shape] = (values, text)
    out.append(text)


def _emit(out: list[str], name: str, value: Any, pad: str) -> None:
    """Serialise one element (xmltodict's shape: '@attr', '#text', lists repeat)."""
    kind = type(value)
    if kind is str:  # the common case first: this runs for every element
        if "&" in value or "<" in value or ">" in value:
            value = escape(value)
        out.append(f"{pad}<{name}>{value}</{name}>\n")
        return
    if kind is not dict and not isinstance(value, dict):
        if isinstance(value, (list, tuple)):  # the tuple form is the faster check
            for item in value:
                _emit(out, name, item, pad)
        elif isinstance(value, msgspec.Struct):
            _struct(out, name, value, pad)
        else:
            out.append(f"{pad}<{name}>{_text(value)}</{name}>\n")
        return
    if len(value) > 4:
        leaves = _plain_leaves(name, value, pad)
        if leaves is not None:
            out.append(leaves)
            return
    inner = pad + "  "
    attrs = ""
    text = None
    body: list[str] = []  # the children, laid out in the one pass over the dict
    for key, child in value.items():
        if key[0] == "@":
            attrs += f" {key[1:]}={quoteattr(_scalar(child))}"
        elif key == "#text":
            text = child
        elif type(child) is str and "&" not in child and "<" not in child and ">" not in child:
            body.append(f"{inner}<{key}>{child}</{key}>\n")  # the common leaf, inline
        else:
            _emit(body, key, child, inner)
    if not body:  # no children (an empty list has none either): text or empty
        text = "" if text is None else _text(text)
        out.append(f"{pad}<{name}{attrs}>{text}</{name}>\n" if text else f"{pad}<{name}{attrs}/>\n")
        return
    out.append(f"{pad}<{name}{attrs}>\n")
    out += body
    out.append(f"{pad}</{name}>\n")


def encode_body(
    name: str, body: Mapping[str, Any], attrs: Mapping[str, str] | None = None
) -> bytes:
    """Serialise a packet, indented for people reading traces; values are escaped."""
    content: Any = body  # the body as it is when there are no root attributes
    if attrs or type(body) is not dict:
        content = {f"@{k}": v for k, v in (attrs or {}).items()}
        content.update(body)
    out: list[str] = []
    _emit(out, name, content, "")
    out[-1] = out[-1][:-1]  # the packet ends with the root's closing tag, not a line end
    return "".join(out).encode("utf-8")


def encode_message(message: Message) -> bytes:
    return encode_body(message.name, message.body, message.attrs)


def open_tag(name: str, attrs: Mapping[str, str] | None = None) -> str:
    extra = "".join(f" {k}={quoteattr(_scalar(v))}" for k, v in (attrs or {}).items())
    return f"<{name}{extra}>"


class XmlWriter:
    """Writes a large packet piece by piece into a binary file, in exactly the
    layout encode_body gives the same content: for answers too large to hold
    (the full X-report), built in a worker thread into a spooled file."""

    def __init__(self, out: IO[bytes], depth: int = 0) -> None:
        self.out = out
        self.depth = depth

    @property
    def pad(self) -> str:
        return "  " * self.depth

    def open(self, name: str) -> None:
        self.out.write(f"{self.pad}<{name}>\n".encode())
        self.depth += 1

    def close(self, name: str) -> None:
        self.depth -= 1
        self.out.write(f"{self.pad}</{name}>\n".encode())

    def element(self, name: str, value: Any) -> None:
        out: list[str] = []
        _emit(out, name, value, self.pad)
        self.out.write("".join(out).encode("utf-8"))

    def text(self, text: str) -> None:
        """Pre-formatted lines (the caller escaped and indented them)."""
        self.out.write(text.encode("utf-8"))


def encode_error_stack(errors: list[str]) -> dict[str, list[str]]:
    """Each error is the upper-case HEX of its UTF-8 text (manual, «Команды»)."""
    return {"error": [text.encode("utf-8").hex().upper() for text in errors]}


def decode_error_stack(stack: Any) -> list[str]:
    """Readable texts of an error-stack element; undecodable entries are shown raw."""
    if not isinstance(stack, dict):
        return []
    entries = stack.get("error")
    if entries is None:
        return []
    if not isinstance(entries, list):
        entries = [entries]
    texts: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            continue
        try:
            texts.append(bytes.fromhex(entry).decode("utf-8"))
        except ValueError:
            texts.append(entry)
    return texts
