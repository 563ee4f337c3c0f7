"""Readers for the ODA vector files (tests/vectors/emv-oda-*.txt)."""

from __future__ import annotations

import re

from tests.vectors import vector_text

H = bytes.fromhex


def section(name: str, title: str) -> str:
    """Text from the line containing `title` up to the next '########' heading."""
    text = vector_text(name)
    start = text.index(title)
    end = text.find("\n########", start + len(title))
    return text[start : end if end >= 0 else len(text)]


def value(block: str, key: str) -> bytes | None:
    """Hex value of `KEY ... = HEX`; None for '(absent)'."""
    match = re.search(r"^" + re.escape(key) + r"[^=\n]*= (\S+)", block, re.M)
    if match is None:
        raise KeyError(key)
    return None if match.group(1).startswith("(") else H(match.group(1))


def need(block: str, key: str) -> bytes:
    found = value(block, key)
    if found is None:
        raise KeyError(key)
    return found


def tagged(block: str, label: str, tag: str) -> bytes:
    """emv-utils style 'label:' followed by '  TAG (NAME) len=N value=HEX' lines."""
    start = re.search(r"^" + re.escape(label) + ":", block, re.M)
    if start is None:
        raise KeyError(label)
    part = block[start.end() :]
    match = re.search(r"^\s+" + tag + r" \([A-Z_]+\) len=(\d+) value=(\S+)", part, re.M)
    if match is None:
        raise KeyError(tag)
    return b"" if match.group(1) == "0" else H(match.group(2))


def expected(block: str, label: str) -> bytes:
    """Hex that follows `label` on an EXPECTED line (up to the next space)."""
    match = re.search(re.escape(label) + r"\s*:?\s*([0-9A-F]+)", block)
    if match is None:
        raise KeyError(label)
    return H(match.group(1))
