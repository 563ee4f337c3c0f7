# Strategy: the sans-I/O ISO 8583 message layer. `IsoMessage` is an MTI plus
# a dict of field number -> value (str for n/z/ans fields, bytes for b
# fields); `Codec` encodes and decodes it with pyiso8583 driven by the
# dialect's spec (ISO 8583:1987 clause 4), validates field contents against
# their kind, and adds or checks the MAC the dialect prescribes (ISO 9797-1
# MAC algorithm 3 under the TAK, `MacRule`). pyiso8583's exceptions and
# anything else raised on malformed input become `Iso8583Error` here, so a
# byte string either decodes into a message or raises that one error.
from __future__ import annotations

import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import iso8583

from acquirers.errors import Iso8583Error, MacVerificationError, MessageBuildError
from acquirers.iso8583.dialect import Dialect, FieldFormat, FieldKind, Sensitivity
from base.crypto.des import retail_mac
from base.pan import mask_keep_first6_last4

__all__ = ["Codec", "FieldValue", "IsoMessage"]

FieldValue = str | bytes

# Fields that are never shown in a repr whatever the dialect (ISO 8583:1987
# numbering): track data, PIN data, MACs, key material, expiry, ICC data.
_HIDDEN = frozenset({14, 35, 36, 45, 52, 55, 64, 96, 120, 128})
_PAN_FIELDS = frozenset({2, 34})


def _safe_value(number: int, value: FieldValue) -> str:
    if number in _PAN_FIELDS and isinstance(value, str):
        return mask_keep_first6_last4(value)
    if number in _HIDDEN:
        return f"<{len(value)} {'bytes' if isinstance(value, bytes) else 'chars'}>"
    if isinstance(value, bytes):
        return value.hex().upper()
    return repr(value)


@dataclass
class IsoMessage:
    """One ISO 8583 message: MTI and fields. Field 1 (secondary bitmap) and the
    bitmaps are computed by the codec and never stored here."""

    mti: str
    fields: dict[int, FieldValue] = field(default_factory=dict)
    header: bytes = b""

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={_safe_value(k, v)}" for k, v in sorted(self.fields.items()))
        return f"IsoMessage({self.mti}: {body})"

    __str__ = __repr__

    def __contains__(self, number: object) -> bool:
        return number in self.fields

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self.fields))

    def get(self, number: int) -> FieldValue | None:
        return self.fields.get(number)

    def text(self, number: int) -> str:
        """A required text field; a missing or binary one is a format error."""
        value = self.fields.get(number)
        if not isinstance(value, str):
            raise Iso8583Error(f"{self.mti}: field {number} missing or not text")
        return value

    def text_or_none(self, number: int) -> str | None:
        value = self.fields.get(number)
        if value is None:
            return None
        if not isinstance(value, str):
            raise Iso8583Error(f"{self.mti}: field {number} is not text")
        return value

    def binary(self, number: int) -> bytes:
        value = self.fields.get(number)
        if not isinstance(value, bytes):
            raise Iso8583Error(f"{self.mti}: field {number} missing or not binary")
        return value

    def binary_or_none(self, number: int) -> bytes | None:
        value = self.fields.get(number)
        if value is None:
            return None
        if not isinstance(value, bytes):
            raise Iso8583Error(f"{self.mti}: field {number} is not binary")
        return value

    def copy(self, mti: str | None = None) -> IsoMessage:
        return IsoMessage(mti or self.mti, dict(self.fields), self.header)

    def without(self, *numbers: int) -> IsoMessage:
        fields = {k: v for k, v in self.fields.items() if k not in numbers}
        return IsoMessage(self.mti, fields, self.header)


def _is_mti(mti: str) -> bool:
    return len(mti) == 4 and mti.isascii() and mti.isdigit()


class Codec:
    """Encode/decode `IsoMessage`s for one dialect; MAC them on the way."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._spec = dialect.pyiso8583_spec()
        self._formats = {number: dialect.format(number) for number in dialect.fields}
        self._mac_width = {f: dialect.wire_width(f) for f in (64, 128) if f in dialect.fields}

    # -- encoding -----------------------------------------------------------------
    def _to_pyiso(self, msg: IsoMessage) -> dict[str, str]:
        if not _is_mti(msg.mti):
            raise MessageBuildError(f"invalid MTI {msg.mti!r}")
        doc: dict[str, str] = {"t": msg.mti}
        if self.dialect.header_length:
            if len(msg.header) != self.dialect.header_length:
                raise MessageBuildError(
                    f"{msg.mti}: header must be {self.dialect.header_length} bytes"
                )
            doc["h"] = msg.header.hex().upper()
        for number, value in msg.fields.items():
            fmt = self._formats.get(number)
            if fmt is None:
                raise MessageBuildError(
                    f"{msg.mti}: field {number} is not in dialect {self.dialect.name}"
                )
            doc[str(number)] = self._field_to_pyiso(msg.mti, fmt, value)
        return doc

    @staticmethod
    def _field_to_pyiso(mti: str, fmt: FieldFormat, value: FieldValue) -> str:
        where = f"{mti} field {fmt.number}"
        kind = fmt.kind
        if kind is FieldKind.B:
            if not isinstance(value, bytes | bytearray):
                raise MessageBuildError(f"{where}: binary field needs bytes")
            return bytes(value).hex().upper()
        if not isinstance(value, str) or not value.isascii():
            raise MessageBuildError(f"{where}: needs an ASCII string")
        if kind is FieldKind.N:
            if not value.isdigit() and value != "":
                raise MessageBuildError(f"{where}: numeric field holds non-digits")
            return value
        if kind is FieldKind.Z:
            if any(c not in "0123456789=" for c in value):
                raise MessageBuildError(f"{where}: track data holds invalid characters")
            return value.replace("=", "D") if fmt.encoding == "bcd" else value
        if kind is FieldKind.XN:
            if len(value) != fmt.length + 1 or value[0] not in "CD" or not value[1:].isdigit():
                raise MessageBuildError(f"{where}: needs C or D and {fmt.length} digits")
            if fmt.encoding != "bcd":
                return value
            # The sign is one ASCII byte, the digits BCD (left-padded when odd).
            digits = value[1:].rjust(fmt.length + fmt.length % 2, "0")
            return value[0].encode("ascii").hex().upper() + digits
        if not value.isprintable():
            raise MessageBuildError(f"{where}: text field holds control characters")
        return value

    def encode(self, msg: IsoMessage, *, mac_key: bytes | None = None) -> bytes:
        """Encode ``msg``. With ``mac_key`` and an MTI the dialect MACs, the MAC
        field (64 or 128) is computed and set; any MAC field in ``msg`` is
        replaced."""
        fields = dict(msg.fields)
        fields.pop(64, None)
        fields.pop(128, None)
        mac_field: int | None = None
        if mac_key is not None and msg.mti in self.dialect.mac.mtis:
            mac_field = self.dialect.mac_field(set(fields))
            fields[mac_field] = bytes(8)
        elif 64 in msg.fields or 128 in msg.fields:
            # Without a key the message goes as given (e.g. a host simulator
            # answering a request whose MAC it could not check).
            fields.update({k: msg.fields[k] for k in (64, 128) if k in msg.fields})
        doc = self._to_pyiso(IsoMessage(msg.mti, fields, msg.header))
        try:
            raw, _ = iso8583.encode(doc, self._spec)
        except iso8583.EncodeError as exc:
            raise MessageBuildError(f"{msg.mti}: {exc.msg} (field {exc.field})") from None
        out = bytes(raw)
        if mac_field is not None and mac_key is not None:
            # The MAC field is the last one: its bytes are replaced in place.
            width = self._mac_width[mac_field]
            mac = self._mac(mac_key, out[self.dialect.header_length : -width])
            out = out[:-width] + self._mac_wire(mac_field, mac)
        return out

    def _mac_wire(self, number: int, mac: bytes) -> bytes:
        if self._formats[number].encoding == "hex":
            return mac.hex().upper().encode("ascii")
        return mac

    def _mac(self, key: bytes, data: bytes) -> bytes:
        rule = self.dialect.mac
        try:
            mac = retail_mac(key, data, rule.padding)
        except ValueError as exc:
            raise MessageBuildError(f"MAC key unusable: {exc}") from None
        return mac[: rule.length] + bytes(8 - rule.length)

    # -- decoding -----------------------------------------------------------------
    def decode(self, data: bytes) -> IsoMessage:
        """Decode one message (without the transport length prefix)."""
        try:
            doc, _ = iso8583.decode(bytes(data), self._spec)
        except Iso8583Error:
            raise
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise Iso8583Error(f"undecodable message: {_describe(exc)}") from None
        return self._from_pyiso(doc)

    def _from_pyiso(self, doc: Mapping[str, str]) -> IsoMessage:
        mti = doc.get("t", "")
        if not _is_mti(mti):
            raise Iso8583Error(f"invalid MTI {mti!r}")
        if len(doc.get("1", "")) > 16:
            raise Iso8583Error(f"{mti}: tertiary bitmap is not supported")
        header = bytes.fromhex(doc["h"]) if self.dialect.header_length else b""
        msg = IsoMessage(mti, {}, header)
        for key, value in doc.items():
            if not key.isdigit() or key == "1":
                continue
            number = int(key)
            msg.fields[number] = self._field_from_pyiso(mti, self._formats[number], value)
        return msg

    @staticmethod
    def _field_from_pyiso(mti: str, fmt: FieldFormat, value: str) -> FieldValue:
        kind = fmt.kind
        if kind is FieldKind.B:
            if fmt.encoding == "hex" and not _is_hex(value):
                raise Iso8583Error(f"{mti}: field {fmt.number} is not hexadecimal")
            return bytes.fromhex(value)
        if kind is FieldKind.XN:
            if fmt.encoding == "bcd":
                sign = bytes.fromhex(value[:2]).decode("latin-1")
                value = sign + value[2:][-fmt.length :]
            if len(value) != fmt.length + 1 or value[0] not in "CD" or not value[1:].isdigit():
                raise Iso8583Error(f"{mti}: field {fmt.number} is not a signed amount")
            return value
        if kind is FieldKind.Z and fmt.encoding == "bcd":
            value = value.replace("D", "=")
        if kind is FieldKind.N and not (value.isascii() and (value.isdigit() or value == "")):
            raise Iso8583Error(f"{mti}: field {fmt.number} is not numeric")
        if kind is FieldKind.Z and any(c not in "0123456789=" for c in value):
            raise Iso8583Error(f"{mti}: field {fmt.number} is not track data")
        if kind is FieldKind.ANS and not (value.isascii() and value.isprintable()):
            raise Iso8583Error(f"{mti}: field {fmt.number} holds non-printable characters")
        return value

    # -- MAC ------------------------------------------------------------------------
    def needs_mac(self, mti: str) -> bool:
        return mti in self.dialect.mac.mtis

    def verify_mac(self, raw: bytes, msg: IsoMessage, mac_key: bytes) -> None:
        """Check the MAC of a decoded message against its raw bytes."""
        expected_field = self.dialect.mac_field(set(msg.fields))
        present = [f for f in (64, 128) if f in msg.fields]
        if present != [expected_field]:
            raise MacVerificationError(
                f"{msg.mti}: MAC field {expected_field} missing or misplaced"
            )
        width = self._mac_width[expected_field]
        mac = self._mac(mac_key, bytes(raw)[self.dialect.header_length : -width])
        if not hmac.compare_digest(mac, msg.binary(expected_field)):
            raise MacVerificationError(f"{msg.mti}: MAC verification failed")

    def describe(self, msg: IsoMessage) -> str:
        """A log line for ``msg`` with sensitive fields masked per the dialect."""
        parts = []
        for number in msg:
            value = msg.fields[number]
            fdef = self.dialect.fields.get(number)
            sens = fdef.sensitivity if fdef else Sensitivity.SECRET
            if sens is Sensitivity.PAN and isinstance(value, str):
                shown = mask_keep_first6_last4(value)
            elif sens is Sensitivity.SECRET or number in _HIDDEN:
                shown = f"<{len(value)}>"
            else:
                shown = value.hex().upper() if isinstance(value, bytes) else value
            parts.append(f"{number}={shown}")
        return f"{msg.mti} " + " ".join(parts)


def _is_hex(value: str) -> bool:
    return len(value) % 2 == 0 and all(c in "0123456789ABCDEFabcdef" for c in value)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, iso8583.DecodeError):
        return f"{exc.msg} (field {exc.field}, offset {exc.pos})"
    if isinstance(exc, KeyError):
        return f"field {exc.args[0]} is not in the dialect"
    return type(exc).__name__
