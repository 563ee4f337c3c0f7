# Strategy: the registry of ISO 8583 dialects, one data module each
# (docs/conventions.md, 3). A new host variant (Tieto, Compass+, SmartVista, CFT) is a new
# module defining a `Dialect` and one line here; acquirers/iso8583/README.md
# shows how a host specification becomes one.
from __future__ import annotations

from acquirers.iso8583.dialect import Dialect
from acquirers.iso8583.dialects import generic87, iso87_ascii, iso87_binary

__all__ = ["DIALECTS", "get_dialect"]

DIALECTS: dict[str, Dialect] = {
    d.name: d for d in (generic87.DIALECT, iso87_binary.DIALECT, iso87_ascii.DIALECT)
}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise KeyError(
            f"unknown ISO 8583 dialect {name!r}; known: {', '.join(sorted(DIALECTS))}"
        ) from None
