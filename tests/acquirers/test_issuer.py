"""Online card authentication in the host simulator: ARQC verification and ARPC in field
55 through the CardAuthenticator interface, plus issuer scripts."""

from __future__ import annotations

import pytest
import trio

from base import tlv
from base.crypto import emv
from base.crypto.des import kcv_tdes
from simulators.host.issuer import (
    EmvCardAuthenticator,
    IssuerCardKeys,
    icc_tags,
    issuer_response_icc,
)
from simulators.testkeys import load_test_keys
from tests.acquirers import emv_vectors as ev
from tests.acquirers.conftest import PAN, Env, make_ledger, start_sim

H = bytes.fromhex
IMK = H("0123456789ABCDEFFEDCBA9876543210")


# ---------------------------------------------------------------- the helper against vectors
def test_helper_reproduces_kd1() -> None:
    mk = ev.icc_master_key_option_a(IMK, "12345678901234567", "45")
    assert kcv_tdes(mk, 2) == H("FF08")
    sk = ev.common_session_key(mk, H("1234567890123456"))
    assert kcv_tdes(sk, 2) == H("DF82")
    data = H("0123456789ABCDEF0123456789ABCDEF")
    cryptogram = ev.arqc(sk, data)
    assert cryptogram == H("19C1FBC83EBDC0D5")
    assert ev.arpc_method1(sk, cryptogram, H("0000")) == H("C3620580668E5B65")
    assert ev.arpc_method1(mk, cryptogram, H("0000")) == H("78A372523FA35A03")


def test_helper_reproduces_ac1() -> None:
    mk = ev.icc_master_key_option_a(IMK, "9901234567890123", "45")
    assert kcv_tdes(mk, 2) == H("1DA5")
    sk = ev.common_session_key(mk, H("1234567890123456"))
    assert kcv_tdes(sk, 2) == H("0995")
    assert ev.arqc(sk, H("0123456789ABCDEF0123456789ABCDEF")) == H("4B46013359B7A58B")


# ---------------------------------------------------------------- card side for the tests
def _icc(amount: int, *, atc: bytes = H("001C"), tamper: bool = False) -> bytes:
    values = {
        0x9F02: f"{amount:012d}",
        0x9F03: "000000000000",
        0x9F1A: "0643",
        0x95: "0000008000",
        0x5F2A: "0643",
        0x9A: "250301",
        0x9C: "00",
        0x9F37: "52BF4585",
        0x82: "1800",
        0x9F36: atc.hex(),
    }
    fields = {tag: H(v) for tag, v in values.items()}
    sk = ev.session_key_for(IMK, PAN, "01", atc)
    cryptogram = ev.arqc(sk, ev.arqc_data(fields))
    if tamper:
        cryptogram = bytes([cryptogram[0] ^ 1]) + cryptogram[1:]
    out = tlv.encode(0x9F26, cryptogram) + tlv.encode(0x9F27, H("80"))
    out += tlv.encode(0x9F10, H("06011203A0B800"))
    return out + b"".join(tlv.encode(tag, value) for tag, value in fields.items())


def _arpc_ok(icc_request: bytes, answer_icc: bytes, code: str) -> bool:
    tags = icc_tags(icc_request)
    sk = ev.session_key_for(IMK, PAN, "01", tags[0x9F36])
    expected = ev.arpc_method1(sk, tags[0x9F26], code.encode()) + code.encode()
    return tlv.find(answer_icc, 0x91) == expected


@pytest.fixture
async def emv_env(nursery: trio.Nursery) -> Env:
    sim, port = await start_sim(
        nursery, ledger=make_ledger(), card_authenticator=ev.VectorAuthenticator({PAN: IMK})
    )
    return Env(sim, port, load_test_keys())


async def test_valid_arqc_is_answered_with_arpc(emv_env: Env) -> None:
    icc = _icc(5_000)
    answer = await emv_env.link().financial(emv_env.purchase(5_000, icc=icc))
    assert answer.approved and answer.icc_data is not None
    assert _arpc_ok(icc, answer.icc_data, "00")


async def test_valid_arqc_declined_for_funds_still_gets_arpc(emv_env: Env) -> None:
    icc = _icc(500_000)
    answer = await emv_env.link().financial(emv_env.purchase(500_000, icc=icc))
    assert answer.response_code == "51" and answer.icc_data is not None
    assert _arpc_ok(icc, answer.icc_data, "51")


async def test_bad_arqc_is_declined_82(emv_env: Env) -> None:
    answer = await emv_env.link().financial(emv_env.purchase(5_000, icc=_icc(5_000, tamper=True)))
    assert answer.response_code == "82" and not answer.approved
    assert answer.icc_data is None
    assert emv_env.sim.ledger.balance(PAN) == 100_000


async def test_malformed_icc_data_is_a_format_error(emv_env: Env) -> None:
    answer = await emv_env.link().financial(emv_env.purchase(5_000, icc=H("9F2608AABB")))
    assert answer.response_code == "30"


async def test_cards_without_issuer_keys_skip_card_authentication(emv_env: Env) -> None:
    from tests.acquirers.conftest import OTHER_PAN

    answer = await emv_env.link().financial(
        emv_env.purchase(1_000, pan=OTHER_PAN, pin=None, icc=H("9F2608") + bytes(8))
    )
    assert answer.approved and answer.icc_data is None


async def test_issuer_scripts_ride_on_approvals(emv_env: Env) -> None:
    script = tlv.encode(
        0x72, tlv.encode(0x9F18, H("00000001")) + tlv.encode(0x86, H("8424000008AABBCCDD11223344"))
    )
    emv_env.sim.control.issuer_scripts = [script]
    icc = _icc(1_000)
    answer = await emv_env.link().financial(emv_env.purchase(1_000, icc=icc))
    assert answer.approved and answer.icc_data is not None
    assert answer.icc_data.endswith(script) and _arpc_ok(icc, answer.icc_data, "00")
    declined = await emv_env.link().financial(emv_env.purchase(900_000, icc=_icc(900_000)))
    assert declined.icc_data is not None and script not in declined.icc_data


def test_issuer_response_icc_layout() -> None:
    assert issuer_response_icc(H("1122334455667788") + b"00", []) == H("910A11223344556677883030")
    assert issuer_response_icc(None, [H("7100")]) == H("7100")


# ---------------------------------------------------------------- base.crypto.emv behind the host
IMKS = emv.IssuerMasterKeys(ac=IMK, smi=IMK, smc=IMK)
CVN10_DATA = {
    0x9F02: H("000000004000"),
    0x9F03: H("000000000000"),
    0x9F1A: H("0124"),
    0x95: H("8000048000"),
    0x5F2A: H("0124"),
    0x9A: H("191105"),
    0x9C: H("01"),
    0x9F37: H("52BF4585"),
    0x82: H("1800"),
    0x9F36: H("001C"),
}


@pytest.mark.parametrize("version", [None, emv.CVN10])
def test_emv_authenticator_reproduces_the_cvn10_vector(
    version: emv.CryptogramVersion | None,
) -> None:
    # emv-symmetric-crypto.txt row cvn10: ARQC 29CCA15AE665FA2E, ARPC1(ARC 3030) 28993816AFAE4AEB.
    data = {
        **CVN10_DATA,
        0x9F10: emv.CVN10.build_iad(1, H("03A06010")),
        0x9F26: H("29CCA15AE665FA2E"),
    }
    auth = EmvCardAuthenticator(cards={"1234567890123456": IssuerCardKeys(IMKS, version)})
    check = auth.check("1234567890123456", "00", data)
    assert check is not None and check.valid and check.respond is not None
    assert check.respond("00") == H("28993816AFAE4AEB") + b"00"
    bad = auth.check("1234567890123456", "00", {**data, 0x9F26: bytes(8)})
    assert bad is not None and not bad.valid
    assert auth.check("9999999999999999", "00", data) is None


def test_emv_authenticator_prefix_and_unknown_version() -> None:
    auth = EmvCardAuthenticator(prefixes={"1234": IssuerCardKeys(IMKS)})
    data = {**CVN10_DATA, 0x9F10: H("0601FF03A06010"), 0x9F26: bytes(8)}
    check = auth.check("1234567890123456", "00", data)
    assert check is not None and not check.valid and "version" in check.reason
    incomplete = auth.check("1234567890123456", "00", {0x9F10: emv.CVN10.build_iad(1, bytes(4))})
    assert incomplete is not None and not incomplete.valid


def _card_icc(version: emv.CryptogramVersion, amount: int, psn: str = "01") -> tuple[bytes, bytes]:
    data = {
        **CVN10_DATA,
        0x9F02: H(f"{amount:012d}"),
        0x9F1A: H("0643"),
        0x5F2A: H("0643"),
        0x9F10: version.build_iad(1, bytes(version.cvr_length)),
    }
    icc_mk = IMKS.derive(PAN, psn).ac
    cryptogram = emv.generate_ac(version, icc_mk, data)
    data[0x9F26] = cryptogram
    data[0x5F34] = H(psn)
    return b"".join(tlv.encode(t, v) for t, v in data.items()), icc_mk


@pytest.mark.parametrize("version", list(emv.VERSIONS.values()), ids=lambda v: v.name)
async def test_every_cryptogram_version_through_the_host(
    nursery: trio.Nursery, version: emv.CryptogramVersion
) -> None:
    auth = EmvCardAuthenticator(prefixes={PAN[:6]: IssuerCardKeys(IMKS)})
    sim, port = await start_sim(nursery, ledger=make_ledger(), card_authenticator=auth)
    env = Env(sim, port, load_test_keys())
    icc, icc_mk = _card_icc(version, 2_000)
    answer = await env.link().financial(env.purchase(2_000, icc=icc))
    assert answer.approved and answer.icc_data is not None
    tags = icc_tags(icc)
    iad91 = tlv.find(answer.icc_data, 0x91)
    assert iad91 is not None
    status = emv.check_issuer_authentication_data(
        version, icc_mk, tags[0x9F26], tags[0x9F36], tags[0x9F37], iad91
    )
    assert status is not None  # the card accepts the ARPC
    tampered = icc.replace(tags[0x9F26], bytes(8))
    refused = await env.link().financial(env.purchase(2_000, icc=tampered))
    assert refused.response_code == "82" and refused.icc_data is None
