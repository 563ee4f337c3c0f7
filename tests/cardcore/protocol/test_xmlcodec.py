"""The hardened XML codec: parameters both ways, bombs, XXE, garbage."""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardcore.protocol.status import status_of
from cardcore.protocol.xmlcodec import (
    _DOUBLE,
    _LEAF,
    _SINGLE,
    MAX_DEPTH,
    Message,
    XmlError,
    _decode_tree,
    _flat_message,
    decode_error_stack,
    decode_message,
    encode_body,
    encode_error_stack,
    encode_message,
    escape,
    quoteattr,
)


def test_manual_login_example() -> None:
    message = decode_message(b"<login>\n  <password>12345678</password>\n</login>")
    assert message == Message("login", {"password": "12345678"})


def test_parameters_as_attributes_or_children() -> None:
    by_attr = decode_message(b'<transaction type="payment" force-sbp="true"/>')
    by_child = decode_message(
        b"<transaction><type>payment</type><force-sbp>true</force-sbp></transaction>"
    )
    assert by_attr.params() == by_child.params() == {"type": "payment", "force-sbp": "true"}


def test_parameters_are_a_copy() -> None:
    for message in (Message("a", {"b": "1"}), Message("a", {"b": "1"}, {"c": "2"})):
        message.params()["b"] = "changed"
        assert message.body == {"b": "1"}


def test_conflicting_attribute_and_child_is_an_error() -> None:
    message = decode_message(b'<t type="a"><type>b</type></t>')
    with pytest.raises(XmlError):
        message.params()


def test_xml_declaration_and_utf8() -> None:
    data = '<?xml version="1.0" encoding="UTF-8"?><display><msg>ОДОБРЕНО</msg></display>'
    assert decode_message(data.encode()).body == {"msg": "ОДОБРЕНО"}


def test_declared_encoding_is_ignored_text_is_utf8() -> None:
    data = '<?xml version="1.0" encoding="windows-1251"?><a><b>ПРИВЕТ</b></a>'.encode()
    assert decode_message(data).body == {"b": "ПРИВЕТ"}


def test_empty_command() -> None:
    assert decode_message(b"<resetpassword/>") == Message("resetpassword")


def test_nested_and_repeated_children() -> None:
    message = decode_message(
        b"<dex><kernel-tags><tag name='5A' value='12'/><tag name='9F02' value='34'/>"
        b"</kernel-tags></dex>"
    )
    tags = message.body["kernel-tags"]["tag"]
    assert [t["@name"] for t in tags] == ["5A", "9F02"]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<login><password>&lol9;</password></login>"""


@pytest.mark.parametrize(
    "data",
    [
        BILLION_LAUGHS,
        b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
        b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>',
        b'<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>',
        b"<a>&undefined;</a>",
        b"<?evil instruction?><a/>",
        b"<a>" * (MAX_DEPTH + 1) + b"</a>" * (MAX_DEPTH + 1),
        b"<a><b></a>",
        b"<a/><b/>",
        b"",
        b"not xml",
        b"<a>text</a>",
        b"<a>\xc3\x28</a>",
    ],
)
def test_rejected(data: bytes) -> None:
    with pytest.raises(XmlError) as info:
        decode_message(data)
    assert status_of(info.value) == "formaterror"
    assert "root:" not in info.value.message  # never echoes file content


def test_depth_limit_is_inclusive() -> None:
    depth = MAX_DEPTH
    message = decode_message(b"<a>" * depth + b"</a>" * depth)
    assert message.name == "a"


def test_encode_answer_with_error_stack_matches_manual() -> None:
    body = {
        "status": "connectionerror",
        "error-stack": encode_error_stack(["Host name is not found."]),
    }
    text = encode_body("loadmasterkeys", body).decode()
    assert "<error>486F7374206E616D65206973206E6F7420666F756E642E</error>" in text
    assert decode_error_stack(decode_message(text.encode()).body["error-stack"]) == [
        "Host name is not found."
    ]


def test_error_stack_is_upper_hex_of_utf8() -> None:
    assert encode_error_stack(["Ошибка"]) == {"error": ["D09ED188D0B8D0B1D0BAD0B0"]}
    assert decode_error_stack({"error": "4F4B"}) == ["OK"]
    assert decode_error_stack(None) == []


@given(st.text(st.sampled_from([*"ab &<>\"'\n\r\t;#"])))
def test_escaping_is_saxutils(text: str) -> None:
    from xml.sax import saxutils

    assert escape(text) == saxutils.escape(text)
    assert quoteattr(text) == saxutils.quoteattr(text)


def test_encode_escapes_markup() -> None:
    raw = encode_message(Message("a", {"b": "<x>&</x>"}, {"c": '"q"'}))
    assert decode_message(raw) == Message("a", {"b": "<x>&</x>"}, {"c": '"q"'})


@pytest.mark.parametrize("odd", ["<x>", "a&b", "1>0", None, ["l1", "l2"], {"n": "1"}])
def test_a_long_list_of_leaves_is_laid_out_as_any_other(odd: object) -> None:
    """Many plain leaves are laid out at once; one odd child (markup, no
    text, a list, a child of its own) or an attribute must not change a byte."""
    leaves: dict[str, object] = {f"p{i}": f"v{i}" for i in range(8)}
    leaves["p5"] = odd
    raw = encode_body("r", {"parameters": leaves})
    head, tail = "<r>\n  <parameters>\n", "  </parameters>\n</r>"
    one_by_one = "".join(
        encode_body("r", {"parameters": {key: value}}).decode()[len(head) : -len(tail)]
        for key, value in leaves.items()
    )
    assert raw.decode() == head + one_by_one + tail
    assert decode_message(raw).body["parameters"] == leaves
    plain = {f"p{i}": f"v{i}" for i in range(8)}
    with_attribute = encode_body("r", {"parameters": {"@n": "1", **plain}}).decode()
    assert with_attribute.startswith('<r>\n  <parameters n="1">\n    <p0>v0</p0>\n')
    for _ in range(2):  # the layout made once, and reused
        percent = encode_body("r", {"parameters": {**plain, "p%s": "%d%%", "p7": "%s"}}).decode()
        assert "    <p7>%s</p7>\n    <p%s>%d%%</p%s>\n  </parameters>" in percent


class _Fields(msgspec.Struct, rename="kebab"):
    first: object = "a"
    second_field: object = "b"
    third: object = "c"


@pytest.mark.parametrize("odd", ["plain", "<x>", "a&b", "1>0", None, 7, ["l1", "l2"]])
def test_a_struct_is_laid_out_as_its_fields_mapping(odd: object) -> None:
    """A struct is its encoded fields in order, byte for byte as the same
    mapping; a field that is not plain text takes the general layout."""
    mapping = {"first": "a", "second-field": odd, "third": "c"}
    for _ in range(2):  # the layout is made once, then reused
        value = _Fields(second_field=odd)
        pairs = (
            ({"status": "ok", "parameters": value}, {"status": "ok", "parameters": mapping}),
            ({"outer": {"parameters": value}}, {"outer": {"parameters": mapping}}),  # indented
        )
        for body, same in pairs:
            assert encode_body("r", body) == encode_body("r", same)
    other = _Fields(first="x")  # the same layout, another value
    decoded = decode_message(encode_body("r", {"p": other})).body["p"]
    assert decoded == {"first": "x", "second-field": "b", "third": "c"}


def test_a_struct_encoded_again_follows_every_change() -> None:
    # (the last text of each struct shape is kept with the values it came from)
    names = _Fields.__struct_encode_fields__
    changes: list[dict[str, object]] = [{}, {"third": "d"}, {"first": "A"}, {}, {"third": 3}, {}]
    for fields in changes * 2:
        value = _Fields(**fields)
        same = dict(zip(names, msgspec.structs.astuple(value), strict=True))
        assert encode_body("r", {"p": value}) == encode_body("r", {"p": same})


_names = st.from_regex(r"[a-z][a-z0-9-]{0,11}", fullmatch=True)
_texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(lambda t: t.strip() == t)
_bodies = st.dictionaries(_names, _texts | st.lists(_texts, min_size=2, max_size=3), max_size=6)


@given(_names, _bodies, st.dictionaries(_names, _texts, max_size=3))
def test_roundtrip(name: str, body: dict[str, object], attrs: dict[str, str]) -> None:
    message = Message(name, body, attrs)
    assert decode_message(encode_message(message)) == message


@given(st.binary(max_size=300))
def test_garbage_decodes_or_raises_xml_error(data: bytes) -> None:
    try:
        message = decode_message(data)
    except XmlError:
        return
    assert isinstance(message.name, str)


# ------------------------------------------------------- the shape is xmltodict's
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
    name = draw(st.sampled_from(["a", "b", "c", "status", "x-y"]))
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
def test_parse_shape_is_xmltodicts(document: str, declared: bool) -> None:
    import xmltodict

    from cardcore.protocol.xmlcodec import _parse

    data = (('<?xml version="1.0"?>\n' if declared else "") + document).encode()
    assert _parse(data) == xmltodict.parse(data, disable_entities=True, strip_whitespace=True)


# ------------------------------------- the flat reading agrees with expat's
def test_plain_commands_take_the_flat_reading() -> None:
    assert _flat_message(b"<getparameters>\n  <token>0A1B</token>\n</getparameters>") == Message(
        "getparameters", {"token": "0A1B"}
    )
    assert (
        _flat_message(
            b"<login client-handshake='AwAX'>\n<password>12345678</password><a>1</a><a/></login>"
        )
        is None
    )  # an empty-element leaf is expat's
    assert _flat_message(
        b"<login client-handshake='AwAX'><password> 1 </password><a>1</a><a></a></login>"
    ) == Message("login", {"password": "1", "a": ["1", None]}, {"client-handshake": "AwAX"})
    assert _flat_message(b'<a n="1" n="1"></a>') is None  # expat's error to report


def test_flat_groups_are_where_the_reader_unpacks_them() -> None:
    # _flat_message takes match.groups() by position.
    from cardcore.protocol.xmlcodec import _FLAT_PATTERN as pattern

    assert pattern.groups == 7
    assert pattern.groupindex == {"root": 1, "attrs": 2, "body": 5, "leaf": 6, "text": 7}


@pytest.mark.parametrize(
    "packet",
    [
        "<getparameters>\n  <token>0A1B</token>\n</getparameters>",
        "<getparameters>\n  <encrypted>ZP/q+Tg=</encrypted>\n</getparameters>",
        "<encrypted-data>\n  <token> 0A1B </token>\n</encrypted-data>\n",
        "<a><a></a></a>",
    ],
)
def test_one_leaf_packets_take_the_shortest_reading(
    packet: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Their own pattern (root, leaf, text: by position), with the general one's result.
    from cardcore.protocol import xmlcodec

    one = xmlcodec._ONE_LEAF_PATTERN.fullmatch(packet)
    assert one is not None and xmlcodec._ONE_LEAF_PATTERN.groups == 3
    general = xmlcodec._FLAT_PATTERN.fullmatch(packet)
    assert general is not None
    assert one.groups() == (general["root"], general["leaf"], general["text"])
    monkeypatch.setattr(xmlcodec, "_FLAT", lambda _: pytest.fail("the general pattern ran"))
    assert _flat_message(packet.encode()) == _decode_tree(packet.encode())


@pytest.mark.parametrize(
    ("allowed", "refused"),
    [
        (_LEAF, "[^<>&\x00-\x08\x0b-\x1f\ufffe\uffff]*"),
        ("[ !#-%'-;=-\ufffd\U00010000-\U0010ffff]*", _DOUBLE),
        ("[ -%(-;=-\ufffd\U00010000-\U0010ffff]*", _SINGLE),
    ],
)
def test_character_classes_allow_exactly_what_they_say(allowed: str, refused: str) -> None:
    """The flat reading's classes, whichever way they are written, against
    the other spelling (what they allow, what they refuse), over every code
    point."""
    everything = "".join(map(chr, range(0x110000)))
    assert re.findall(allowed, everything) == re.findall(refused, everything)


# Characters at the subset's edges: every ASCII one (controls, markup,
# quotes, line ends that expat normalises, tabs that it turns into spaces in
# attribute values) and some beyond (NEL, NBSP, BOM, non-characters, others).
EDGE_CHARS = [chr(c) for c in range(128)] + ["\x85", "\xa0", "\ufeff", "\ufffe", "é", "Я", "😀"]
# Where a character goes in a packet that is otherwise in the subset.
PLACES = [
    "{c}<a><b>x</b></a>",  # before the root
    "<a><b>x</b></a>{c}",  # after it
    "<a{c}><b>x</b></a>",  # in a tag
    "<a>{c}<b>x</b></a>",  # between elements
    "<a><b>{c}</b></a>",  # leaf text, alone
    "<a><b>x{c}y</b></a>",  # leaf text, inside
    '<a v="x{c}y"><b>x</b></a>',  # attribute values
    "<a v='x{c}y'><b>x</b></a>",
    "<a><b{c}>x</b{c}></a>",  # names
    "<a{c}b><c{c}d>x</c{c}d></a{c}b>",
    "<{c}a><{c}b>x</{c}b></{c}a>",
    '<a v{c}="1"><b>x</b></a>',
]


@pytest.mark.parametrize("place", PLACES)
def test_flat_reading_agrees_with_expat_at_every_edge(place: str) -> None:
    for char in EDGE_CHARS:
        packet = place.replace("{c}", char).encode()
        _agree(packet)
        _agree(place.replace("{c}", char * 2 + "]]>" + "&amp;" + char).encode())


def _agree(packet: bytes) -> None:
    flat = _flat_message(packet)
    try:
        full = _decode_tree(packet)
    except XmlError:
        assert flat is None, f"the flat reading accepted what expat refuses: {packet!r}"
        return
    assert flat is None or flat == full, packet


@st.composite
def _flat_documents(draw: st.DrawFn) -> bytes:
    """Packets in the flat subset and near it: names, whitespace, attributes
    and leaves in any mix, text of plain and edge characters, and sometimes a
    fault (a byte inserted, replaced or cut) anywhere."""
    piece = st.sampled_from([*"abcdefgh01234 -_.", "\r\n", "&amp;", "]]>"]) | st.sampled_from(
        EDGE_CHARS
    )
    texts = {size: st.lists(piece, max_size=size).map("".join) for size in (6, 10)}
    gaps = st.sampled_from(["", " ", "\n  ", "\t", "\r\n", "\x0c"])
    names = ["getparameters", "a", "x-y", "_b.c"] * 2 + ["1a", "a:b", "é"]
    name = draw(st.sampled_from(names))
    parts = [draw(gaps), f"<{name}"]
    for key, value, quote in draw(
        st.lists(
            st.tuples(st.sampled_from(["n", "v"]), texts[6], st.sampled_from("\"'")),
            max_size=2,
            unique_by=lambda attr: attr[0],  # a repeated one is a test of its own
        )
    ):
        parts.append(f"{draw(gaps) or ' '}{key}{draw(gaps)}={quote}{value}{quote}")
    parts += [draw(gaps), ">"]
    for leaf, text in draw(
        st.lists(st.tuples(st.sampled_from(["token", "a", "b"]), texts[10]), max_size=4)
    ):
        parts += [draw(gaps), f"<{leaf}>{text}</{leaf}>"]
    parts += [draw(gaps), f"</{name}>", draw(gaps)]
    data = "".join(parts).encode()
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 2))
        fault = draw(
            st.sampled_from([b"", b"<", b">", b"&", b"\xff", b"/", b"\x00", b"]]>", b"<b>"])
        )
        data = data[:at] + fault + data[at + cut :]
    return data


@settings(max_examples=400)
@given(_flat_documents())
def test_flat_reading_agrees_with_expat(packet: bytes) -> None:
    _agree(packet)
