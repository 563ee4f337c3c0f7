"""Online card authentication in the host simulator: ARQC verification and ARPC in field
55 through the CardAuthenticator interface, plus issuer scripts."""

from __future__ import annotations

import pytest
import trio

from acquirers.hostsim.issuer import icc_tags, issuer_response_icc
from acquirers.testkeys import load_test_keys
from kernel import tlv
from kernel.crypto.des import kcv_tdes
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
