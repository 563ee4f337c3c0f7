"""The hardened XML codec: parameters both ways, bombs, XXE, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardcore.protocol.xmlcodec import (
    MAX_DEPTH,
    Message,
    XmlError,
    decode_error_stack,
    decode_message,
    encode_body,
    encode_error_stack,
    encode_message,
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
    assert info.value.status == "formaterror"
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


def test_encode_escapes_markup() -> None:
    raw = encode_message(Message("a", {"b": "<x>&</x>"}, {"c": '"q"'}))
    assert decode_message(raw) == Message("a", {"b": "<x>&</x>"}, {"c": '"q"'})


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
