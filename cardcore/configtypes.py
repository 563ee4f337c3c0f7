# Strategy: the building blocks of the configuration model (cardcore.config):
# the section base (kebab-case keys, unknown keys refused), a setting's
# one-line description (`doc`), the value types that carry their allowed
# range on the type (ports, seconds, amounts, hex data, URLs), and the
# checks a section's `__post_init__` runs for what a type cannot say (one
# field not below another; a tag list holding real BER-TLV tags; hex kept
# upper-case as EMV writes it).
from __future__ import annotations

from typing import Annotated

import msgspec

from base import tlv
from cardcore.configcheck import OutOfRange

__all__ = [
    "Amount",
    "Currency",
    "HexData",
    "HttpsUrl",
    "ListenPort",
    "LongSeconds",
    "Percent",
    "Port",
    "Seconds",
    "Section",
    "check_tags",
    "doc",
    "hex_bytes",
    "not_below",
    "upper_hex",
]


def not_below(section: msgspec.Struct, name: str, floor_name: str) -> None:
    value, floor = getattr(section, name), getattr(section, floor_name)
    if value is not None and floor is not None and value < floor:
        raise OutOfRange(name, value, at_least=(floor_name, floor))


class Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="kebab"):
    pass


def doc(text: str, *, secret: bool = False) -> msgspec.Meta:
    """A setting's one-line description, as `cardcore config show` and the
    README's configuration reference print it beside the setting (after its
    allowed range, which the setting's type carries). A ``secret`` setting's
    value is never printed."""
    return msgspec.Meta(extra={"doc": text, "secret": True} if secret else {"doc": text})


# Ports: a host's are 1..65535; the terminal's own listeners take 0 for a free port.
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
ListenPort = Annotated[int, msgspec.Meta(ge=0, le=65535)]
# Seconds. Below a tenth of a second no real peer or person can keep up; the
# upper bounds catch a slipped digit while leaving room for slow links.
Seconds = Annotated[float, msgspec.Meta(ge=0.1, le=600)]
LongSeconds = Annotated[float, msgspec.Meta(ge=0.1, le=86400)]
# Amounts in minor units, as ISO 8583 and EMV carry them (n12).
Amount = Annotated[int, msgspec.Meta(ge=0, le=999_999_999_999)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=99)]  # EMV Book 3 10.6.2
Currency = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(?!000)[0-9]{3}$", description="a 3-digit ISO 4217 numeric currency code"
    ),
]


def hex_bytes(nbytes: int, what: str) -> msgspec.Meta:
    """A fixed-length binary data element written as hex."""
    return msgspec.Meta(
        pattern=f"^[0-9A-Fa-f]{{{2 * nbytes}}}$", description=f"{what}: {nbytes} bytes in hex"
    )


HttpsUrl = Annotated[str, msgspec.Meta(pattern=r"^https://[!-~]+$", description="an https:// URL")]
# Binary data of any length (a DOL, a key's modulus), written as hex.
HexData = Annotated[str, msgspec.Meta(pattern=r"^(?:[0-9A-Fa-f]{2})*$", description="bytes in hex")]


def upper_hex(section: msgspec.Struct, *names: str) -> None:
    """Hex is kept upper-case, as EMV writes it: a value reads the same
    whether it came from a file or from the management server's tags."""
    for name in names:
        value = getattr(section, name)
        if isinstance(value, str):
            setattr(section, name, value.upper())
        elif isinstance(value, list):
            setattr(section, name, [item.upper() for item in value])


def check_tags(name: str, tags: list[str]) -> None:
    """Each entry is one BER-TLV tag (EMV Book 3 Annex B1), as a tag list
    ('DF8112', 'DF811E') carries it."""
    for text in tags:
        try:
            value = int(text, 16)
            tlv.encode_tag(value)
        except ValueError:
            raise ValueError(f"{name}: '{text}' is not an EMV tag") from None
        if tlv.tag_hex(value) != text.upper():
            raise ValueError(f"{name}: '{text}' is not an EMV tag")
