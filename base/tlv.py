# Strategy: BER-TLV as EMV Book 3 Annex B restricts it (ISO/IEC 8825-1 subset).
# - Tags are 1..4 bytes: low five bits 11111 of the first byte announce more
#   bytes, and every following byte with b8 set announces another (B1, B2).
# - Lengths are 1..5 bytes: short form 00..7F, long form 81..84 (B2; Book 3
#   allows up to 3 subsequent bytes, four are accepted for robustness).
# - 00 and FF bytes before, between and after objects are padding (B1, note).
# - Duplicate tags are kept in the order they occur; callers decide which one
#   wins. Every error names the offset where decoding stopped.
# Tags are ints (0x9F02), values are bytes.
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "Tlv",
    "TlvError",
    "decode",
    "decode_dol",
    "decode_tag_list",
    "encode",
    "encode_dol",
    "encode_length",
    "encode_tag",
    "find",
    "find_all",
    "is_constructed",
    "iter_primitives",
    "iter_raw",
    "tag_hex",
]

MAX_TAG_BYTES = 4
MAX_LENGTH_BYTES = 4


class TlvError(ValueError):
    """Malformed BER-TLV; ``offset`` is the byte where decoding failed."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        return is_constructed(self.tag)

    def children(self) -> list[Tlv]:
        """Decode the value of a constructed object (Book 3 B1: template)."""
        if not self.constructed:
            raise TlvError(f"tag {tag_hex(self.tag)} is primitive", 0)
        return decode(self.value)

    def encode(self) -> bytes:
        return encode(self.tag, self.value)

    def __repr__(self) -> str:
        return f"Tlv({tag_hex(self.tag)}, {self.value.hex().upper()})"


def tag_hex(tag: int) -> str:
    """Upper-case hex of a tag as it is written in the EMV books: 0x9F02 -> '9F02'."""
    width = max(1, (tag.bit_length() + 7) // 8)
    return f"{tag:0{width * 2}X}"


def _first_byte(tag: int) -> int:
    width = max(1, (tag.bit_length() + 7) // 8)
    return (tag >> (8 * (width - 1))) & 0xFF


def is_constructed(tag: int) -> bool:
    """b6 of the first tag byte marks a constructed data object (Book 3 B1, B3)."""
    return bool(_first_byte(tag) & 0x20)


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    start = pos
    if pos >= len(data):
        raise TlvError("tag expected", pos)
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        while True:
            if pos >= len(data):
                raise TlvError("truncated multi-byte tag", start)
            b = data[pos]
            tag = (tag << 8) | b
            pos += 1
            if pos - start > MAX_TAG_BYTES:
                raise TlvError("tag longer than 4 bytes", start)
            if not b & 0x80:
                break
    return tag, pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("length expected", pos)
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0 or count > MAX_LENGTH_BYTES:
        raise TlvError(f"invalid length byte {first:02X}", pos - 1)
    if pos + count > len(data):
        raise TlvError("truncated length", pos - 1)
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def _iter(data: bytes) -> Iterator[Tlv]:
    pos = 0
    end = len(data)
    while pos < end:
        if data[pos] in (0x00, 0xFF):
            pos += 1
            continue
        start = pos
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        if pos + length > end:
            raise TlvError(f"value of {tag_hex(tag)} needs {length} bytes, {end - pos} left", start)
        yield Tlv(tag, bytes(data[pos : pos + length]))
        pos += length


def iter_raw(data: bytes) -> Iterator[tuple[Tlv, bytes]]:
    """Top-level objects with their exact encoding (tag, length and value as received).

    CDA hashes the GENERATE AC response objects as the card sent them (Book 2
    6.6.2), so re-encoding is not good enough there.
    """
    pos = 0
    end = len(data)
    while pos < end:
        if data[pos] in (0x00, 0xFF):
            pos += 1
            continue
        start = pos
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        if pos + length > end:
            raise TlvError(f"value of {tag_hex(tag)} needs {length} bytes, {end - pos} left", start)
        yield Tlv(tag, bytes(data[pos : pos + length])), bytes(data[start : pos + length])
        pos += length


def decode(data: bytes) -> list[Tlv]:
    """Decode a sequence of top-level data objects; constructed ones stay unopened."""
    return list(_iter(data))


def iter_primitives(data: bytes) -> Iterator[Tlv]:
    """Walk templates depth-first and yield every primitive object in order."""
    for obj in _iter(data):
        if obj.constructed:
            try:
                yield from iter_primitives(obj.value)
            except TlvError as exc:
                raise TlvError(f"inside {tag_hex(obj.tag)}: {exc}", exc.offset) from exc
        else:
            yield obj


def find_all(data: bytes, tag: int) -> list[bytes]:
    """Values of every occurrence of ``tag`` at any depth, in order."""
    found: list[bytes] = []
    for obj in _iter(data):
        if obj.tag == tag:
            found.append(obj.value)
        if obj.constructed:
            found.extend(find_all(obj.value, tag))
    return found


def find(data: bytes, tag: int) -> bytes | None:
    """Value of the first occurrence of ``tag`` at any depth, or None."""
    values = find_all(data, tag)
    return values[0] if values else None


def encode_tag(tag: int) -> bytes:
    if tag < 0:
        raise ValueError("negative tag")
    width = max(1, (tag.bit_length() + 7) // 8)
    if width > MAX_TAG_BYTES:
        raise ValueError(f"tag {tag:X} longer than 4 bytes")
    raw = tag.to_bytes(width, "big")
    # A well-formed tag's continuation bits must agree with its width.
    if width == 1 and raw[0] & 0x1F == 0x1F:
        raise ValueError(f"tag {tag_hex(tag)} announces a subsequent byte")
    if width > 1:
        if raw[0] & 0x1F != 0x1F:
            raise ValueError(f"tag {tag_hex(tag)} first byte does not announce more")
        if any(not b & 0x80 for b in raw[1:-1]) or raw[-1] & 0x80:
            raise ValueError(f"tag {tag_hex(tag)} has inconsistent continuation bits")
    return raw


def encode_length(length: int) -> bytes:
    if length < 0:
        raise ValueError("negative length")
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(raw) > MAX_LENGTH_BYTES:
        raise ValueError("length too large")
    return bytes([0x80 | len(raw)]) + raw


def encode(tag: int, value: bytes | Iterable[Tlv]) -> bytes:
    """Encode one object; a constructed tag may take its children as Tlv objects."""
    if not isinstance(value, bytes | bytearray):
        value = b"".join(child.encode() for child in value)
    return encode_tag(tag) + encode_length(len(value)) + bytes(value)


def decode_dol(dol: bytes) -> list[tuple[int, int]]:
    """A Data Object List is tag + length pairs with no values (Book 3 5.4)."""
    entries: list[tuple[int, int]] = []
    pos = 0
    while pos < len(dol):
        tag, pos = _read_tag(dol, pos)
        length, pos = _read_length(dol, pos)
        entries.append((tag, length))
    return entries


def decode_tag_list(data: bytes) -> list[int]:
    """A tag list (e.g. '9F4A', Book 3 10.3) is tags with neither lengths nor values."""
    tags: list[int] = []
    pos = 0
    while pos < len(data):
        tag, pos = _read_tag(data, pos)
        tags.append(tag)
    return tags


def encode_dol(entries: Iterable[tuple[int, int]]) -> bytes:
    return b"".join(encode_tag(tag) + encode_length(length) for tag, length in entries)
