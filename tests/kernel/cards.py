"""A dict-based scripted card for flow tests (not an emulator: it answers what it is told).

Answers are looked up by the full C-APDU hex, then by its 4-byte header, then by CLA+INS;
a value may be a hex string, a list of hex strings (consumed in order, the last one repeats)
or a callable taking the C-APDU. Anything unknown gets 6D00.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from base import tlv
from kernel.config import AidConfig, TerminalConfig, TransactionRequest

H = bytes.fromhex
Answer = str | list[str] | Callable[[bytes], str]


def t(tag: int, value: bytes | str) -> bytes:
    return tlv.encode(tag, H(value) if isinstance(value, str) else value)


def record(*objects: bytes) -> str:
    return (tlv.encode(0x70, b"".join(objects)) + b"\x90\x00").hex().upper()


def fci(aid: str, *extra: bytes) -> str:
    body = t(0x84, aid) + t(0xA5, b"".join(extra))
    return (tlv.encode(0x6F, body) + b"\x90\x00").hex().upper()


def select(name: str, next_occurrence: bool = False) -> str:
    raw = H(name)
    return f"00A404{'02' if next_occurrence else '00'}{len(raw):02X}{name}00"


def genac_format1(
    cid: int, atc: str = "0001", ac: str = "1122334455667788", iad: str = "0110"
) -> str:
    return (t(0x80, bytes([cid]) + H(atc) + H(ac) + H(iad)) + b"\x90\x00").hex().upper()


@dataclass
class DictCard:
    answers: dict[str, Answer]
    log: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.answers = {k.replace(" ", "").upper(): v for k, v in self.answers.items()}

    def sent(self, ins: int) -> list[bytes]:
        return [c for c in self.log if c[1] == ins]

    async def transmit(self, capdu: bytes) -> bytes:
        self.log.append(capdu)
        full = capdu.hex().upper()
        for key in (full, full[:8], full[:4]):
            answer = self.answers.get(key)
            if answer is None:
                continue
            if callable(answer):
                return H(answer(capdu))
            if isinstance(answer, list):
                return H(answer.pop(0) if len(answer) > 1 else answer[0])
            return H(answer)
        return H("6D00")


AID = "A0000000031010"
TODAY = dt.datetime(2024, 6, 15, 10, 30, 0)
CDOL1 = "9F02069F03069F1A0295055F2A029A039C019F3704"
CDOL2 = "8A029F02069F03069F1A0295055F2A029A039C019F3704"


def simple_records(cvm: str = "000000000000000042031E031F00", *extra: bytes) -> bytes:
    """One record of mandatory data, IACs that never ask for anything, a CVM list."""
    return b"".join(
        [
            t(0x5A, "4761739001010119"),
            t(0x5F24, "271231"),
            t(0x5F28, "0643"),
            t(0x9F07, "FF00"),
            t(0x8C, CDOL1),
            t(0x8D, CDOL2),
            t(0x8E, cvm),
            t(0x9F0D, "0000000000"),
            t(0x9F0E, "0000000000"),
            t(0x9F0F, "0000000000"),
            t(0x9F42, "0643"),
            t(0x5F34, "01"),
            t(0x57, "4761739001010119D27122010000000000000F"),
            *extra,
        ]
    )


def genac_echo(capdu: bytes) -> str:
    """The card answers with the cryptogram asked for (P1 b8-b7)."""
    return genac_format1(capdu[2] & 0xC0)


def simple_card(
    records: bytes | None = None,
    aip: str = "1800",
    genac: Answer = genac_echo,
    **more: Answer,
) -> DictCard:
    answers: dict[str, Answer] = {
        select("315041592E5359532E4444463031"): "6A82",
        select(AID): fci(AID, t(0x50, b"VISA CREDIT"), t(0x87, "01")),
        select(AID, True): "6A82",
        "80A8000002830000": (t(0x80, H(aip) + H("08010100")) + b"\x90\x00").hex(),
        "00B2010C00": record(records if records is not None else simple_records()),
        "80CA9F1700": "6A88",
        "80AE": genac,
        "0082": "9000",
        "0020": "9000",
    }
    answers.update(more)
    return DictCard(answers)


def terminal(**change: object) -> TerminalConfig:
    aid_args: dict[str, object] = {
        "aid": H("A0000000031010"),
        "application_version": H("008C"),
        "floor_limit": 100_000,
        "tac_denial": H("0000000000"),
        "tac_online": H("0000000000"),
        "tac_default": H("0000000000"),
    }
    for key in list(change):
        if key.startswith("aid_"):
            aid_args[key[4:]] = change.pop(key)
    base: dict[str, object] = {
        "aids": (AidConfig(**aid_args),),  # type: ignore[arg-type]
        "country_code": 643,
        "capabilities": H("E0F8C8"),
        "terminal_type": 0x22,
    }
    base.update(change)
    return TerminalConfig(**base)  # type: ignore[arg-type]


def purchase(amount: int = 1500, **change: object) -> TransactionRequest:
    args: dict[str, object] = {"amount": amount, "currency": 643, "when": TODAY}
    args.update(change)
    return TransactionRequest(**args)  # type: ignore[arg-type]
