"""PC/SC part 10 bytes (hal.pcsc_part10) against outside references: the
PIN_VERIFY_STRUCTURE layout of pcsc-lite's own reader.h (compiled with the C
compiler), the feature list libccid answers, pyscard's SCARD_CTL_CODE, and
the ISO 9564 format-2 block of base.crypto.pinblock."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from base.crypto.pinblock import encode_iso2
from hal import pcsc_part10 as part10
from hal.pcsc_part10 import Feature, PinOutcome, PinProperties
from tests.hal.ccid_pinpad import insert_pin
from tests.hal.pcscd import in_ci

READER_H = Path("/usr/include/PCSC/reader.h")

# What libccid 1.5.2 answers CM_IOCTL_GET_FEATURE_REQUEST for a GemPC Pinpad
# (bPINSupport 03), captured through pcscd: VERIFY_PIN_DIRECT,
# MODIFY_PIN_DIRECT, IFD_PIN_PROPERTIES, GET_TLV_PROPERTIES.
LIBCCID_FEATURES = bytes.fromhex("0604423300060704423300070A044233000A120442330012")

C_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <PCSC/reader.h>
int main(void) {
    static const unsigned char apdu[] =
        {0x00, 0x20, 0x00, 0x80, 0x08, 0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    unsigned char buffer[sizeof(PIN_VERIFY_STRUCTURE) + sizeof apdu];
    PIN_VERIFY_STRUCTURE *pvs = (PIN_VERIFY_STRUCTURE *)buffer;
    pvs->bTimerOut = 30;
    pvs->bTimerOut2 = 30;
    pvs->bmFormatString = 0x89;
    pvs->bmPINBlockString = 0x47;
    pvs->bmPINLengthFormat = 0x04;
    pvs->wPINMaxExtraDigit = 0x040C;  /* min 4, max 12 */
    pvs->bEntryValidationCondition = 0x02;
    pvs->bNumberMessage = 0x01;
    pvs->wLangId = 0x0419;
    pvs->bMsgIndex = 0;
    memset(pvs->bTeoPrologue, 0, 3);
    pvs->ulDataLength = sizeof apdu;
    memcpy(pvs->abData, apdu, sizeof apdu);
    fwrite(buffer, 1, sizeof buffer, stdout);
    return 0;
}
"""


def test_verify_structure_has_readerh_layout(tmp_path: Path) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not READER_H.exists():
        if in_ci():
            pytest.fail("CARDCORE_CI=1 but no C compiler or pcsc-lite's reader.h", pytrace=False)
        pytest.skip("needs a C compiler and libpcsclite-dev's reader.h")
    source = tmp_path / "pvs.c"
    source.write_text(C_PROGRAM)
    binary = tmp_path / "pvs"
    subprocess.run(
        [compiler, "-I/usr/include/PCSC", str(source), "-o", str(binary)],
        check=True,
        capture_output=True,
    )
    reference = subprocess.run([str(binary)], check=True, capture_output=True).stdout
    ours = part10.emv_plaintext_verify(timeout=30, language="ru")
    assert ours.hex() == reference.hex()
    assert len(ours) == 19 + 13


def test_ctl_code_is_pyscards() -> None:
    scard = pytest.importorskip("smartcard.scard")
    assert scard.SCARD_CTL_CODE(3400) == part10.CM_IOCTL_GET_FEATURE_REQUEST
    assert part10.scard_ctl_code(3400, windows=True) == 0x313520  # as libccid knows it


def test_features_libccid_answers() -> None:
    features = part10.parse_features(LIBCCID_FEATURES)
    assert features == {
        Feature.VERIFY_PIN_DIRECT: 0x42330006,
        Feature.MODIFY_PIN_DIRECT: 0x42330007,
        Feature.IFD_PIN_PROPERTIES: 0x4233000A,
        Feature.GET_TLV_PROPERTIES: 0x42330012,
    }
    assert part10.parse_features(b"") == {}
    assert part10.parse_features(bytes.fromhex("7F0400000001")) == {0x7F: 1}
    for bad in ("06", "060342330006", "0604423300"):
        with pytest.raises(part10.Part10Error):
            part10.parse_features(bytes.fromhex(bad))


def test_pin_properties() -> None:
    # libccid's PIN_PROPERTIES_STRUCTURE of a 2x16 display pad: wLcdLayout 0x0210.
    props = part10.parse_pin_properties(bytes.fromhex("10020200"))
    assert (props.lcd_lines, props.lcd_characters, props.validation) == (2, 16, 2)
    assert props.has_display
    # GET_TLV_PROPERTIES of the CCID project's IDBridge CT710 dump: 2x17, min 4, max 15.
    tlv = bytes.fromhex("0102110202010203010006010407010F0803414243")
    props = part10.parse_tlv_properties(tlv, props)
    assert (props.lcd_lines, props.lcd_characters, props.min_pin, props.max_pin) == (2, 17, 4, 15)
    assert props.firmware == "ABC"
    with pytest.raises(part10.Part10Error):
        part10.parse_tlv_properties(bytes.fromhex("0604"))
    with pytest.raises(part10.Part10Error):
        part10.parse_pin_properties(b"\x00")


def test_pin_lengths_narrow_to_the_reader() -> None:
    structure = part10.emv_plaintext_verify(
        timeout=300, properties=PinProperties(min_pin=6, max_pin=8, validation=0x07)
    )
    assert structure[0] == structure[1] == 0xFF  # at most 255 s
    assert (structure[5], structure[6]) == (8, 6)  # wPINMaxExtraDigit LE: max, then min
    assert structure[7] == 0x02  # the validation key, when the reader has one
    only_timeout = part10.emv_plaintext_verify(timeout=5, properties=PinProperties(validation=4))
    assert only_timeout[7] == 0x04
    with pytest.raises(part10.Part10Error):
        part10.emv_plaintext_verify(timeout=30, properties=PinProperties(min_pin=13))


@pytest.mark.parametrize("pin", ["1234", "0000", "987654", "123456789012"])
def test_a_reader_building_the_block_as_the_structure_says_makes_format_2(pin: str) -> None:
    """The structure's formatting fields, applied as CCID 6.1.11.4 says (the
    test reader's firmware), give the block base.crypto.pinblock encodes."""
    structure = part10.emv_plaintext_verify(timeout=30)
    apdu = bytearray(structure[19:])
    insert_pin(apdu, pin, structure[2], structure[3], structure[4])
    assert bytes(apdu[:5]) == bytes.fromhex("0020008008")
    assert bytes(apdu[5:]) == encode_iso2(pin)


@pytest.mark.parametrize(
    ("answer", "outcome", "sw"),
    [
        ("9000", PinOutcome.CARD_ANSWERED, 0x9000),
        ("63C2", PinOutcome.CARD_ANSWERED, 0x63C2),
        ("6983", PinOutcome.CARD_ANSWERED, 0x6983),
        ("6400", PinOutcome.TIMEOUT, 0x6400),
        ("6401", PinOutcome.CANCELLED, 0x6401),
        ("6403", PinOutcome.BAD_LENGTH, 0x6403),
        ("6B80", PinOutcome.REFUSED, 0x6B80),
    ],
)
def test_verify_outcomes(answer: str, outcome: PinOutcome, sw: int) -> None:
    assert part10.verify_outcome(bytes.fromhex(answer)) == (outcome, sw)


def test_verify_answer_that_is_not_a_status_word() -> None:
    for bad in (b"", b"\x90", b"\x01\x90\x00"):
        with pytest.raises(part10.Part10Error):
            part10.verify_outcome(bad)
