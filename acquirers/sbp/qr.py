# Strategy: the NSPK QR payload of the Faster Payments System (SBP), i.e. the
# URL a customer's banking app opens:
#     https://qr.nspk.ru/<qrId>?type=02&bank=<member id>&sum=<kopecks>&cur=RUB&crc=XXXX
# as documented by public agent APIs and checked against the URLs in
# tests/vectors/sbp.txt (Raiffeisen sbp-sdk-java README and a public sample).
# - qrId: 32 characters A-Z/0-9 ("AD..." dynamic, "AS..." static in practice).
# - type: 01 static, 02 dynamic; bank: 12-digit SBP member id;
#   sum: amount in minor units (kopecks); cur: RUB.
# - crc: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final
#   xor) over the ASCII of the whole URL up to, not including, "&crc=",
#   printed as four upper-case hex digits.
# Building is strict and canonical (the parameter order above). Parsing
# accepts the parameters in any order and keeps unknown ones, but demands
# https, the NSPK host, a well-formed id, crc as the last parameter and a
# matching checksum: a payload from the agent is checked before it is shown.
from __future__ import annotations

import binascii
import re
import secrets
import string
from dataclasses import dataclass
from enum import StrEnum

from acquirers.sbp.errors import QrFormatError

__all__ = [
    "NSPK_HOST",
    "QrPayload",
    "QrType",
    "build_payload_url",
    "crc16_ccitt_false",
    "new_qrc_id",
    "parse_payload_url",
]

NSPK_HOST = "qr.nspk.ru"
_PREFIX = f"https://{NSPK_HOST}/"
_QRC_ID = re.compile(r"^[A-Z0-9]{32}$")
_BANK = re.compile(r"^[0-9]{12}$")
_SUM = re.compile(r"^[0-9]{1,15}$")
_CUR = re.compile(r"^[A-Z]{3}$")
_CRC = re.compile(r"^[0-9A-Fa-f]{4}$")
_PARAM = re.compile(r"^[A-Za-z0-9_.-]+$")
_VALUE = re.compile(r"^[A-Za-z0-9_.~%+-]*$")
_MAX_URL = 999  # the agent API's payload maxLength


class QrType(StrEnum):
    STATIC = "01"
    DYNAMIC = "02"


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, MSB first, xorout 0.
    binascii's CRC-CCITT is this polynomial, unreflected, without a final
    xor: started at 0xFFFF it is exactly this variant."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True, slots=True)
class QrPayload:
    """A parsed NSPK payload URL; ``amount`` in minor units when present."""

    url: str
    qrc_id: str
    qr_type: QrType
    bank: str
    amount: int | None
    currency: str | None
    crc: str
    extra: tuple[tuple[str, str], ...] = ()


def new_qrc_id(qr_type: QrType = QrType.DYNAMIC) -> str:
    """A fresh random QR id in the NSPK shape (used by the simulator)."""
    alphabet = string.ascii_uppercase + string.digits
    head = "AD" if qr_type is QrType.DYNAMIC else "AS"
    return head + "".join(secrets.choice(alphabet) for _ in range(30))


def build_payload_url(
    qrc_id: str,
    *,
    bank: str,
    amount: int | None = None,
    qr_type: QrType = QrType.DYNAMIC,
    currency: str | None = "RUB",
) -> str:
    """The payload URL for a QR id; ``amount`` in minor units (kopecks)."""
    if not _QRC_ID.match(qrc_id):
        raise QrFormatError(f"QR id must be 32 characters A-Z/0-9, got {len(qrc_id)} characters")
    if not _BANK.match(bank):
        raise QrFormatError("bank must be a 12-digit SBP member id")
    if qr_type is QrType.DYNAMIC and amount is None:
        raise QrFormatError("a dynamic QR needs an amount")
    url = f"{_PREFIX}{qrc_id}?type={qr_type.value}&bank={bank}"
    if amount is not None:
        if isinstance(amount, bool) or amount <= 0 or amount >= 10**15:
            raise QrFormatError("amount out of range")
        url += f"&sum={amount}"
        if currency is not None:
            if not _CUR.match(currency):
                raise QrFormatError("currency must be three capital letters")
            url += f"&cur={currency}"
    return f"{url}&crc={crc16_ccitt_false(url.encode('ascii')):04X}"


def parse_payload_url(url: str) -> QrPayload:
    """Parse and verify an NSPK payload URL (raises ``QrFormatError``)."""
    if len(url) > _MAX_URL or not url.isascii():
        raise QrFormatError("payload URL too long or not ASCII")
    if not url.startswith(_PREFIX):
        raise QrFormatError(f"payload URL must start with {_PREFIX}")
    path, sep, query = url[len(_PREFIX) :].partition("?")
    if not sep:
        raise QrFormatError("payload URL has no parameters")
    if not _QRC_ID.match(path):
        raise QrFormatError("payload URL has a malformed QR id")
    signed, sep, crc = url.rpartition("&crc=")
    if not sep or not _CRC.match(crc):
        raise QrFormatError("payload URL must end with &crc=XXXX")
    expected = crc16_ccitt_false(signed.encode("ascii"))
    if int(crc, 16) != expected:
        raise QrFormatError(f"payload URL checksum {crc} does not match {expected:04X}")

    params: dict[str, str] = {}
    for item in query.split("&")[:-1]:
        key, eq, value = item.partition("=")
        if not eq or not _PARAM.match(key) or not _VALUE.match(value):
            raise QrFormatError("payload URL has a malformed parameter")
        if key in params or key == "crc":
            raise QrFormatError(f"payload URL repeats parameter {key!r}")
        params[key] = value

    try:
        qr_type = QrType(params.pop("type", ""))
    except ValueError:
        raise QrFormatError("payload URL type must be 01 or 02") from None
    bank = params.pop("bank", "")
    if not _BANK.match(bank):
        raise QrFormatError("payload URL bank must be a 12-digit member id")
    amount: int | None = None
    if "sum" in params:
        text = params.pop("sum")
        if not _SUM.match(text) or int(text) == 0:
            raise QrFormatError("payload URL sum must be a positive whole number")
        amount = int(text)
    elif qr_type is QrType.DYNAMIC:
        raise QrFormatError("a dynamic QR payload must carry a sum")
    currency = params.pop("cur", None)
    if currency is not None and not _CUR.match(currency):
        raise QrFormatError("payload URL currency must be three capital letters")
    return QrPayload(
        url=url,
        qrc_id=path,
        qr_type=qr_type,
        bank=bank,
        amount=amount,
        currency=currency,
        crc=crc.upper(),
        extra=tuple(params.items()),
    )
