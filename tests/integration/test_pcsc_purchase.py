"""A purchase from the cash register through `cardcore serve` whose card
readers are PC/SC: the card is a virtual card that `cardcore sim vpcd` plugs
into vsmartcard's vpcd reader of a real pcscd, so the APDUs go kernel ->
hal.pcsc -> pyscard -> libpcsclite -> pcscd -> vpcd -> the virtual card, the
code path a USB reader on a bench PC takes. Hosts and PIN pad are simulated
(`--simulator`), readers are not (`[readers] driver = "pcsc"`).

pyemv, an EMV cryptography package nobody here wrote, recomputes the ARQC
the card gave such a purchase and the ARPC the host simulator answered, from
the keys of the card's profile and the APDUs the terminal exchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from cardcore.protocol.xmlcodec import decode_error_stack
from simulators.devices.pki import load_issuer_keys
from simulators.devices.profile import load_profile
from simulators.devices.vpcd import ContactIcc, icc_for_profile
from tests.hal.pcscd import CONTACT_READER, CONTACTLESS_READER, Pcscd, plugged
from tests.integration.conftest import FAST, Served, start_server, stop_server
from tests.integration.test_transactions import PURCHASE, Register, assert_consistent

# Every test here shares the one private pcscd: they run in their own, serial
# pytest run (make unit), never beside each other on two workers.
pytestmark = pytest.mark.pcsc

CONFIG = (
    FAST
    + f"""
[readers]
driver = "pcsc"
contact = ["{CONTACT_READER}"]
contactless = ["{CONTACTLESS_READER}"]
poll = 0.5
[transaction]
detection-timeout = 30
[acquirer]
response-timeout = 5
"""
)


def vpcd_card(port: int, *extra: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cardcore", "sim", "vpcd", *extra, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert "virtual card" in first, first
    return process


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, then everything it printed after its first line (read through
    the same buffered pipe object the first line came from)."""
    assert process.stdout is not None
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return process.returncode, process.stdout.read()


@pytest.fixture
def terminal(pcscd: Pcscd, tmp_path: Path) -> Iterator[Served]:
    server = start_server(tmp_path / "data", config=CONFIG)
    try:
        yield server
    finally:
        code = stop_server(server)
        assert code == 0, server.log_text()


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
async def test_purchase_with_a_card_in_a_pcsc_reader(
    pcscd: Pcscd, terminal: Served, t0: bool
) -> None:
    """The default card offers T=0 alone, as most payment cards; `--t1` makes
    it a T=1 card."""
    card = vpcd_card(pcscd.port, "default", *([] if t0 else ["--t1"]))
    try:
        register = Register(terminal)
        answer = await register.transaction(**PURCHASE)
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        receipt = answer.body["receipt"]
        assert receipt["tstatus"] == "approved", receipt
        assert receipt["pan"] == "************0010" and receipt["pin-entered"] == "offline"
        assert receipt["aid"] == "A0000000031010"
        assert register.codes()[0] == "15"  # present card: a contactless reader is there too
        await assert_consistent(terminal)
    finally:
        code, output = stop(card)
    assert code == 0, output
    assert "virtual card connected to vpcd" in output
    log = terminal.log_text()
    assert "card readers: PC/SC" in log
    assert f"contact interface: PC/SC reader {CONTACT_READER}" in log
    assert f"card in {CONTACT_READER}: ATR 3B" in log
    assert ", T=0" in log if t0 else ", T=1" in log
    assert "4761739001010010" not in log and "4761739001010010" not in output


async def test_contactless_purchase_through_a_pcsc_contactless_reader(
    pcscd: Pcscd, terminal: Served
) -> None:
    """A tap: the card on vpcd's second slot as a PC/SC part 3 contactless
    reader shows it (ATR, GET DATA UID); the Entry Point and the kernel run
    over the same PC/SC session."""
    card = vpcd_card(pcscd.port + 1, "visa-qvsdc")
    try:
        answer = await Register(terminal).transaction(**PURCHASE)
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        receipt = answer.body["receipt"]
        assert receipt["tstatus"] == "approved", receipt
        await assert_consistent(terminal)
    finally:
        code, output = stop(card)
    assert code == 0, output
    log = terminal.log_text()
    assert f"contactless interface: PC/SC reader {CONTACTLESS_READER}" in log
    assert f"card in {CONTACTLESS_READER}: ATR 3B8" in log


async def test_insert_card_when_no_contactless_reader_is_there(
    pcscd: Pcscd, tmp_path: Path
) -> None:
    """The README's bench: the default patterns give vpcd's first slot to the
    contact interface and none to the contactless one (its second slot is a
    spare), so the terminal asks for the chip (0B), not for a tap (15)."""
    config = FAST + '[readers]\ndriver = "pcsc"\npoll = 0.5\n'  # the default patterns
    server = start_server(tmp_path / "data", config=config)
    card = vpcd_card(pcscd.port, "default")
    try:
        register = Register(server)
        answer = await register.transaction(**PURCHASE)
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        assert answer.body["receipt"]["tstatus"] == "approved"
        assert register.codes()[0] == "0B", register.codes()
        assert "15" not in register.codes()
    finally:
        stop(card)
        assert stop_server(server) == 0, server.log_text()
    log = server.log_text()
    assert f"contact interface: PC/SC reader {CONTACT_READER}" in log
    assert "contactless interface: no PC/SC reader matches" in log


async def test_no_card_in_the_pcsc_reader_times_out(pcscd: Pcscd, tmp_path: Path) -> None:
    config = CONFIG.replace("detection-timeout = 30", "detection-timeout = 2")
    server = start_server(tmp_path / "data", config=config)
    try:
        answer = await Register(server).transaction(**PURCHASE)
        assert answer.status == "notdetected", answer.body
        assert "no card presented" in decode_error_stack(answer.body["error-stack"])[0]
    finally:
        assert stop_server(server) == 0


def record(icc: ContactIcc) -> list[tuple[bytes, bytes]]:
    """Keep every APDU the terminal sends the card through pcscd, and its answer."""
    exchanges: list[tuple[bytes, bytes]] = []
    transmit = icc.transmit

    def recorded(capdu: bytes) -> bytes:
        rapdu = transmit(capdu)
        exchanges.append((capdu, rapdu))
        return rapdu

    icc.transmit = recorded  # type: ignore[method-assign]
    return exchanges


def commands(exchanges: list[tuple[bytes, bytes]], cla: int, ins: int) -> list[tuple[bytes, bytes]]:
    """(command data, response data) of each such command; a '61xx' answer
    (T=0) is completed by the GET RESPONSE that follows it."""
    found = []
    for i, (capdu, rapdu) in enumerate(exchanges):
        if capdu[:2] != bytes([cla, ins]):
            continue
        if rapdu[0] == 0x61:
            rapdu = exchanges[i + 1][1]
        found.append((capdu[5 : 5 + capdu[4]], rapdu[:-2]))
    return found


def dol_values(dol: list[tuple[int, int]], data: bytes) -> dict[str, bytes]:
    values, pos = {}, 0
    for tag, length in dol:
        values[f"{tag:X}"] = data[pos : pos + length]
        pos += length
    assert pos == len(data)
    return values


def cda_cryptogram(sdad: bytes, modulus: int, exponent: int) -> tuple[int, bytes]:
    """CID and AC out of a CDA signature (EMV Book 2 6.6.2): recover with the
    ICC public key: 6A 05 01, LDD, ICC Dynamic Data (IDN length, IDN, CID, AC,
    transaction data hash code), padding BB, hash, BC."""
    size = (modulus.bit_length() + 7) // 8
    recovered = pow(int.from_bytes(sdad, "big"), exponent, modulus).to_bytes(size, "big")
    assert recovered[:3] == b"\x6a\x05\x01" and recovered[-1] == 0xBC
    dynamic = recovered[4 : 4 + recovered[3]]
    idn_length = dynamic[0]
    cid = dynamic[1 + idn_length]
    return cid, dynamic[2 + idn_length : 10 + idn_length]


@pytest.mark.filterwarnings("ignore:.*TripleDES")  # pyemv's use of cryptography
async def test_pyemv_recomputes_the_arqc_and_the_arpc_of_a_purchase(
    pcscd: Pcscd, terminal: Served, nursery: trio.Nursery
) -> None:
    """The default card (Visa CVN 18: option B master key, common session key
    from the ATC, ARPC method 2 in tag 91 of the second GENERATE AC, CDA)."""
    import pyemv

    profile = load_profile("default")
    app = profile.applications[0]
    card = icc_for_profile(profile)
    assert isinstance(card, ContactIcc)
    exchanges = record(card)
    async with plugged(nursery, pcscd, card):
        answer = await Register(terminal).transaction(**PURCHASE)
    assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
    assert answer.body["receipt"]["tstatus"] == "approved"

    (first, first_answer), (second, _) = commands(exchanges, 0x80, 0xAE)
    cdol1 = dol_values(app.cdol1, first)
    response = pyemv.tlv.decode(first_answer)["77"]
    assert app.icc_key is not None
    cid, arqc = cda_cryptogram(response["9F4B"], app.icc_key.modulus, app.icc_key.public_exponent)
    assert cid == 0x80  # an ARQC: the terminal's floor limit is 0

    pan = app.data[0x5A].hex().rstrip("f")
    psn = app.data[0x5F34].hex()
    issuer = load_issuer_keys().issuer_for_pan(pan)
    assert issuer is not None
    cvn18 = pyemv.cvn.VisaCVN18(issuer.ac, issuer.smi, issuer.smc, pan, psn)
    assert cvn18.icc_mk_ac == app.icc_master_keys.ac  # the profile's key, derived by pyemv
    atc = response["9F36"]
    assert (
        cvn18.generate_ac(
            tag_9f02=cdol1["9F02"],
            tag_9f03=cdol1["9F03"],
            tag_9f1a=cdol1["9F1A"],
            tag_95=cdol1["95"],
            tag_5f2a=cdol1["5F2A"],
            tag_9a=cdol1["9A"],
            tag_9c=cdol1["9C"],
            tag_9f37=cdol1["9F37"],
            tag_82=app.aip,
            tag_9f36=atc,
            tag_9f10=response["9F10"],
        )
        == arqc
    )

    issuer_data = dol_values(app.cdol2, second)["91"]  # ARPC (4) || CSU (4)
    arpc, csu = issuer_data[:4], issuer_data[4:8]
    assert cvn18.generate_arpc(tag_9f26=arqc, tag_9f36=atc, csu=csu) == arpc
