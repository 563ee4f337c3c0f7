# Strategy: the XML of the ECR manual («Формат данных») on a hardened expat.
# - Parsing goes through xmltodict, but the expat parser it gets rejects any
#   DOCTYPE outright (so no internal or external entity can be declared:
#   billion-laughs and XXE fail on the first declaration, before expansion),
#   never reads external parameter entities, and bounds the element depth.
# - Text is UTF-8 whatever the declaration says (DESIGN.md: the manual says
#   ASCII but its own examples carry Cyrillic).
# - A message is its root tag (the command or message name), the root's
#   attributes and its children; parameters may come either way
#   (`<transaction type="payment">` = `<transaction><type>payment</type>`).
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

import xmltodict

from kernel.errors import CardcoreError

__all__ = [
    "MAX_DEPTH",
    "Body",
    "Message",
    "XmlError",
    "decode_error_stack",
    "decode_message",
    "encode_body",
    "encode_error_stack",
    "encode_message",
]

MAX_DEPTH = 32

# A parsed body in xmltodict's shape: child name -> text | None | dict | list.
Body = dict[str, Any]


class XmlError(CardcoreError):
    """Malformed or forbidden XML."""

    status = "formaterror"


class _Forbidden(Exception):
    pass


def _forbid(what: str) -> Callable[..., None]:
    def handler(*_args: object) -> None:
        raise _Forbidden(what)

    return handler


def _no_external_entities(*_args: object) -> int:
    raise _Forbidden("external entities are not allowed")


class _HardenedParser:
    """Wraps a pyexpat parser: no DTD, no entities, bounded depth.

    xmltodict assigns its own element handlers after creating the parser, so the
    depth check wraps them as they are set.
    """

    def __init__(self, encoding: str | None, namespace_separator: str | None) -> None:
        parser = expat.ParserCreate("utf-8", namespace_separator)
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = _forbid("DOCTYPE declarations are not allowed")
        parser.EntityDeclHandler = _forbid("entity declarations are not allowed")
        parser.UnparsedEntityDeclHandler = _forbid("entity declarations are not allowed")
        parser.ExternalEntityRefHandler = _no_external_entities
        parser.ProcessingInstructionHandler = _forbid("processing instructions are not allowed")
        object.__setattr__(self, "_parser", parser)
        object.__setattr__(self, "_depth", 0)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "StartElementHandler":
            inner_start = value

            def start(*args: Any) -> None:
                depth = self._depth + 1
                if depth > MAX_DEPTH:
                    raise _Forbidden(f"elements nested deeper than {MAX_DEPTH}")
                object.__setattr__(self, "_depth", depth)
                inner_start(*args)

            value = start
        elif name == "EndElementHandler":
            inner_end = value

            def end(*args: Any) -> None:
                object.__setattr__(self, "_depth", self._depth - 1)
                inner_end(*args)

            value = end
        elif name in ("EntityDeclHandler", "DefaultHandler", "DefaultHandlerExpand"):
            return  # ours stay in place
        setattr(self._parser, name, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


class _HardenedExpat:
    ExpatError = expat.ExpatError

    @staticmethod
    def ParserCreate(
        encoding: str | None = None, namespace_separator: str | None = None
    ) -> _HardenedParser:
        return _HardenedParser(encoding, namespace_separator)


@dataclass(frozen=True, slots=True)
class Message:
    """One packet: a command, a message, or an answer to either."""

    name: str
    body: Body = field(default_factory=dict)
    attrs: Mapping[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """Root attributes and children as one parameter mapping."""
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
    try:
        doc = xmltodict.parse(
            data,
            expat=_HardenedExpat,
            disable_entities=True,
            strip_whitespace=True,
        )
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


def _prepare(value: Any) -> Any:
    """Normalise answer values: ints and bools to text, None stays empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _prepare(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    return value


def encode_body(
    name: str, body: Mapping[str, Any], attrs: Mapping[str, str] | None = None
) -> bytes:
    content: dict[str, Any] = {f"@{k}": v for k, v in (attrs or {}).items()}
    content.update(_prepare(body))
    text: str = xmltodict.unparse(
        {name: content or None}, full_document=False, pretty=True, indent="  "
    )
    return text.encode("utf-8")


def encode_message(message: Message) -> bytes:
    return encode_body(message.name, message.body, message.attrs)


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
