"""The one XML reader: what it refuses (DTDs, entities, instructions, depth,
size), that it reads everything else as xmltodict and ElementTree read it on
their own (and an envelope as its mapping reads it), and that no other module
of the product parses XML."""

from __future__ import annotations

import ast
import contextlib
import functools
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xmltodict
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import base.xmlread
from base.xmlread import (
    MAX_DEPTH,
    MAX_SIZE,
    Envelope,
    XmlError,
    XmlForbidden,
    read_element,
    read_envelope,
    read_mapping,
)
from cardcore.protocol.status import Status, status_of

ROOT = Path(__file__).resolve().parents[2]
READERS: list[Callable[..., Any]] = [read_mapping, read_element]
# The envelope reader stops at a document of another shape (it returns None
# there), so it meets each refusal in the envelopes below instead.
ENVELOPE_READERS: list[Callable[..., Any]] = [
    *READERS,
    functools.partial(read_envelope, child="encrypted"),
]

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
    assert status_of(info.value) is Status.FORMAT_ERROR
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


# ------------------------------------------------------------- envelopes
ENVELOPE = b'<request n="1">\n  <encrypted>QUJD</encrypted>\n</request>'

FORBIDDEN_ENVELOPES = [
    b'<!DOCTYPE r [<!ENTITY x "QUJD">]><r><encrypted>&x;</encrypted></r>',
    b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r><encrypted>&x;</encrypted></r>',
    b'<!DOCTYPE r SYSTEM "http://example.invalid/r.dtd"><r><encrypted>QUJD</encrypted></r>',
    b"<?evil instruction?><r><encrypted>QUJD</encrypted></r>",
    b"<r><?evil instruction?><encrypted>QUJD</encrypted></r>",
    b"<r><encrypted>QU<?evil instruction?>JD</encrypted></r>",
    b"<r><encrypted>QUJD</encrypted><?evil instruction?></r>",
    b"<r><encrypted>QUJD</encrypted></r><?evil instruction?>",
]

MALFORMED_ENVELOPES = [
    b"<r><encrypted>QUJD</encrypted>",
    b"<r><encrypted>QUJD</r>",
    b"<r><encrypted>&undefined;</encrypted></r>",
    b"<r><encrypted>QU\xc3\x28JD</encrypted></r>",
    b"<r><encrypted>QUJD</encrypted></r><r/>",
    b"<r><encrypted>QUJD</encrypted></r>trailing",
    b'<r n="1" n="2"><encrypted>QUJD</encrypted></r>',
]


@pytest.mark.parametrize("read", ENVELOPE_READERS)
@pytest.mark.parametrize("data", FORBIDDEN_ENVELOPES)
def test_forbidden_envelope(read: Callable[..., Any], data: bytes) -> None:
    with pytest.raises(XmlForbidden) as info:
        read(data)
    assert info.value.message.startswith("forbidden XML: ")
    assert "root:" not in info.value.message


@pytest.mark.parametrize("read", ENVELOPE_READERS)
@pytest.mark.parametrize("data", MALFORMED_ENVELOPES)
def test_malformed_envelope(read: Callable[..., Any], data: bytes) -> None:
    with pytest.raises(XmlError) as info:
        read(data)
    assert not isinstance(info.value, XmlForbidden)
    assert info.value.message.startswith("malformed XML: ")


def test_an_envelope_is_its_root_attributes_and_text() -> None:
    assert read_envelope(ENVELOPE, "encrypted") == Envelope("request", {"n": "1"}, "QUJD")
    assert read_mapping(ENVELOPE) == {"request": {"@n": "1", "encrypted": "QUJD"}}
    assert read_envelope(b"<r><encrypted/></r>", "encrypted") == Envelope("r", {}, None)
    spread = b"<r><!-- c --><encrypted> QU<![CDATA[JD]]>&#x3d;<!--c--> </encrypted>\n</r>"
    assert read_envelope(spread, "encrypted") == Envelope("r", {}, "QUJD=")


@pytest.mark.parametrize(
    "data",
    [
        b"<r/>",
        b"<r>  </r>",
        b"<encrypted>QUJD</encrypted>",
        b"<r><other>QUJD</other></r>",
        b"<r><encrypted>QUJD</encrypted><encrypted>QUJD</encrypted></r>",
        b"<r><encrypted>QUJD</encrypted><other/></r>",
        b"<r><other/><encrypted>QUJD</encrypted></r>",
        b"<r>text<encrypted>QUJD</encrypted></r>",
        b"<r><encrypted>QUJD</encrypted>text</r>",
        b'<r><encrypted n="1">QUJD</encrypted></r>',
        b"<r><encrypted><b>QUJD</b></encrypted></r>",
        # Deeper than an envelope nests, and than MAX_DEPTH: not read as far.
        b"<r><encrypted>" + b"<a>" * MAX_DEPTH + b"</a>" * MAX_DEPTH + b"</encrypted></r>",
    ],
)
def test_any_other_shape_is_not_an_envelope(data: bytes) -> None:
    assert read_envelope(data, "encrypted") is None


def test_envelope_size_limit() -> None:
    read_envelope(ENVELOPE, "encrypted", limit=len(ENVELOPE))
    with pytest.raises(XmlForbidden, match="more than"):
        read_envelope(ENVELOPE, "encrypted", limit=len(ENVELOPE) - 1)
    with pytest.raises(XmlForbidden, match="more than"):
        read_envelope(b"<r><encrypted>" + b"Q" * MAX_SIZE + b"</encrypted></r>", "encrypted")


# --------------------------------------- the depth check, where it is needed
def _nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def test_the_depth_check_runs_only_where_a_document_may_be_too_deep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []

    def counted(path: list[Any], key: str, value: Any) -> tuple[str, Any]:
        calls.append(len(path))
        return key, value

    monkeypatch.setattr(base.xmlread, "_too_deep", counted)
    few = b"<a>" + b"<b/>" * (MAX_DEPTH - 1) + b"</a>"  # MAX_DEPTH + 1 '<'
    fewest = few.replace(b"<b/>", b"", 1)  # MAX_DEPTH
    read_mapping(fewest)
    assert calls == []
    read_mapping(few)
    assert calls


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be", "cp1251"])
def test_too_deep_is_refused_in_any_encoding(encoding: str) -> None:
    declared = f'<?xml version="1.0" encoding="{encoding[:6]}"?>'
    for depth, refused in ((MAX_DEPTH, False), (MAX_DEPTH + 1, True)):
        data = (declared + _nested(depth).decode()).encode(encoding)
        if encoding.startswith("utf-16"):
            data = b"\xff\xfe" + data if encoding.endswith("le") else b"\xfe\xff" + data
        for read in READERS:
            if refused:
                with pytest.raises(XmlForbidden, match="deeper"):
                    read(data)
            else:
                read(data)


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


@st.composite
def _envelopes(draw: st.DrawFn) -> str:
    """Envelopes, and documents one step from one: other children beside
    the child or in it, text beside it, attributes on it, comments."""
    root = draw(st.sampled_from(["r", "encrypted", "x-y"]))
    attrs = draw(st.dictionaries(st.sampled_from(["n", "v"]), _free_text, max_size=2))
    head = f"<{root}" + "".join(
        f' {k}="{_xml_text(v).replace(chr(34), "&quot;")}"' for k, v in attrs.items()
    )
    child_attr = draw(st.sampled_from(["", "", "", ' n="1"']))
    inner = draw(st.lists(_free_text.map(_xml_text) | _documents(2) | st.just("<!--c-->")))
    child = draw(
        st.sampled_from(["encrypted", "encrypted", "other"]).map(
            lambda name: f"<{name}{child_attr}>{''.join(inner)}</{name}>"
        )
    )
    around = draw(
        st.lists(st.sampled_from([" ", "\n  ", "<!--c-->", "text", "<b/>", child]), max_size=3)
    )
    pieces = [*around, child] if draw(st.booleans()) else [child, *around]
    return f"{head}>{''.join(pieces)}</{root}>"


@settings(max_examples=500)
@given(_envelopes() | _documents())
def test_an_envelope_reads_as_its_mapping(document: str) -> None:
    data = document.encode()
    try:
        envelope = read_envelope(data, "encrypted")
    except XmlError as exc:
        with pytest.raises(type(exc)):
            read_mapping(data)
        return
    if envelope is None:
        return
    content = {f"@{k}": v for k, v in envelope.attrs.items()} | {"encrypted": envelope.text}
    assert read_mapping(data) == {envelope.name: content}


def test_the_envelope_strategy_makes_envelopes() -> None:
    found = []

    @settings(max_examples=200)
    @given(_envelopes())
    def collect(document: str) -> None:
        found.append(read_envelope(document.encode(), "encrypted") is not None)

    collect()
    assert any(found) and not all(found)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_garbage_reads_or_raises_xml_error(data: bytes) -> None:
    for read in ENVELOPE_READERS:
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
    for package in ("base", "cardcore", "hal", "kernel", "acquirers", "simulators", "tools"):
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
