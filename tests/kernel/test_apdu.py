"""Transport wrapper (Book 1 9.3.1.3, Annex A): 61xx, 6Cxx, T=0 case 4 warnings; SW table."""

from __future__ import annotations

import pytest
import trio

from cardcore.protocol.status import status_of
from kernel import apdu, sw
from kernel.apdu import Command, Response, Transport
from kernel.errors import CardBlocked, CardDataError, CardNotDetected

H = bytes.fromhex


class Script:
    def __init__(self, answers: list[tuple[str, str]]) -> None:
        self.answers = [(H(q), H(r)) for q, r in answers]
        self.sent: list[bytes] = []

    async def __call__(self, capdu: bytes) -> bytes:
        self.sent.append(capdu)
        expect, answer = self.answers.pop(0)
        assert capdu == expect, capdu.hex().upper()
        return answer


async def test_get_response_chain() -> None:
    card = Script(
        [
            ("00A404000E315041592E5359532E444446303100", "6110"),
            ("00C0000010", "6F0E" + "84" + "0C" + "00" * 12 + "6102"),
            ("00C0000002", "AABB9000"),
        ]
    )
    response = await Transport(card).send(apdu.select(b"1PAY.SYS.DDF01"))
    assert response.ok
    assert response.data == H("6F0E840C" + "00" * 12 + "AABB")


async def test_wrong_le_resent_once() -> None:
    card = Script([("00B2010C00", "6C05"), ("00B2010C05", "70030102039000")])
    response = await Transport(card).send(apdu.read_record(1, 1))
    assert response == Response(H("7003010203"), 0x9000)


async def test_wrong_le_then_more_data() -> None:
    card = Script(
        [("0084000000", "6C08"), ("0084000008", "6108"), ("00C0000008", "11223344556677889000")]
    )
    response = await Transport(card).send(apdu.get_challenge())
    assert response.data == H("1122334455667788") and response.ok


async def test_t0_case4_warning_fetches_data_and_keeps_warning() -> None:
    card = Script([("00A4040005A00000000300", "6283"), ("00C0000000", "6F038401009000")])
    response = await Transport(card).send(apdu.select(H("A000000003")))
    assert response.sw == 0x6283 and response.data == H("6F03840100")


async def test_case3_warning_is_not_chased() -> None:
    card = Script([("0020008008241234FFFFFFFFFF", "63C2")])
    response = await Transport(card).send(apdu.verify(H("241234FFFFFFFFFF"), enciphered=False))
    assert response.sw == 0x63C2 and card.answers == []


async def test_endless_61xx_is_an_error() -> None:
    async def card(capdu: bytes) -> bytes:
        return H("6101")

    with pytest.raises(CardDataError):
        await Transport(card).send(apdu.get_challenge())


async def test_short_rapdu_is_an_error() -> None:
    async def card(capdu: bytes) -> bytes:
        return H("90")

    with pytest.raises(CardDataError):
        await Transport(card).send(apdu.get_challenge())


async def test_transmit_errors_and_cancellation_propagate() -> None:
    async def gone(capdu: bytes) -> bytes:
        raise CardNotDetected("card removed")

    with pytest.raises(CardNotDetected):
        await Transport(gone).send(apdu.get_challenge())

    async def slow(capdu: bytes) -> bytes:
        await trio.sleep_forever()
        raise AssertionError

    with trio.move_on_after(1) as scope:
        await Transport(slow).send(apdu.get_challenge())
    assert scope.cancelled_caught


@pytest.mark.parametrize(
    ("raw", "command"),
    [
        ("84240000", Command(0x84, 0x24, 0, 0)),
        ("80CA9F1700", Command(0x80, 0xCA, 0x9F, 0x17, le=0)),
        (
            "04DA9F580A0102030405060708090A",
            Command(0x04, 0xDA, 0x9F, 0x58, H("0102030405060708090A")),
        ),
        ("00A4040002AABB00", Command(0, 0xA4, 4, 0, H("AABB"), 0)),
    ],
)
def test_command_round_trip(raw: str, command: Command) -> None:
    assert Command.from_bytes(H(raw)) == command
    assert command.encode() == H(raw)


@pytest.mark.parametrize("raw", ["", "8424", "8424000005AA", "8424000000AA"])
def test_malformed_commands(raw: str) -> None:
    with pytest.raises(ValueError):
        Command.from_bytes(H(raw))


@pytest.mark.parametrize(
    ("word", "cls"),
    [
        (0x6A81, CardBlocked),
        (0x6985, sw.ConditionsNotSatisfied),
        (0x6A82, sw.FileNotFound),
        (0x6A83, sw.RecordNotFound),
        (0x6A88, sw.DataNotFound),
        (0x6283, sw.ApplicationBlocked),
        (0x63C1, sw.VerificationFailed),
        (0x6983, sw.AuthenticationMethodBlocked),
        (0x6984, sw.ReferenceDataInvalidated),
        (0x6D00, sw.CommandNotSupported),
        (0x6700, sw.WrongLength),
        (0x6F00, sw.CardStatusError),
        (0x1234, sw.CardStatusError),
    ],
)
def test_status_word_table(word: int, cls: type[sw.CardStatusError]) -> None:
    error = sw.error_for(word, "TEST")
    assert type(error) is cls
    assert error.sw == word
    assert status_of(error) in ("emverror", "tryanotherinterface")


def test_verification_failed_counts_tries() -> None:
    error = sw.error_for(0x63C2, "VERIFY")
    assert isinstance(error, sw.VerificationFailed) and error.tries_left == 2
