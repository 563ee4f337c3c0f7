"""The one XML reader: what it refuses (DTDs, entities, instructions, depth,
size), that it reads everything else as xmltodict and ElementTree read it on
their own, and that no other module of the product parses XML."""

from __future__ import annotations

import ast
import contextlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xmltodict
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from base.xmlread import (
    MAX_DEPTH,
    MAX_SIZE,
    XmlError,
    XmlForbidden,
    read_element,
    read_mapping,
)

ROOT = Path(__file__).resolve().parents[2]
READERS: list[Callable[..., Any]] = [read_mapping, read_element]

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<login><password>&lol9;</password></login>"""

FORBIDDEN = [
    BILLION_LAUGHS,
    b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
    b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>',
    b'<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>',
    b"<!DOCTYPE a><a/>",
    b"<?evil instruction?><a/>",
    b"<a><?evil instruction?></a>",
    b"<a>" * (MAX_DEPTH + 1) + b"</a>" * (MAX_DEPTH + 1),
    b"<a>" + b"<b/>" * 10 + b"<c>" * MAX_DEPTH + b"</c>" * MAX_DEPTH + b"</a>",
]

MALFORMED = [
    b"",
    b"not xml",
    b"<a>&undefined;</a>",
    b"<a><b></a>",
    b"<a/><b/>",
    b"<a>\xc3\x28</a>",
    b'<a n="1" n="2"/>',
    b"<a>\x00</a>",
]


@pytest.mark.parametrize("read", READERS)
@pytest.mark.parametrize("data", FORBIDDEN)
def test_forbidden(read: Callable[..., Any], data: bytes) -> None:
    with pytest.raises(XmlForbidden) as info:
        read(data)
    assert info.value.status == "formaterror"
    assert info.value.message.startswith("forbidden XML: ")
    assert "root:" not in info.value.message  # never echoes a file's content


@pytest.mark.parametrize("read", READERS)
@pytest.mark.parametrize("data", MALFORMED)
def test_malformed(read: Callable[..., Any], data: bytes) -> None:
    with pytest.raises(XmlError) as info:
        read(data)
    assert not isinstance(info.value, XmlForbidden)
    assert info.value.message.startswith("malformed XML: ")


@pytest.mark.parametrize("read", READERS)
def test_an_external_entity_is_never_read(read: Callable[..., Any], tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    data = f'<!DOCTYPE a [<!ENTITY x SYSTEM "{secret.as_uri()}">]><a>&x;</a>'.encode()
    with pytest.raises(XmlForbidden) as info:
        read(data)
    assert "TOP-SECRET" not in str(info.value)


@pytest.mark.parametrize("read", READERS)
def test_billion_laughs_fails_at_once(read: Callable[..., Any]) -> None:
    start = time.process_time()
    with pytest.raises(XmlForbidden, match="DOCTYPE"):
        read(BILLION_LAUGHS)
    assert time.process_time() - start < 0.1


@pytest.mark.parametrize("read", READERS)
def test_depth_limit_is_inclusive(read: Callable[..., Any]) -> None:
    read(b"<a>" * MAX_DEPTH + b"</a>" * MAX_DEPTH)
    read(b'<a n="1">' * MAX_DEPTH + b"x" + b"</a>" * MAX_DEPTH)


@pytest.mark.parametrize("read", READERS)
def test_size_limit(read: Callable[..., Any]) -> None:
    data = b"<a>" + b"x" * 100 + b"</a>"
    read(data, limit=len(data))
    with pytest.raises(XmlForbidden, match="more than"):
        read(data, limit=len(data) - 1)


@pytest.mark.parametrize("read", READERS)
def test_default_size_limit_and_none(read: Callable[..., Any]) -> None:
    data = b"<a>" + b"x" * MAX_SIZE + b"</a>"
    with pytest.raises(XmlForbidden, match="more than"):
        read(data)
    read(data, limit=None)  # the caller's framing bounded it


def test_declared_encoding_or_the_one_given() -> None:
    data = '<?xml version="1.0" encoding="windows-1251"?><a>ПРИВЕТ</a>'
    assert read_mapping(data.encode("cp1251")) == {"a": "ПРИВЕТ"}
    assert read_element(data.encode("cp1251")).text == "ПРИВЕТ"
    assert read_mapping(data.encode(), encoding="utf-8") == {"a": "ПРИВЕТ"}
    assert read_element(data.encode(), encoding="utf-8").text == "ПРИВЕТ"


# ------------------------- everything not refused reads as the libraries read it
_chars = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(
    " \n\t&<>'\""
)
_free_text = st.text(alphabet=_chars, max_size=12)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def _documents(draw: st.DrawFn, depth: int = 0) -> str:
    """Any element: attributes, text (escaped, CDATA, character references,
    whitespace), comments, and children that may repeat, nested."""
    name = draw(st.sampled_from(["a", "b", "c", "status", "x-y", "p:q"]))
    attrs = draw(st.dictionaries(st.sampled_from(["n", "v", "type"]), _free_text, max_size=2))
    pieces = [f"<{name}"]
    pieces += [f' {k}="{_xml_text(v).replace(chr(34), "&quot;")}"' for k, v in attrs.items()]
    kinds = ["text", "cdata", "ref", "comment"] + (["child"] * 3 if depth < 3 else [])
    content = draw(st.lists(st.sampled_from(kinds), max_size=5))
    if not content and draw(st.booleans()):
        return "".join(pieces) + "/>"
    pieces.append(">")
    for kind in content:
        if kind == "text":
            pieces.append(_xml_text(draw(_free_text)))
        elif kind == "cdata":
            pieces.append(f"<![CDATA[{draw(_free_text).replace(']]>', '')}]]>")
        elif kind == "ref":
            pieces.append(draw(st.sampled_from(["&#65;", "&#x42;", "&amp;", "&lt;", "&quot;"])))
        elif kind == "comment":
            pieces.append(f"<!--{draw(_free_text).replace('-', '')}-->")
        else:
            pieces.append(draw(_documents(depth + 1)))
    pieces.append(f"</{name}>")
    return "".join(pieces)


@settings(max_examples=300)
@given(_documents(), st.booleans())
def test_read_as_xmltodict_reads_it(document: str, declared: bool) -> None:
    data = (('<?xml version="1.0"?>\n' if declared else "") + document).encode()
    assert read_mapping(data) == xmltodict.parse(data)


@settings(max_examples=300)
@given(_documents(), st.booleans())
def test_read_as_elementtree_reads_it(document: str, declared: bool) -> None:
    assume(":" not in document)  # ElementTree reads a prefix as a namespace; the reader does not
    data = (('<?xml version="1.0"?>\n' if declared else "") + document).encode()
    ours, theirs = read_element(data), ET.fromstring(data)
    assert ET.tostring(ours) == ET.tostring(theirs)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_garbage_reads_or_raises_xml_error(data: bytes) -> None:
    for read in READERS:
        with contextlib.suppress(XmlError):
            read(data)


# ------------------------------------------------------------- the only one
# What parses XML: the standard library's parsers and their entry points,
# and the libraries built on them.
_PARSING_MODULES = {
    "xml.parsers.expat",
    "pyexpat",
    "xml.sax",
    "xml.dom.minidom",
    "xmltodict",
    "defusedxml",
}
_PARSING_NAMES = {
    "fromstring",
    "fromstringlist",
    "parse",
    "iterparse",
    "XMLParser",
    "XMLPullParser",
}


def _parses_xml(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name in _PARSING_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if module == "xml.sax.saxutils":  # escaping, for writers
                continue
            if module in _PARSING_MODULES or module.startswith(
                ("xml.sax", "xml.dom", "xml.parsers")
            ):
                found.append(module)
            elif module in ("xml.etree", "xml.etree.ElementTree"):
                found += [a.name for a in node.names if a.name in _PARSING_NAMES]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in _PARSING_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in ("ET", "ElementTree")
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_other_module_parses_xml() -> None:
    """Every outside document goes through base.xmlread (the writers may use
    the standard library's escaping and ElementTree's building)."""
    offenders = {}
    for package in ("base", "cardcore", "hal", "kernel", "acquirers", "tools"):
        for path in (ROOT / package).rglob("*.py"):
            if path == ROOT / "base" / "xmlread.py":
                continue
            found = _parses_xml(ast.parse(path.read_text()))
            if found:
                offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}


def test_the_check_finds_a_parser() -> None:
    sources = [
        "from xml.parsers import expat",
        "import xml.parsers.expat",
        "import xmltodict",
        "import xml.etree.ElementTree as ET\nET.fromstring(b'')",
        "from xml.etree.ElementTree import XMLParser",
        "from xml.sax import make_parser",
        "from xml.dom import minidom\nminidom.parseString('')",
    ]
    for source in sources:
        assert _parses_xml(ast.parse(source)), source
    for source in (
        "import xml.etree.ElementTree as ET\nET.tostring(x)",
        "from xml.sax.saxutils import escape",
    ):
        assert not _parses_xml(ast.parse(source)), source
