"""The virtual cards as PC/SC tools nobody here wrote see them, through the
private pcscd: python-emv's emvtool (info, listapps, appdata) on every
profile, pcsc-tools' pcsc_scan (readers, ATRs and what they are) and scriptor
(SELECT PSE/PPSE). Contact profiles sit in "Virtual PCD 00 00"; contactless
ones in "Virtual PCD 00 01" the way a PC/SC part 3 reader shows a PICC.

Where a tool and the emulator disagree the table below says who is right and
by which clause; the tool's own shortcomings stay visible as expectations,
so a change on either side shows up here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import trio

from hal.interfaces import CardInterface
from simulators.devices.profile import Application, list_profiles, load_profile
from simulators.devices.vpcd import icc_for_profile
from tests.hal.pcscd import Pcscd, outside_tool, plugged

# Every test here shares the one private pcscd: they run in their own, serial
# pytest run (make unit), never beside each other on two workers.
pytestmark = pytest.mark.pcsc

SELECT_PSE = "00 A4 04 00 0E 31 50 41 59 2E 53 59 53 2E 44 44 46 30 31 00"
SELECT_PPSE = "00 A4 04 00 0E 32 50 41 59 2E 53 59 53 2E 44 44 46 30 31 00"
VISA, ELECTRON, MASTERCARD, MIR = (
    "A0000000031010",
    "A0000000032010",
    "A0000000041010",
    "A0000006581010",
)


@dataclass(frozen=True)
class Seen:
    """What emvtool lists: (label, AID) in its order; `fails` when listing
    itself stops with that error (then `info` does too)."""

    apps: tuple[tuple[str, str], ...] = ()
    fails: str | None = None


def visa(label: str = "VISA CREDIT") -> Seen:
    return Seen(((label, VISA),))


def mastercard(label: str = "MASTERCARD") -> Seen:
    return Seen(((label, MASTERCARD),))


# emvtool lists applications from the PSE's records (EMV Book 1 12.2.3), or,
# without a PSE, by selecting the AIDs it knows: Amex, Visa A0000000031010 and
# Mastercard A0000000041010 only. So contactless cards (a PPSE, no PSE) show
# those AIDs or nothing, and a Mir card read by AID shows nothing.
EMVTOOL: dict[str, Seen] = {
    "always-online": visa(),
    "blocked": visa(),
    "card-decline": visa(),
    "cda": mastercard(),
    "cl-online-pin": visa(),
    "cl-two-apps": visa(),  # VISA ELECTRON A0000000032010 is not in emvtool's list
    "corrupt-icc-cert": visa(),
    "dda": visa(),
    "default": visa(),
    "enciphered-pin": visa(),
    "expired": visa(),
    "expired-cert": visa(),
    "mc-contactless": mastercard(),
    "mifare-7byte": Seen(),
    "mifare-classic": Seen(),
    "mir": Seen((("MIR", MIR),)),
    "mir-contactless": Seen(),  # A0000006581010 is not in emvtool's list
    # A PSE record may hold a DDF entry (61 with 9D, EMV Book 1 12.2.3); emvtool
    # takes every 61 for an application and fails on its missing label.
    "nested-ddf": Seen(fails="KeyError: 80"),
    "no-pse": visa(),
    "online-pin": mastercard(),
    "phone-wallet": visa("VISA PHONE"),
    "phone-wallet-mc": mastercard("MASTERCARD PHONE"),
    "pin-blocked": visa(),
    "sda": visa(),
    "signature": visa(),
    "two-apps": Seen((("VISA ELECTRON", ELECTRON), ("VISA CREDIT", VISA))),
    "visa-qvsdc": visa(),
}


def test_the_table_covers_every_profile() -> None:
    assert sorted(EMVTOOL) == list_profiles()


def interface_of(name: str) -> tuple[CardInterface, int]:
    contactless = load_profile(name).interfaces[0] == "contactless"
    return (CardInterface.CONTACTLESS, 1) if contactless else (CardInterface.CONTACT, 0)


def plain(text: bytes) -> str:
    """Tool output without terminaltables' line-drawing escapes."""
    return re.sub(r"\x1b\([0B]", "", text.decode(errors="replace"))


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def last_error(self) -> str:
        lines = self.err.strip().splitlines()
        return lines[-1] if lines else ""


async def run(*argv: str, stdin: bytes = b"") -> Run:
    with trio.fail_after(60):
        done = await trio.run_process(
            list(argv), stdin=stdin, capture_stdout=True, capture_stderr=True, check=False
        )
    return Run(done.returncode, plain(done.stdout), plain(done.stderr))


def spaced(hexdump: str) -> str:
    return " ".join(hexdump[i : i + 2] for i in range(0, len(hexdump), 2))


def gpo_refusal(app: Application) -> str | None:
    """How the card answers emvtool's GET PROCESSING OPTIONS '83 00', or None
    when it takes it. With a PDOL the command data must be the PDOL-related
    data (EMV Book 3 6.5.8.4) and '83 00' has the wrong length: '6700'; a
    blocked application refuses GPO: '6985' (Book 3 6.5.8.5)."""
    if app.pdol:
        return 'ErrorResponse: <ErrorResponse: "Unknown error: 67 00">'
    if app.blocked:
        return "conditions of use not satisfied"
    return None


@pytest.mark.parametrize("name", sorted(EMVTOOL))
async def test_emvtool_reads_every_profile(pcscd: Pcscd, nursery: trio.Nursery, name: str) -> None:
    """`emvtool --redact info`, `listapps` and `appdata N` for each application
    it lists (and one index past them), as someone with a PC/SC reader would."""
    emvtool = outside_tool("emvtool")
    seen = EMVTOOL[name]
    profile = load_profile(name)
    interface, slot = interface_of(name)
    async with plugged(nursery, pcscd, icc_for_profile(name, interface), slot):
        tool = (emvtool, "--reader", str(slot), "--redact")
        info, listapps = await run(*tool, "info"), await run(*tool, "listapps")
        appdata = [await run(*tool, "appdata", str(i)) for i in range(len(seen.apps) + 1)]

    if seen.fails is not None:
        for result in (info, listapps):
            assert result.code != 0 and result.last_error == seen.fails, result
        return
    assert info.code == 0, info
    assert listapps.code == 0, listapps
    assert "Applications" in listapps.out
    # the directory of the card's interface only: PSE on contact, PPSE on contactless
    for directory, present in (("1PAY", profile.pse), ("2PAY", profile.ppse)):
        missing = f"{directory}.SYS.DDF01 not available" in info.out
        assert missing is (present is None), directory
    rows = re.findall(r"x (\d+) +x \"([^\"]+)\" +x \[([0-9A-F ]+)\] +x", listapps.out)
    assert [(label, aid.replace(" ", "")) for _, label, aid in rows] == list(seen.apps)
    assert "Fetching card metadata" in info.out

    for index, (label, aid) in enumerate(seen.apps):
        assert f'Application "{label}", DF Name: [{spaced(aid)}]' in info.out
        app = next(a for a in profile.applications if a.aid.hex().upper() == aid)
        result = appdata[index]
        assert f'Selected application "{label}" ([{spaced(aid)}])' in result.out
        refusal = gpo_refusal(app)
        if refusal is not None:
            assert result.code != 0 and refusal in result.last_error, result
            continue
        assert result.code == 0, result
        assert f"x AIP x {list(app.aip)}" in re.sub(r" +", " ", result.out)
        assert f"x AFL x {list(app.afl)}" in re.sub(r" +", " ", result.out)
        # the records the AFL names, PAN redacted by --redact
        assert re.search(r"\[5A\] +x Application Primary Account Number \(PAN\) +x \[REDACTED\]",
                         result.out)  # fmt: skip
    beyond = appdata[len(seen.apps)]
    assert beyond.code != 0 and beyond.last_error == "IndexError: list index out of range"


async def test_emvtool_cannot_show_a_19_digit_pan(pcscd: Pcscd, nursery: trio.Nursery) -> None:
    """The card is right: a PAN is 'cn', up to 19 digits, left justified and
    padded with a trailing 'F' (EMV Book 3 4.3, Annex A tag 5A); emvtool reads
    the digits as a decimal number and stops on the pad."""
    emvtool = outside_tool("emvtool")
    pan = load_profile("mir").applications[0].data[0x5A]
    assert len(pan) == 10 and pan.hex()[-1] == "f"
    async with plugged(nursery, pcscd, icc_for_profile("mir")):
        info = await run(emvtool, "info")
    assert info.code != 0
    assert info.last_error == f"ValueError: invalid literal for int() with base 10: '{pan.hex()}'"


async def test_pcsc_scan_sees_the_readers_and_knows_the_atrs(
    pcscd: Pcscd, nursery: trio.Nursery
) -> None:
    """pcsc_scan decodes the ATRs (ISO/IEC 7816-3 8.2, 7816-4 card
    capabilities) and finds them in its list of real cards' ATRs."""
    pcsc_scan = outside_tool("pcsc_scan")
    contact = icc_for_profile("default")
    contactless = icc_for_profile("visa-qvsdc", CardInterface.CONTACTLESS)
    async with (
        plugged(nursery, pcscd, contact, 0),
        plugged(nursery, pcscd, contactless, 1),
    ):
        readers = await run(pcsc_scan, "-r")
        scan = await run(pcsc_scan, "-t", "1")
    assert readers.code == 0, readers
    assert "0: Virtual PCD 00 00" in readers.out and "1: Virtual PCD 00 01" in readers.out
    out = scan.out
    for reader, atr in (
        ("Reader 0: Virtual PCD 00 00", "3B 68 00 00 00 73 C8 40 00 00 90 00"),
        ("Reader 1: Virtual PCD 00 01", "3B 88 80 01 00 73 C8 40 00 00 90 00 62"),
    ):
        block = out[out.index(reader) :]
        assert f"ATR: {atr}" in block[:200], block[:200]
    # the contact card: T=0 alone, no logical channel, a real Visa/Mastercard ATR
    assert "T0 = 68, Y(1): 0110, K: 8 (historical bytes)" in out
    assert "TD(1)" not in out[: out.index("Reader 1: Virtual PCD 00 01")]
    assert "Logical channel number assignment: No logical channel" in out
    assert "Barclaycard Visa Wave & Pay - Chip I/F" in out
    # the contactless card, as a part 3 reader shows it
    assert "Barclaycard Visa Wave & Pay - RFID I/F" in out
    assert "+ TCK = 62 (correct checksum)" in out


@pytest.mark.parametrize(
    ("name", "slot", "select", "protocol"),
    [("default", 0, SELECT_PSE, "T=0"), ("visa-qvsdc", 1, SELECT_PPSE, "T=1")],
)
async def test_scriptor_selects_the_payment_directory(
    pcscd: Pcscd, nursery: trio.Nursery, name: str, slot: int, select: str, protocol: str
) -> None:
    """scriptor sends the case-4 SELECT with its Le. The contact card offers
    T=0 alone, so the reader maps the APDU (ISO/IEC 7816-3 12.2); the part 3
    ATR of the contactless card offers T=1, which pcscd negotiates. Either way
    the FCI comes back with 9000."""
    scriptor = outside_tool("scriptor")
    interface = (CardInterface.CONTACT, CardInterface.CONTACTLESS)[slot]
    async with plugged(nursery, pcscd, icc_for_profile(name, interface), slot) as reader:
        result = await run(scriptor, "-r", reader, stdin=f"{select}\n".encode())
    assert result.code == 0, result
    assert f"Using {protocol} protocol" in result.out
    answer = result.out[result.out.index("< ") :]
    assert answer.startswith("< 6F ") and "90 00 : Normal processing." in answer


async def test_scriptor_meets_the_strict_t0_slot(pcscd: Pcscd, nursery: trio.Nursery) -> None:
    """A profile with contact.t0_strict: the reader does not map, the T=0 card
    gets the Le of the case-4 SELECT and answers 6700; without the Le it
    announces the FCI with 61xx, which GET RESPONSE fetches."""
    scriptor = outside_tool("scriptor")
    icc = icc_for_profile("default", strict=True)
    async with plugged(nursery, pcscd, icc) as reader:
        with_le = await run(scriptor, "-r", reader, stdin=f"{SELECT_PSE}\n".encode())
        script = f"{SELECT_PSE[:-3]}\n00 C0 00 00 1E\n"
        without = await run(scriptor, "-r", reader, stdin=script.encode())
    assert "< 67 00 : Wrong length." in with_le.out, with_le
    assert "< 61 1E : 0x1E bytes of response still available." in without.out
    assert "< 6F 1C 84 0E" in without.out and "90 00 : Normal processing." in without.out
