"""Every configuration key can come from the management server: for each key
of the model, documents that set it (written from the one mapping table,
served and read back as updateconfiguration reads them) give the same
effective configuration as a local file that sets it. A key that is in
neither the table nor its list of local-only keys fails the first test."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from acquirers.iso8583.dialects import DIALECTS
from base.errors import CardcoreError
from cardcore.config import Config, build_config
from cardcore.provisioning import documents, mapping
from cardcore.provisioning.errors import ProvisioningFormatError


def _unwrap(t: mi.Type) -> mi.Type:
    if isinstance(t, mi.Metadata):
        return _unwrap(t.type)
    if isinstance(t, mi.UnionType):
        inner = [u for u in t.types if not isinstance(u, mi.NoneType)]
        if len(inner) == 1:
            return _unwrap(inner[0])
    return t


def _struct(t: mi.Type) -> mi.StructType | None:
    t = _unwrap(t)
    if isinstance(t, mi.ListType):
        t = _unwrap(t.item_type)
    return t if isinstance(t, mi.StructType) else None


def _leaves(t: mi.Type, prefix: str) -> Iterator[str]:
    inner = _unwrap(t)
    if isinstance(inner, mi.StructType):
        for f in inner.fields:
            yield from _leaves(f.type, f"{prefix}{f.encode_name}.")
    elif isinstance(inner, mi.ListType) and _struct(inner) is not None:
        yield from _leaves(inner.item_type, f"{prefix[:-1]}[].")
    else:
        yield prefix[:-1]


MODEL_KEYS = sorted(_leaves(mi.type_info(Config), ""))


def _field(struct: mi.StructType, name: str) -> mi.Field:
    return next(f for f in struct.fields if f.encode_name == name)


def _type_at(key: str) -> tuple[mi.Type, mi.StructType]:
    """The type of ``key`` (a list entry's field for `list[].field`) and the
    struct that holds it."""
    current = _unwrap(mi.type_info(Config))
    assert isinstance(current, mi.StructType)
    parent = current
    for name in key.replace("[]", "").split("."):
        struct = _struct(current)
        assert struct is not None, key
        parent = struct
        current = _field(struct, name).type
    return current, parent


# --- values -----------------------------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=12)
_TAGS = st.lists(st.sampled_from(["5A", "9F24", "9F02", "57", "9F6E", "DF8115", "BF0C"]),
                 max_size=4)  # fmt: skip


def _ca_key() -> st.SearchStrategy[dict[str, Any]]:
    def entry(rid: bytes, index: int, modulus: bytes, exponent: str, expiry: Any) -> dict[str, Any]:
        head = rid.hex().upper() + f"{index:02X}"
        body = modulus.hex().upper() + exponent
        checksum = hashlib.sha1(bytes.fromhex(head + body)).hexdigest()
        key = {"rid": head[:10], "index": head[10:], "modulus": modulus.hex(), "exponent": exponent,
               "checksum": checksum}  # fmt: skip
        if expiry is not None:
            key["expiry"] = expiry.isoformat()
        return key

    return st.builds(
        entry,
        st.binary(min_size=5, max_size=5),
        st.integers(0, 255),
        st.binary(min_size=64, max_size=248),
        st.sampled_from(["03", "010001"]),
        st.none() | st.dates(),
    )


# Values the types cannot say: a registry, an address, a rule between fields.
OVERRIDES: dict[str, st.SearchStrategy[Any]] = {
    "acquirer.dialect": st.sampled_from(sorted(DIALECTS)),
    "server.allowed-clients": st.lists(st.ip_addresses().map(str), max_size=3),
    "admin.scrypt-n": st.sampled_from([2**n for n in range(10, 21)]),
    "terminal.currency": st.integers(1, 999).map(lambda n: f"{n:03d}"),
    "sbp.agent-url": st.sampled_from(["https://sbp.example:8443", "http://127.0.0.1:9/api"]),
    "sbp.terminal-id": st.text("ABC0123456789", min_size=1, max_size=32),
    "sbp.merchant-id": st.text("MA0123456789", min_size=1, max_size=32),
    "emv.data-exchange-tags": _TAGS,
    "emv.aids[].tags-to-read": _TAGS,
}
# Keys another key needs beside it (a required field, the lower bound of a range).
COMPANIONS: dict[str, dict[str, Any]] = {
    "sbp.": {"sbp.agent-url": "https://sbp.example", "sbp.terminal-id": "T1",
             "sbp.merchant-id": "M1"},
    "sbp.tls.client-key-file": {"sbp.tls.client-cert-file": "client.crt"},
    "acquirer.main.": {"acquirer.main.host": "10.0.0.5", "acquirer.main.port": 8583},
    "acquirer.mirror.": {"acquirer.mirror.host": "10.0.0.6", "acquirer.mirror.port": 8583},
    "admin.lockout-initial": {"admin.lockout-max": 86400},
    "acquirer.retry-initial": {"acquirer.retry-max": 86400},
}  # fmt: skip
ENTRY_COMPANIONS: dict[str, dict[str, Any]] = {
    "emv.aids[].random-selection-target-percent": {"random-selection-max-percent": 99},
}


def _strategy(t: mi.Type) -> st.SearchStrategy[Any]:
    t = _unwrap(t)
    if isinstance(t, mi.UnionType):
        return st.one_of(*(_strategy(m) for m in t.types if not isinstance(m, mi.NoneType)))
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return st.integers(t.ge, t.le)
    if isinstance(t, mi.FloatType):
        return st.floats(t.ge, t.le, allow_nan=False, allow_infinity=False)
    if isinstance(t, mi.StrType):
        return st.from_regex(t.pattern, fullmatch=True) if t.pattern else _TEXT
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(list(t.values))
    if isinstance(t, mi.ListType):
        return st.lists(_strategy(t.item_type), max_size=3)
    raise AssertionError(f"no strategy for {t}")


def _value(key: str) -> st.SearchStrategy[Any]:
    return OVERRIDES[key] if key in OVERRIDES else _strategy(_type_at(key)[0])


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *sections, name = key.split(".")
        target = out
        for section in sections:
            target = target.setdefault(section, {})
        target[name] = value
    return out


def _local_file(key: str) -> st.SearchStrategy[dict[str, Any]]:
    """A local configuration that sets ``key`` (and what it needs beside it)."""
    flat: dict[str, Any] = {}
    for prefix, values in COMPANIONS.items():
        if key.startswith(prefix) or key == prefix:
            flat.update(values)
    if "[]." not in key:
        return _value(key).map(lambda value: _nest({**flat, key: value}))
    list_key, name = key.split("[].")
    if list_key == "emv.ca-keys":
        entries = st.lists(_ca_key(), min_size=1, max_size=2)
        return entries.map(lambda items: _nest({**flat, list_key: items}))
    struct = _type_at(key)[1]
    fields = {
        f.encode_name: _value(f"{list_key}[].{f.encode_name}")
        for f in struct.fields
        if f.required or f.encode_name == name
    }
    fixed = ENTRY_COMPANIONS.get(key, {})
    entry = st.fixed_dictionaries(fields).map(lambda e: {**e, **fixed})
    return st.lists(entry, min_size=1, max_size=2).map(
        lambda items: _nest({**flat, list_key: items})
    )


# --- through the documents, as updateconfiguration reads them ------------------------------


def served(overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` written into a server's documents, then read back."""
    docs = documents.build(overlay, sn="1", pack="p", stages={})
    terminal = documents.parse_terminal(docs["/terminals/1"])
    parts: dict[str, ET.Element] = {}
    for include in documents.parse_header(docs[terminal.header]):
        parts[include.root] = documents.parse_part(docs[include.src], include)
    return documents.translate(terminal, parts)


def _set_at(data: dict[str, Any], key: str) -> Any:
    """Where ``key`` has a value (for `list[].field`: which entries do)."""
    value: Any = data
    for name in key.split("[]")[0].split("."):
        value = value.get(name) if isinstance(value, dict) else None
    if "[]." in key:
        field = key.split("[].")[1]
        return [entry.get(field) is not None for entry in value or []]
    return value is not None


def test_every_key_of_the_model_is_in_the_table_or_local_only() -> None:
    carried = mapping.table_keys()
    assert len(carried) == len(set(carried)), "a key is in the table twice"
    assert not set(carried) & set(mapping.LOCAL_ONLY)
    missing = set(MODEL_KEYS) - set(carried) - set(mapping.LOCAL_ONLY)
    assert not missing, f"keys no document carries and not local-only: {sorted(missing)}"
    assert not (set(carried) | set(mapping.LOCAL_ONLY)) - set(MODEL_KEYS)


@pytest.mark.parametrize("key", mapping.table_keys())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_document_that_sets_a_key_gives_the_local_files_configuration(
    key: str, data: st.DataObject
) -> None:
    local = data.draw(_local_file(key))
    try:
        expected = build_config(local)
    except CardcoreError:
        reject()
    overlay = served(local)
    assert _set_at(overlay, key) == _set_at(local, key), f"{key} did not travel"
    assert build_config(overlay) == expected


@pytest.mark.parametrize("key", sorted(mapping.LOCAL_ONLY))
def test_local_only_keys_never_travel(key: str) -> None:
    value = {"pinpad.emulated-scheme": "tpk", "emv.simulator-ca-keys": True}.get(key, "x")
    if key == "provisioning.software-update-command":
        value = ["/bin/true"]
    with pytest.raises(ValueError, match="cannot come from a server"):
        mapping.encode(_nest({key: value}))


def test_the_embedded_defaults_travel_whole() -> None:
    """The whole default configuration, every key at once."""
    data = msgspec.to_builtins(Config())
    for key in mapping.LOCAL_ONLY:
        section, name = key.split(".")
        data[section].pop(name)
    data.pop("device")
    assert build_config(served(data)) == Config()


def test_unknown_parts_of_a_document_are_reported_not_refused() -> None:
    econf = ET.fromstring(
        '<econf name="e" stage="1"><terminal><tag name="9F33">E0F8C8</tag>'
        '<tag name="DF8125">000000050000</tag></terminal><vendor x="1"/></econf>'
    )
    overlay, unread = mapping.decode({"econf": econf})
    assert overlay == {"emv": {"capabilities": "E0F8C8"}}
    assert unread == ["econf/terminal/tag[DF8125]", "econf/vendor"]


def test_a_value_of_the_wrong_format_names_the_part_and_the_key() -> None:
    econf = ET.fromstring(
        '<econf><applications><application><tag name="9F06">A0000000031010</tag>'
        '<tag name="DF8124">12</tag></application></applications></econf>'
    )
    with pytest.raises(ProvisioningFormatError, match=r"EMV part: .*DF8124.*ctls-transaction"):
        mapping.decode({"econf": econf})


def test_tacs_are_read_from_the_proprietary_tags_too() -> None:
    econf = ET.fromstring(
        '<econf><applications><application><tag name="9F06">A0000000031010</tag>'
        '<tag name="DF11">DC4000A800</tag><tag name="DF13">0010000000</tag>'
        '<tag name="DF12">DC4004F800</tag></application></applications></econf>'
    )
    (aid,) = mapping.decode({"econf": econf})[0]["emv"]["aids"]
    assert (aid["tac-default"], aid["tac-denial"], aid["tac-online"]) == (
        "DC4000A800", "0010000000", "DC4004F800",
    )  # fmt: skip
    twice = ET.fromstring(
        '<econf><applications><application><tag name="9F06">A0000000031010</tag>'
        '<tag name="DF11">DC4000A800</tag><tag name="DF8120">DC4000A800</tag>'
        "</application></applications></econf>"
    )
    with pytest.raises(ProvisioningFormatError, match="more than once"):
        mapping.decode({"econf": twice})


def test_odd_text_survives_the_documents() -> None:
    odd = "a&b<c>d\"e'f Кассир"
    overlay = {"acquirer": {"bank-name": odd, "main": {"host": odd, "port": 1}},
               "terminal": {"header-lines": [odd, ""], "merchant-name-location": odd}}  # fmt: skip
    assert served(overlay) == overlay
