"""The worked examples of docs/pinpad-protocol.md, produced by both ends: the
terminal's codec (hal/usbhid/protocol.py, with base.crypto) and the reference
pad's firmware (pinpad_logic answering real requests), so the document says
what the code does."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from base.crypto.des import kcv_aes, kcv_tdes, tdes_ecb_encrypt
from base.crypto.pinblock import encode_iso0, encode_iso2
from hal.usbhid import protocol as h
from tests.firmware.firmware import logic
from tests.firmware.firmware import protocol as fw

SPEC = (Path(__file__).resolve().parents[2] / "docs" / "pinpad-protocol.md").read_text()
TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
TPK = bytes.fromhex("C1D0F8FB4958670DBA40AB1F3752EF0D")
LINK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
PAN = "4761739001010010"
NONCE = bytes(range(0xA0, 0xAC))


def shown(report: bytes) -> str:
    """A report as the document shows it: up to its payload, spaced hex."""
    return " ".join(f"{b:02X}" for b in report[: 3 + report[2]])


def in_spec(report: bytes) -> None:
    assert f"`{shown(report)}`" in SPEC, shown(report)


def press(pad: logic.Pad, digits: str) -> list[bytes]:
    out: list[bytes] = []
    for digit in digits:
        out += pad.key(digit, 0)
    return out + pad.key(fw.KEY_ENTER, 0)


def test_the_report_descriptor_is_the_documented_one() -> None:
    """Section 1 shows the 27 bytes; the protocol module holds them for both ends."""
    spaced = " ".join(f"{b:02X}" for b in h.REPORT_DESCRIPTOR)
    assert len(h.REPORT_DESCRIPTOR) == 27
    assert " ".join(SPEC.split("```")[1].split()) == spaced


def test_requests_and_info() -> None:
    in_spec(h.Report(h.MsgType.GET_INFO, 1).encode())
    info = h.Report(h.MsgType.INFO, 1, h.Info(1, h.KeyScheme.TPK, "PP42", "ref-1.0").encode())
    in_spec(info.encode())
    pad = logic.Pad(logic.Keys(tmk=TMK), "PP42", "ref-1.0", bytes)
    assert pad.report(fw.encode(fw.GET_INFO, 1), 0) == [info.encode()]
    in_spec(h.Report(h.MsgType.CANCEL, 7).encode())
    assert f"KCV {kcv_tdes(TPK).hex().upper()}" in SPEC
    assert f"KCV {kcv_aes(LINK).hex().upper()}" in SPEC


def test_online_pin_under_the_tpk() -> None:
    pad = logic.Pad(logic.Keys(tmk=TMK), "PP42", "ref-1.0", bytes)
    load = h.LoadKey(h.WrappedKeyId.TPK, tdes_ecb_encrypt(TMK, TPK), kcv_tdes(TPK))
    load_report = h.Report(h.MsgType.LOAD_KEY, 2, load.encode()).encode()
    in_spec(load_report)
    assert pad.report(load_report, 0) == [fw.encode(fw.ACK, 2, b"\x00")]
    request = h.Report(h.MsgType.ONLINE_PIN, 4, h.OnlinePinRequest(PAN, 1500, 643, 30).encode())
    in_spec(request.encode())
    assert pad.report(request.encode(), 0) == []
    out = press(pad, "1234")
    in_spec(out[0])  # the first digit's KEY_EVENT
    block = tdes_ecb_encrypt(TPK, encode_iso0("1234", PAN))
    result = h.Report(h.MsgType.PIN_RESULT, 4, h.PinResult(h.Status.OK, block=block).encode())
    assert out[-1] == result.encode()
    in_spec(result.encode())


def test_offline_pin_over_the_link() -> None:
    pad = logic.Pad(logic.Keys(tmk=TMK), "PP42", "ref-1.0", lambda n: NONCE[:n])
    load = h.LoadKey(h.WrappedKeyId.LINK, tdes_ecb_encrypt(TMK, LINK), kcv_aes(LINK))
    load_report = h.Report(h.MsgType.LOAD_KEY, 3, load.encode()).encode()
    in_spec(load_report)
    assert pad.report(load_report, 0) == [fw.encode(fw.ACK, 3, b"\x00")]
    request = h.Report(h.MsgType.OFFLINE_PIN, 5, h.OfflinePinRequest(1500, 643, 3, 30).encode())
    in_spec(request.encode())
    pad.report(request.encode(), 0)
    sealed = NONCE + AESGCM(LINK).encrypt(NONCE, encode_iso2("1234"), h.offline_aad(5))
    result = h.Report(
        h.MsgType.PIN_RESULT, 5, h.PinResult(h.Status.OK, h.PinFormat.ISO2, b"", sealed).encode()
    )
    assert press(pad, "1234")[-1] == result.encode()
    in_spec(result.encode())


def test_dukpt_result_is_x9_24_1_a4() -> None:
    keys = logic.Keys(
        tmk=TMK,
        dukpt="tdes",
        initial_key=bytes.fromhex("6AC292FAA1315B4D858AB3A3D7D5933A"),
        ksn=bytes.fromhex("FFFF9876543210E00000"),
    )
    pad = logic.Pad(keys, "PP42", "ref-1.0", bytes)
    request = h.OnlinePinRequest("4012345678909", 100, 643, 30)  # the A.4 data's PAN
    pad.report(h.Report(h.MsgType.ONLINE_PIN, 6, request.encode()).encode(), 0)
    result = press(pad, "1234")[-1]
    expected = h.PinResult(
        h.Status.OK,
        h.PinFormat.ISO0,
        bytes.fromhex("FFFF9876543210E00001"),
        bytes.fromhex("1B9C1845EB993A7A"),
    )
    assert shown(result) == shown(h.Report(h.MsgType.PIN_RESULT, 6, expected.encode()).encode())
    in_spec(result)
