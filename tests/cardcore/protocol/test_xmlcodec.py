"""The hardened XML codec: parameters both ways, bombs, XXE, garbage."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.xmlread import MAX_SIZE
from cardcore.protocol.status import status_of
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


def test_a_packet_is_bounded_by_its_frame_not_by_the_reader() -> None:
    # A full X-report answer is larger than the reader's default limit; the
    # client's frame decoder has bounded it already.
    lines = ["x" * 100] * (MAX_SIZE // 100)
    packet = encode_body("report", {"status": "ok", "xreport": {"line": lines}})
    assert len(packet) > MAX_SIZE
    assert decode_message(packet).body["xreport"]["line"] == lines


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
