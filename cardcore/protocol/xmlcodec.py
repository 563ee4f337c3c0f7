# Strategy: the XML of the ECR manual («Формат данных»).
# - Reading goes through the project's one hardened reader (base.xmlread:
#   xmltodict on an expat that refuses any DTD, entity or processing
#   instruction, with a depth limit), so the ECR refuses what every other
#   outside document is refused for. Its xmltodict shape (text -> str,
#   attributes '@name', text beside children '#text', a repeated child ->
#   list; whitespace stripped) is what the rest of the code reads; a
#   command's parameters are then converted by msgspec into their model
#   (cardcore.protocol.messages).
# - Text is UTF-8 whatever the declaration says (docs/protocol-decisions.md: the manual says
#   ASCII but its own examples carry Cyrillic).
# - A message is its root tag (the command or message name), the root's
#   attributes and its children; parameters may come either way
#   (`<transaction type="payment">` = `<transaction><type>payment</type>`).
# - Answers are written by this module, not by xmltodict.unparse: an answer
#   of the same shape as the last (getparameters' 32 fields, polled again
#   and again) reuses the text around its values, where a general writer
#   would lay out every field anew, and the writer streams the answers too
#   large to hold (the full X-report).
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import IO, Any

import msgspec
from msgspec.structs import astuple

from base.xmlread import MAX_DEPTH, XmlError, read_mapping

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


class Message(msgspec.Struct, frozen=True):
    """One packet: a command, a message, or an answer to either."""

    name: str
    body: Body = msgspec.field(default_factory=dict)
    attrs: Mapping[str, str] = msgspec.field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """Root attributes and children as one parameter mapping."""
        if not self.attrs:
            return dict(self.body)
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


def decode_message(data: bytes) -> Message:
    """Parse one packet. Raises XmlError for anything but one well-formed element."""
    # No size limit here: the frame decoder has held the packet to its
    # connection's limit (the server's max-packet, the client's for answers).
    doc = read_mapping(data, encoding="utf-8", limit=None)
    if doc is None or len(doc) != 1:
        raise XmlError("malformed XML: expected one root element")
    ((name, content),) = doc.items()
    if content is None:
        return Message(name)
    if type(content) is not dict:
        raise XmlError(f"unexpected text in <{name}>")
    if "#text" in content:
        raise XmlError(f"unexpected text in <{name}>")
    attrs: dict[str, str] = {}
    for key in [key for key in content if key[0] == "@"]:
        attrs[key[1:]] = content.pop(key)
    return Message(name, content, attrs)


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
# (getparameters' 32 fields, which a cash register polls) reuses the text
# around its values. A layout is that text in pieces, the element's own tags
# included, with a free slot for each value between them. At most
# _MAX_LAYOUTS shapes are kept, so that odd answers cannot grow the table.
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
    out; None if any is not (then the general layout, byte for byte the
    same, writes it)."""
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
    encoded names: laid out from its type when all are text without markup,
    else as the same mapping would be."""
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
    if kind is str:  # a text leaf
        if "&" in value or "<" in value or ">" in value:
            value = escape(value)
        out.append(f"{pad}<{name}>{value}</{name}>\n")
        return
    if kind is not dict and not isinstance(value, dict):
        if isinstance(value, (list, tuple)):  # a repeated element
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
    body: list[str] = []  # the children; attributes and text are known only after them
    for key, child in value.items():
        if key[0] == "@":
            attrs += f" {key[1:]}={quoteattr(_scalar(child))}"
        elif key == "#text":
            text = child
        elif type(child) is str and "&" not in child and "<" not in child and ">" not in child:
            body.append(f"{inner}<{key}>{child}</{key}>\n")  # a text leaf without markup
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
