# Strategy: the one reader for every XML document that comes from outside (the
# ECR packets, the management server's documents, the key server's answers),
# so that one set of rules guards all of them (docs/protocol-decisions.md:
# billion-laughs and XXE must fail fast, with `formaterror` on the ECR):
# - expat, with any DOCTYPE refused outright: no entity, internal or
#   external, can then be declared, so none is ever expanded or fetched;
#   external parameter entities are never read; processing instructions are
#   refused; comments are dropped. Only the five predefined entities and
#   character references remain.
# - Elements nest at most MAX_DEPTH deep (code that walks a document may
#   recurse), and a document is at most a given size: each caller passes its
#   own limit, or None when its framing has bounded the document already
#   (the ECR's packets, by the connection's packet limit, which for a
#   client's answers is far above MAX_SIZE: a full X-report).
# - Three shapes of the same reading, all on the one parser below:
#   xmltodict's mapping for the ECR (a command's parameters are a mapping,
#   converted by msgspec into its model); an ElementTree element for the
#   management documents (trees read by path); and an envelope, a root whose
#   one child holds only text, for the ECR's sealed packets (a root holding
#   one <encrypted> block), where a mapping would only be taken apart again.
# Defusedxml would give the same refusals for ElementTree, but neither a
# depth limit nor a parser that xmltodict can take: these few lines do both.
from __future__ import annotations

from typing import Any, Final, NamedTuple
from xml.etree import ElementTree as ET
from xml.parsers import expat

import xmltodict

from base.errors import CardcoreError

__all__ = [
    "MAX_DEPTH",
    "MAX_SIZE",
    "Envelope",
    "XmlError",
    "XmlForbidden",
    "read_element",
    "read_envelope",
    "read_mapping",
]

MAX_DEPTH: Final = 32
MAX_SIZE: Final = 1 << 20  # when the caller has no limit of its own


class XmlError(CardcoreError):
    """Malformed or forbidden XML."""


class XmlForbidden(XmlError):
    """XML that uses what is refused for safety (a DTD, an entity, a
    processing instruction) or exceeds the depth or size limit."""


class _Refused(Exception):
    """Raised inside expat's callbacks; XmlForbidden outside."""


class _NotEnvelope(Exception):
    """Raised inside expat's callbacks: the document is not an envelope."""


def _no_doctype(*_args: object) -> None:
    raise _Refused("DOCTYPE and entity declarations are not allowed")


def _no_entity(*_args: object) -> None:
    raise _Refused("entity declarations are not allowed")


def _no_external_entity(*_args: object) -> int:
    raise _Refused("external entities are not allowed")


def _no_instruction(*_args: object) -> None:
    raise _Refused("processing instructions are not allowed")


def _drop(_data: str) -> None:
    pass


def _parser(encoding: str | None = None, namespace_separator: str | None = None) -> Any:
    """An expat parser that refuses any DTD. ``encoding`` overrides the
    document's declaration when given."""
    parser = expat.ParserCreate(encoding, namespace_separator)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _no_doctype
    parser.EntityDeclHandler = _no_entity
    parser.UnparsedEntityDeclHandler = _no_entity
    parser.ExternalEntityRefHandler = _no_external_entity
    parser.ProcessingInstructionHandler = _no_instruction
    # Everything without a handler of its own (comments, the XML declaration)
    # is dropped, and no entity reference is ever expanded.
    parser.DefaultHandler = _drop
    return parser


class _HardenedExpat:
    """The expat module as xmltodict.parse takes it (its `expat` argument):
    its parsers come hardened."""

    ParserCreate = staticmethod(_parser)


def _too_deep(path: list[Any], key: str, value: Any) -> tuple[str, Any]:
    # xmltodict calls this for each element it closes (and each attribute and
    # text), with the path from the root to that element.
    if len(path) > MAX_DEPTH:
        raise _Refused(f"elements nested deeper than {MAX_DEPTH}")
    return key, value


def _check_size(data: bytes, limit: int | None) -> None:
    if limit is not None and len(data) > limit:
        raise XmlForbidden(f"forbidden XML: {len(data)} bytes, more than {limit}")


def _failed(exc: Exception) -> XmlError:
    if isinstance(exc, _Refused):
        return XmlForbidden(f"forbidden XML: {exc}")
    return XmlError(f"malformed XML: {exc}")


def _may_be_too_deep(data: bytes) -> bool:
    """Whether ``data`` may nest deeper than MAX_DEPTH: only with more start
    tags than that. Every tag begins with a '<', the byte 0x3C in whatever
    encoding expat reads (UTF-8, UTF-16, and the single-byte encodings, which
    expat takes only if they keep ASCII's markup characters where ASCII has
    them), so a document with no more than MAX_DEPTH of those bytes cannot."""
    return data.count(b"<") > MAX_DEPTH


def read_mapping(
    data: bytes, *, encoding: str | None = None, limit: int | None = MAX_SIZE
) -> dict[str, Any] | None:
    """The document in xmltodict's shape: {root: content}, where content is
    None, the text, or a mapping of children ('@name' for attributes, '#text'
    for text beside children, a repeated child as a list; whitespace
    stripped). None for a document without a root element."""
    _check_size(data, limit)
    # The depth check runs for each element, attribute and text; only a
    # document with enough tags to nest too deep needs it.
    check = _too_deep if _may_be_too_deep(data) else None
    try:
        doc: dict[str, Any] | None = xmltodict.parse(
            data, encoding=encoding, expat=_HardenedExpat, postprocessor=check
        )
    except (_Refused, expat.ExpatError, ValueError) as exc:  # (UnicodeError is a ValueError)
        raise _failed(exc) from None
    return doc


def read_element(
    data: bytes, *, encoding: str | None = None, limit: int | None = MAX_SIZE
) -> ET.Element:
    """The document as an ElementTree element (text and tails as written)."""
    _check_size(data, limit)
    builder = ET.TreeBuilder()
    parser = _parser(encoding)
    depth = 0

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise _Refused(f"elements nested deeper than {MAX_DEPTH}")
        builder.start(tag, attrs)

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(tag)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
        return builder.close()
    except (_Refused, expat.ExpatError, ValueError) as exc:
        raise _failed(exc) from None


class Envelope(NamedTuple):
    """A root element and the text of its one child (see read_envelope)."""

    name: str
    attrs: dict[str, str]
    text: str | None


def read_envelope(
    data: bytes, child: str, *, encoding: str | None = None, limit: int | None = MAX_SIZE
) -> Envelope | None:
    """The root's name, its attributes and the text of its one child ``child``,
    if that is all the document holds: the child without attributes or
    children of its own, nothing but whitespace beside it. The text is as
    read_mapping gives it (whitespace stripped, None when empty), so the
    envelope is read_mapping's {name: {'@attr': value, child: text}}.

    None for a document of any other shape. Reading stops where the shape
    breaks, so the rest of such a document is not yet checked: read it with
    read_mapping, which checks it all. Up to there the same rules hold as for
    every reading (the document nests two deep at most, within MAX_DEPTH)."""
    _check_size(data, limit)
    parser = _parser(encoding)
    root: list[Any] = []  # the root's name and attributes, once it opens
    pieces: list[str] = []  # the child's text
    depth = 0
    has_child = False

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth, has_child
        depth += 1
        if depth == 1:
            root.extend((name, attrs))
        elif depth == 2 and name == child and not attrs and not has_child:
            has_child = True
        else:
            raise _NotEnvelope

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    def characters(text: str) -> None:
        if depth == 2:
            pieces.append(text)
        elif text.strip():  # text beside the child
            raise _NotEnvelope

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except _NotEnvelope:
        return None
    except (_Refused, expat.ExpatError, ValueError) as exc:
        raise _failed(exc) from None
    if not has_child:
        return None
    return Envelope(root[0], root[1], "".join(pieces).strip() or None)
