"""NSPK payload URLs and CRC-16/CCITT-FALSE against tests/vectors/sbp.txt."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquirers.sbp.errors import QrFormatError
from acquirers.sbp.qr import (
    QrType,
    build_payload_url,
    crc16_ccitt_false,
    new_qrc_id,
    parse_payload_url,
)
from cardcore.protocol.status import status_of
from tests.vectors import vector_text

SBP = vector_text("sbp.txt")
VECTOR_URLS = sorted(
    {u for u in re.findall(r"https://qr\.nspk\.ru/[A-Za-z0-9]+\?[^\s\"']+", SBP) if "&crc=" in u}
)
CRC_LINES = re.findall(r'crc\("([^"]+)"\) = ([0-9A-F]{4})', SBP)


def test_vector_file_has_what_we_test() -> None:
    assert len(VECTOR_URLS) == 2
    assert len(CRC_LINES) == 2


@pytest.mark.parametrize("url", VECTOR_URLS)
def test_every_vector_url_parses_and_rebuilds(url: str) -> None:
    payload = parse_payload_url(url)
    assert payload.url == url
    assert payload.bank == "100000000007"
    assert payload.crc == url[-4:]
    rebuilt = build_payload_url(
        payload.qrc_id,
        bank=payload.bank,
        amount=payload.amount,
        qr_type=payload.qr_type,
        currency=payload.currency,
    )
    assert rebuilt == url


@pytest.mark.parametrize(("signed", "crc"), CRC_LINES)
def test_crc_lines(signed: str, crc: str) -> None:
    assert f"{crc16_ccitt_false(signed.encode('ascii')):04X}" == crc


def test_vector_fields() -> None:
    dynamic = parse_payload_url(
        "https://qr.nspk.ru/AD100004BAL7227F9BNP6KNE007J9B3K?type=02&bank=100000000007&sum=1&cur=RUB&crc=AB75"
    )
    assert (dynamic.qrc_id, dynamic.qr_type, dynamic.amount, dynamic.currency) == (
        "AD100004BAL7227F9BNP6KNE007J9B3K",
        QrType.DYNAMIC,
        1,
        "RUB",
    )
    static = parse_payload_url(
        "https://qr.nspk.ru/AS100001ORTF4GAF80KPJ53K186D9A3G?type=01&bank=100000000007&crc=0C8A"
    )
    assert (static.qr_type, static.amount, static.currency) == (QrType.STATIC, None, None)


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        (b"123456789", 0x29B1),  # the catalogue check value of CRC-16/CCITT-FALSE
        (b"", 0xFFFF),
        (b"A", 0xB915),
    ],
)
def test_crc_catalogue(data: bytes, crc: int) -> None:
    assert crc16_ccitt_false(data) == crc


GOOD = "https://qr.nspk.ru/AD100004BAL7227F9BNP6KNE007J9B3K?type=02&bank=100000000007&sum=1&cur=RUB&crc=AB75"


def _resign(url: str) -> str:
    """Replace the crc so that only the other defect remains."""
    signed = url.rpartition("&crc=")[0]
    return f"{signed}&crc={crc16_ccitt_false(signed.encode()):04X}"


@pytest.mark.parametrize(
    "url",
    [
        GOOD.replace("AB75", "AB76"),  # wrong checksum
        GOOD.replace("sum=1", "sum=2"),  # tampered amount, old checksum
        GOOD.replace("&crc=AB75", ""),  # no checksum
        GOOD.replace("&crc=AB75", "&crc=AB7"),
        GOOD + "&x=1",  # crc not last
        _resign(GOOD.replace("https://", "http://")),
        _resign(GOOD.replace("qr.nspk.ru", "qr.nspk.ru.evil.example")),
        _resign(GOOD.replace("AD100004BAL7227F9BNP6KNE007J9B3K", "AD100004")),
        _resign(
            GOOD.replace("AD100004BAL7227F9BNP6KNE007J9B3K", "ad100004bal7227f9bnp6kne007j9b3k")
        ),
        _resign(GOOD.replace("type=02", "type=03")),
        _resign(GOOD.replace("bank=100000000007", "bank=1000")),
        _resign(GOOD.replace("&sum=1", "")),  # dynamic without sum
        _resign(GOOD.replace("sum=1", "sum=0")),
        _resign(GOOD.replace("sum=1", "sum=1.5")),
        _resign(GOOD.replace("cur=RUB", "cur=rub")),
        _resign(GOOD.replace("&cur=RUB", "&cur=RUB&cur=RUB")),
        _resign(GOOD.replace("&cur=RUB", "&cur")),
        _resign(GOOD.replace("?", "")),
        _resign(GOOD.replace("type", "typы")),
        GOOD + "ы",
        "https://qr.nspk.ru/" + "A" * 1000,
        "",
    ],
)
def test_bad_payload_urls(url: str) -> None:
    with pytest.raises(QrFormatError) as caught:
        parse_payload_url(url)
    assert status_of(caught.value) == "formaterror"


def test_parse_is_lenient_on_order_case_and_extra_parameters() -> None:
    url = _resign(
        "https://qr.nspk.ru/AD100004BAL7227F9BNP6KNE007J9B3K?bank=100000000007&sum=1&type=02&x-extra=ok&crc=0000"
    )
    payload = parse_payload_url(url[:-4] + url[-4:].lower())
    assert payload.amount == 1 and payload.extra == (("x-extra", "ok"),)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"qrc_id": "SHORT", "bank": "100000000007", "amount": 1},
        {"qrc_id": "A" * 32, "bank": "12", "amount": 1},
        {"qrc_id": "A" * 32, "bank": "100000000007", "amount": None},
        {"qrc_id": "A" * 32, "bank": "100000000007", "amount": 0},
        {"qrc_id": "A" * 32, "bank": "100000000007", "amount": True},
        {"qrc_id": "A" * 32, "bank": "100000000007", "amount": 1, "currency": "rub"},
    ],
)
def test_build_refuses(kwargs: dict[str, object]) -> None:
    qrc_id = kwargs.pop("qrc_id")
    with pytest.raises(QrFormatError):
        build_payload_url(qrc_id, **kwargs)  # type: ignore[arg-type]


def test_new_ids_have_the_nspk_shape() -> None:
    dynamic, static = new_qrc_id(), new_qrc_id(QrType.STATIC)
    assert re.fullmatch(r"AD[A-Z0-9]{30}", dynamic)
    assert re.fullmatch(r"AS[A-Z0-9]{30}", static)
    assert dynamic != new_qrc_id()


@settings(max_examples=200, deadline=None)
@given(amount=st.integers(min_value=1, max_value=10**15 - 1))
def test_round_trip_any_amount(amount: int) -> None:
    url = build_payload_url(new_qrc_id(), bank="100000000999", amount=amount)
    assert parse_payload_url(url).amount == amount


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_garbage_parses_or_raises_format_error(text: str) -> None:
    with contextlib.suppress(QrFormatError):
        parse_payload_url(text)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(GOOD) - 10), char=st.characters())
def test_any_single_change_before_the_crc_is_detected(position: int, char: str) -> None:
    changed = GOOD[:position] + char + GOOD[position + 1 :]
    if changed == GOOD:
        return
    with pytest.raises(QrFormatError):
        parse_payload_url(changed)
