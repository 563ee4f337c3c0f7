# Strategy: a readable APDU trace on the stdlib logger "kernel.trace" (the
# application routes it to the console with --econs). Security rule of the
# project: PAN, track data, PIN blocks and keys never reach a log. Hence:
# - R-APDU data is shown only as a decoded BER-TLV tree (Book 3 Annex B) in
#   which the value of every tag the data dictionary marks sensitive is
#   replaced by its length; data that is not TLV is shown as a length only,
#   except for responses whose content is known to be harmless (GET CHALLENGE);
# - C-APDU data built from a DOL is shown through the DOL (tag by tag, with
#   the same redaction); PIN and script command data are never shown.
# Rendering is skipped entirely when the logger is not enabled for DEBUG, so
# the trace costs nothing in production.
from __future__ import annotations

import logging

from base import tlv
from kernel.dictionary import is_sensitive, name

__all__ = ["TRACE_LOGGER", "redacted", "render_dol_data", "render_tlv"]

TRACE_LOGGER = "kernel.trace"


def redacted(length: int) -> str:
    return f"<redacted {length} bytes>"


def _value(tag: int, value: bytes) -> str:
    if is_sensitive(tag):
        return redacted(len(value))
    return value.hex().upper() if value else "(empty)"


def render_tlv(data: bytes, indent: str = "    ") -> str:
    """Multi-line TLV tree with sensitive values redacted; non-TLV data shows only its length."""
    try:
        objects = tlv.decode(data)
    except tlv.TlvError:
        return f"{indent}<{len(data)} bytes, not BER-TLV>"
    lines: list[str] = []
    for obj in objects:
        label = f"{indent}{tlv.tag_hex(obj.tag)} {name(obj.tag)} [{len(obj.value)}]"
        if obj.constructed and not is_sensitive(obj.tag):
            lines.append(label)
            lines.append(render_tlv(obj.value, indent + "  "))
        else:
            lines.append(f"{label} {_value(obj.tag, obj.value)}")
    return "\n".join(lines) if lines else f"{indent}(no data)"


def render_dol_data(dol: bytes, data: bytes) -> str:
    """One line: each DOL entry with its value, sensitive entries redacted."""
    parts: list[str] = []
    pos = 0
    for tag, length in tlv.decode_dol(dol):
        chunk = data[pos : pos + length]
        pos += length
        parts.append(f"{tlv.tag_hex(tag)}={_value(tag, chunk)}")
    return " ".join(parts)


def get_logger() -> logging.Logger:
    return logging.getLogger(TRACE_LOGGER)
