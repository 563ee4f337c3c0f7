"""Offline data authentication (EMV Book 2) against the real-card chains of the ODA vectors.

emv-oda-emvtools.txt: SDA (Visa 01), DDA and CDA (Mastercard 05 live) from emv-tools;
emv-oda-emvutils.txt: Visa test key 94 chain and a Mastercard F1 CDA signature from emv-utils.
Certificates have expired by now, so every test pins the transaction date.
"""

from __future__ import annotations

import datetime as dt

import pytest

from base.crypto.rsa import RsaPublicKey
from kernel.capk import CaKeyStore
from kernel.oda import (
    OdaCheckError,
    OdaFailure,
    cda_transaction_data,
    open_icc_certificate,
    recover_dynamic_signature,
    recover_icc_key,
    recover_issuer_key,
    static_data_to_authenticate,
    strip_sdad,
    verify_cda,
    verify_dda,
    verify_sda,
)
from tests.kernel.vectors import H, expected, need, section, tagged, value
from tests.vectors import vector_text

TOOLS = "emv-oda-emvtools.txt"
UTILS = "emv-oda-emvutils.txt"
SDA = section(TOOLS, "######## SDA")
DDA = section(TOOLS, "######## DDA")
CDA = section(TOOLS, "######## CDA")
EXPECTED = section(TOOLS, "######## EXPECTED")
SDA_EXP = EXPECTED[EXPECTED.index("sda-test.c") : EXPECTED.index("dda-test.c")]
DDA_EXP = EXPECTED[EXPECTED.index("dda-test.c") : EXPECTED.index("cda-test.c")]
CDA_EXP = EXPECTED[EXPECTED.index("cda-test.c") :]
VISA94 = section(UTILS, "######## emv_rsa_test.c")
MCF1 = section(UTILS, "######## emv_rsa_cda_test.c")
UTILS_EXP = section(UTILS, "######## EXPECTED")
VISA94_EXP = UTILS_EXP[: UTILS_EXP.index("emv_rsa_cda_test.c")]
MCF1_EXP = UTILS_EXP[UTILS_EXP.index("emv_rsa_cda_test.c") :]
TEST_KEYS = CaKeyStore.from_capk_text(vector_text("emv-capk-test-and-live.txt"), labels={"test"})


def fail_reason(exc: pytest.ExceptionInfo[OdaCheckError]) -> OdaFailure:
    return exc.value.reason


def ca(block: str) -> RsaPublicKey:
    return RsaPublicKey(need(block, "CAPK_MODULUS"), need(block, "CAPK_EXPONENT"))


def issuer(block: str, today: dt.date, **over: bytes) -> RsaPublicKey:
    return recover_issuer_key(
        ca(block),
        over.get("cert", need(block, "TAG_90_ISSUER_PK_CERT")),
        exponent=need(block, "TAG_9F32_ISSUER_PK_EXPONENT"),
        remainder=value(block, "TAG_92_ISSUER_PK_REMAINDER"),
        pan=over.get("pan", need(block, "TAG_5A_PAN")),
        today=today,
    )


def flip(data: bytes, index: int = -1) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


# --- SDA ------------------------------------------------------------------------------

SDA_DAY = dt.date(2009, 6, 1)


def test_sda_issuer_key_and_dac() -> None:
    key = issuer(SDA, SDA_DAY)
    assert key.modulus == expected(SDA_EXP, "ISSUER_PK_MODULUS")
    assert key.issuer_id == H("427655FF")
    assert key.expiry == H("1209")
    dac = verify_sda(key, need(SDA, "TAG_93_SIGNED_STATIC_APP_DATA"), need(SDA, "SDA_DATA"))
    assert dac == H("3132")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", OdaFailure.EXPIRED),
        ("pan", OdaFailure.ISSUER_ID),
        ("cert", OdaFailure.TRAILER),
        ("short", OdaFailure.LENGTH),
    ],
)
def test_sda_issuer_key_failures(case: str, reason: OdaFailure) -> None:
    cert = need(SDA, "TAG_90_ISSUER_PK_CERT")
    over = {
        "expired": {},
        "pan": {"pan": H("4111111111111111")},
        "cert": {"cert": flip(cert)},
        "short": {"cert": cert[1:]},
    }[case]
    today = dt.date(2010, 1, 1) if case == "expired" else SDA_DAY
    with pytest.raises(OdaCheckError) as info:
        issuer(SDA, today, **over)
    assert fail_reason(info) is reason


def test_sda_expiry_is_the_last_day_of_the_month() -> None:
    issuer(SDA, dt.date(2009, 12, 31))
    with pytest.raises(OdaCheckError):
        issuer(SDA, dt.date(2010, 1, 1))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda ssad, data: (ssad, flip(data, 3)), OdaFailure.HASH),
        (lambda ssad, data: (ssad, data + b"\x00"), OdaFailure.HASH),
        (lambda ssad, data: (flip(ssad), data), None),  # garbage after recovery
    ],
)
def test_sda_signature_failures(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    key = issuer(SDA, SDA_DAY)
    ssad, data = mutate(need(SDA, "TAG_93_SIGNED_STATIC_APP_DATA"), need(SDA, "SDA_DATA"))
    with pytest.raises(OdaCheckError) as info:
        verify_sda(key, ssad, data)
    if reason is not None:
        assert fail_reason(info) is reason


def test_issuer_certificate_revocation() -> None:
    with pytest.raises(OdaCheckError) as info:
        recover_issuer_key(
            ca(SDA),
            need(SDA, "TAG_90_ISSUER_PK_CERT"),
            exponent=H("03"),
            remainder=value(SDA, "TAG_92_ISSUER_PK_REMAINDER"),
            pan=need(SDA, "TAG_5A_PAN"),
            today=SDA_DAY,
            is_revoked=lambda serial: serial == H("0042B3"),
        )
    assert fail_reason(info) is OdaFailure.REVOKED


def test_issuer_remainder_missing_or_wrong() -> None:
    for remainder, reason in ((None, OdaFailure.REMAINDER), (H("00"), OdaFailure.HASH)):
        with pytest.raises(OdaCheckError) as info:
            recover_issuer_key(
                ca(SDA),
                need(SDA, "TAG_90_ISSUER_PK_CERT"),
                exponent=H("03"),
                remainder=remainder,
                pan=need(SDA, "TAG_5A_PAN"),
                today=SDA_DAY,
            )
        assert fail_reason(info) is reason


def test_issuer_exponent_length_checked() -> None:
    with pytest.raises(OdaCheckError) as info:
        recover_issuer_key(
            ca(SDA),
            need(SDA, "TAG_90_ISSUER_PK_CERT"),
            exponent=H("010001"),
            remainder=value(SDA, "TAG_92_ISSUER_PK_REMAINDER"),
            pan=need(SDA, "TAG_5A_PAN"),
            today=SDA_DAY,
        )
    assert fail_reason(info) is OdaFailure.EXPONENT


# --- DDA / CDA (Mastercard 05) -------------------------------------------------------------

MC_DAY = dt.date(2014, 9, 25)


def icc(block: str, today: dt.date = MC_DAY, static: bytes | None = None) -> RsaPublicKey:
    return recover_icc_key(
        issuer(block, today),
        need(block, "TAG_9F46_ICC_PK_CERT"),
        exponent=need(block, "TAG_9F47_ICC_PK_EXPONENT"),
        remainder=value(block, "TAG_9F48_ICC_PK_REMAINDER"),
        pan=need(block, "TAG_5A_PAN"),
        static_data=need(block, "SDA_DATA") if static is None else static,
        today=today,
    )


def test_dda_icc_key_and_idn() -> None:
    key = icc(DDA)
    assert key.modulus == expected(DDA_EXP, "ICC_PK_MODULUS")
    idn = verify_dda(key, need(DDA, "TAG_9F4B_SIGNED_DYNAMIC_APP_DATA"), need(DDA, "DDOL_DATA"))
    assert idn == H("7A33FB8C9546E1E7")


def test_dda_failures() -> None:
    key = icc(DDA)
    sdad = need(DDA, "TAG_9F4B_SIGNED_DYNAMIC_APP_DATA")
    with pytest.raises(OdaCheckError) as info:
        verify_dda(key, sdad, H("00000001"))
    assert fail_reason(info) is OdaFailure.HASH
    with pytest.raises(OdaCheckError):
        verify_dda(key, flip(sdad), need(DDA, "DDOL_DATA"))
    with pytest.raises(OdaCheckError) as info:
        icc(DDA, dt.date(2015, 7, 1))  # ICC certificate 06/15, issuer 12/21
    assert fail_reason(info) is OdaFailure.EXPIRED
    with pytest.raises(OdaCheckError) as info:
        icc(DDA, static=flip(need(DDA, "SDA_DATA")))
    assert fail_reason(info) is OdaFailure.HASH


def test_icc_certificate_pan_must_match() -> None:
    with pytest.raises(OdaCheckError) as info:
        recover_icc_key(
            issuer(DDA, MC_DAY),
            need(DDA, "TAG_9F46_ICC_PK_CERT"),
            exponent=H("03"),
            remainder=None,
            pan=H("5285881254345654"),
            static_data=need(DDA, "SDA_DATA"),
            today=MC_DAY,
        )
    assert fail_reason(info) is OdaFailure.PAN


def cda_args() -> tuple[bytes, bytes, bytes]:
    txn = cda_transaction_data(
        b"", need(CDA, "CDOL1_RELATED_DATA"), need(CDA, "GENAC_RESPONSE_TLVS_EXCL_9F4B")
    )
    return (
        need(CDA, "TAG_9F4B_SIGNED_DYNAMIC_APP_DATA"),
        need(CDA, "TAG_9F37_UNPREDICTABLE_NUMBER"),
        txn,
    )


def test_cda_signature() -> None:
    sdad, un, txn = cda_args()
    result = verify_cda(icc(CDA), sdad, unpredictable_number=un, cid=0x40, transaction_data=txn)
    assert result.idn == H("4CC2FB1FAFB30915")
    assert result.ac == H("16AFBA13C52FB173")
    assert result.cid == 0x40
    assert result.transaction_data_hash == H("9D1493E6F70FAAB248A0689BEE7C8DFA10DA423D")


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("cid", OdaFailure.CID),
        ("un", OdaFailure.HASH),
        ("txn", OdaFailure.TRANSACTION_HASH),
        ("sdad", None),
    ],
)
def test_cda_failures(field: str, reason: OdaFailure | None) -> None:
    sdad, un, txn = cda_args()
    cid = 0x80 if field == "cid" else 0x40
    un = flip(un) if field == "un" else un
    txn = flip(txn) if field == "txn" else txn
    sdad = flip(sdad) if field == "sdad" else sdad
    with pytest.raises(OdaCheckError) as info:
        verify_cda(icc(CDA), sdad, unpredictable_number=un, cid=cid, transaction_data=txn)
    if reason is not None:
        assert fail_reason(info) is reason


def test_strip_sdad_keeps_the_card_encoding() -> None:
    body = H("9F2701409F360200109F4B03AABBCC9F1003112233")
    assert strip_sdad(body) == H("9F2701409F360200109F1003112233")


# --- static data to be authenticated (Book 3 10.3) --------------------------------------


def test_static_data_from_records_and_aip() -> None:
    data = need(DDA, "SDA_DATA")
    body, aip = data[:-2], data[-2:]
    record = bytes([0x70, 0x81, len(body)]) + body
    assert static_data_to_authenticate([(2, record)], aip, H("82")) == data
    # SFI 11..30: the whole record is authenticated.
    assert static_data_to_authenticate([(11, H("DF0101AA"))], aip, None) == H("DF0101AA")


@pytest.mark.parametrize(
    ("records", "tag_list"),
    [
        ([(1, H("710100"))], None),  # not '70'
        ([(1, H("7003"))], None),  # malformed
        ([(1, H("7000"))], H("9F37")),  # tag list may only name '82'
        ([(1, H("7000"))], H("8295")),
    ],
)
def test_static_data_errors(records: list[tuple[int, bytes]], tag_list: bytes | None) -> None:
    with pytest.raises(OdaCheckError) as info:
        static_data_to_authenticate(records, H("3900"), tag_list)
    assert fail_reason(info) is OdaFailure.STATIC_DATA


# --- emv-utils: Visa test key 94 and Mastercard test key F1 --------------------------------


def visa94_issuer(today: dt.date, data: str = "valid_icc_data", cert: str = "VALID_ISSUER_CERT"):  # type: ignore[no-untyped-def]
    key = TEST_KEYS.get(H("A000000003"), 0x94)
    assert key is not None
    return recover_issuer_key(
        key.public_key,
        need(VISA94, cert),
        exponent=tagged(VISA94, data, "9F32"),
        remainder=tagged(VISA94, data, "92"),
        pan=tagged(VISA94, data, "5A"),
        today=today,
    )


def test_visa94_issuer_key() -> None:
    key = visa94_issuer(dt.date(2031, 12, 31))
    assert key.modulus == expected(VISA94_EXP, "ISSUER_PK_MODULUS")
    with pytest.raises(OdaCheckError) as info:
        visa94_issuer(dt.date(2032, 1, 1))
    assert fail_reason(info) is OdaFailure.EXPIRED
    with pytest.raises(OdaCheckError) as info:
        visa94_issuer(dt.date(2031, 1, 1), data="invalid_icc_data")
    assert fail_reason(info) is OdaFailure.EXPONENT
    with pytest.raises(OdaCheckError):
        visa94_issuer(dt.date(2031, 1, 1), cert="INVALID_ISSUER_CERT")


def test_visa94_icc_key_ssad_and_sdad() -> None:
    issuer_key = visa94_issuer(dt.date(2022, 5, 6))
    cert = open_icc_certificate(issuer_key, need(VISA94, "VALID_ICC_CERT"))
    modulus = cert.modulus(tagged(VISA94, "valid_icc_data", "9F48"))
    assert modulus == expected(VISA94_EXP, "ICC_PK_MODULUS")
    assert cert.expiry == H("1222")
    # The static data of this card are not published: the full check must fail on the hash.
    with pytest.raises(OdaCheckError) as info:
        recover_icc_key(
            issuer_key,
            need(VISA94, "VALID_ICC_CERT"),
            exponent=H("03"),
            remainder=tagged(VISA94, "valid_icc_data", "9F48"),
            pan=tagged(VISA94, "valid_icc_data", "5A"),
            static_data=b"",
            today=dt.date(2022, 5, 6),
        )
    assert fail_reason(info) is OdaFailure.HASH
    with pytest.raises(OdaCheckError):
        open_icc_certificate(issuer_key, need(VISA94, "INVALID_ICC_CERT"))
    with pytest.raises(OdaCheckError) as info:
        verify_sda(issuer_key, need(VISA94, "INVALID_ENC_SSAD"), b"")
    assert fail_reason(info) is OdaFailure.TRAILER
    icc_key = RsaPublicKey(modulus, H("03"))
    assert verify_dda(icc_key, need(VISA94, "VALID_ENC_SDAD"), need(VISA94, "DDOL_DATA")) == H(
        "00AE"
    )
    with pytest.raises(OdaCheckError):
        verify_dda(icc_key, need(VISA94, "INVALID_ENC_SDAD"), need(VISA94, "DDOL_DATA"))


def test_mcf1_cda_signature_structure() -> None:
    ca_key = TEST_KEYS.get(H("A000000004"), 0xF1)
    assert ca_key is not None
    today = dt.date(2025, 5, 6)
    issuer_key = recover_issuer_key(
        ca_key.public_key,
        need(MCF1, "VALID_ISSUER_CERT"),
        exponent=H("03"),
        remainder=b"",
        pan=tagged(MCF1, "valid_icc_data", "5A"),
        today=today,
    )
    assert issuer_key.modulus == expected(MCF1_EXP, "ISSUER_PK_MODULUS")
    cert = open_icc_certificate(issuer_key, need(MCF1, "VALID_ICC_CERT"))
    modulus = cert.modulus(tagged(MCF1, "valid_icc_data", "9F48"))
    assert modulus == expected(MCF1_EXP, "ICC_PK_MODULUS")
    icc_key = RsaPublicKey(modulus, H("03"))
    sig = recover_dynamic_signature(icc_key, need(MCF1, "VALID_ENC_SDAD"))
    assert sig.idn == H("537EB5E03CC433C8")
    # The transaction data of this signature are not published: every check before the
    # Transaction Data Hash Code passes, that one cannot.
    with pytest.raises(OdaCheckError) as info:
        verify_cda(
            icc_key,
            need(MCF1, "VALID_ENC_SDAD"),
            unpredictable_number=need(MCF1, "DDOL_DATA"),
            cid=0x00,
            transaction_data=b"",
        )
    assert fail_reason(info) is OdaFailure.TRANSACTION_HASH
    with pytest.raises(OdaCheckError):
        recover_dynamic_signature(icc_key, need(MCF1, "INVALID_ENC_SDAD"))
