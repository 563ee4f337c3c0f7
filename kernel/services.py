# Strategy: the kernel's only window on the terminal, a small services
# interface (docs/conventions.md, 1). Everything the EMV books leave to the terminal
# application is a method of one typing.Protocol: standard messages (Book 4
# 11.2 and Book A Table 9-5 identifiers), cardholder application selection
# and confirmation (Book 1 12.4), PIN entry (Book 3 10.5, Book 4 6.3.4),
# the split-sales amount from the journal (Book 3 10.6.1), online
# authorisation (Book 3 10.9) and a data-exchange hook. Randomness and time
# come from a separate synchronous EntropySource so tests pin them.
#
# PIN handling choice (documented contract):
# - Offline PIN: `offline_pin` returns the ISO 9564 format-2 PIN block
#   (base.crypto.pinblock.encode_iso2) - the block VERIFY carries (Book 3
#   6.5.12). The kernel sends it as is for plaintext PIN, or builds the Book 2
#   7.1 block '7F' || PIN block || ICC challenge || random padding and
#   enciphers it with the ICC (PIN encipherment) public key. A PIN pad that
#   enciphers on its own would need a different method; this terminal's PIN
#   pad hands the format-2 block to the kernel over its secure link.
# - Offline plaintext PIN on a card reader with its own keypad (PC/SC part 10
#   class-3 reader): `verify_pin_on_reader` lets the reader take the PIN and
#   send VERIFY P2 '80' itself, and returns the card's status word; None
#   means there is no such reader and the kernel asks `offline_pin`.
# - Online PIN: `online_pin` returns the enciphered PIN block (e.g. ISO 9564
#   format 0 under the PIN key); the kernel never sees the PIN and passes the
#   bytes through to `go_online` untouched, never logging them.
# - Raise kernel.errors.PinEntryBypassed when the cardholder bypasses PIN
#   entry and kernel.errors.PinPadError when the PIN pad fails; the kernel
#   turns both into TVR bits and continues cardholder verification.
from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from base import tlv
from kernel.dictionary import is_sensitive

if TYPE_CHECKING:
    from kernel.candidate import Candidate

__all__ = [
    "CONTACTLESS_FIELD55_TAGS",
    "DEFAULT_FIELD55_TAGS",
    "EntropySource",
    "KernelServices",
    "MessageId",
    "OnlineRequest",
    "OnlineResponse",
    "OnlineResult",
    "PinKind",
    "PinRequest",
    "SystemEntropy",
    "encode_field55",
]


class MessageId(enum.IntEnum):
    # The kernel shows D5 itself; D1-D4 (host connection) belong to the acquirer link.
    """Message identifiers: Book 4 11.2 (01..13), Book A Table 9-5 (14..21), terminal D1..D5."""

    AMOUNT = 0x01
    AMOUNT_OK = 0x02
    APPROVED = 0x03
    CALL_YOUR_BANK = 0x04
    CANCEL_OR_ENTER = 0x05
    CARD_ERROR = 0x06
    DECLINED = 0x07
    ENTER_AMOUNT = 0x08
    ENTER_PIN = 0x09
    INCORRECT_PIN = 0x0A
    INSERT_CARD = 0x0B
    NOT_ACCEPTED = 0x0C
    PIN_OK = 0x0D
    PLEASE_WAIT = 0x0E
    PROCESSING_ERROR = 0x0F
    REMOVE_CARD = 0x10
    USE_CHIP_READER = 0x11
    USE_MAG_STRIPE = 0x12
    TRY_AGAIN = 0x13
    WELCOME = 0x14
    PRESENT_CARD = 0x15
    PROCESSING = 0x16
    CARD_READ_OK = 0x17
    INSERT_OR_SWIPE_CARD = 0x18
    PRESENT_ONE_CARD_ONLY = 0x19
    APPROVED_PLEASE_SIGN = 0x1A
    AUTHORISING_PLEASE_WAIT = 0x1B
    TRY_ANOTHER_CARD = 0x1C
    INSERT_CARD_CONTACTLESS = 0x1D
    CLEAR_DISPLAY = 0x1E
    SEE_PHONE = 0x20
    PRESENT_CARD_AGAIN = 0x21
    CONNECTING_TO_HOST = 0xD1
    RECONNECTING = 0xD2
    NO_HOST_RESPONSE = 0xD3
    HOST_RESPONSE_RECEIVED = 0xD4
    PIN_TRY_LIMIT_EXCEEDED = 0xD5
    # The terminal's own, beside the manual's D1-D5: why PIN entry could not
    # happen (the kernel goes on as EMV says; the operator sees the reason).
    PIN_PAD_NOT_PRESENT = 0xD6
    PIN_PAD_ERROR = 0xD7


class PinKind(enum.Enum):
    OFFLINE_PLAINTEXT = "offline-plaintext"
    OFFLINE_ENCIPHERED = "offline-enciphered"
    ONLINE = "online"


@dataclass(frozen=True, slots=True)
class PinRequest:
    kind: PinKind
    amount: int
    currency: int
    # Remaining offline tries when known (PIN Try Counter '9F17' or SW '63Cx').
    tries_remaining: int | None = None
    attempt: int = 1
    languages: str = ""
    # Only for online PIN (the PIN pad needs the PAN for ISO 9564 format 0).
    pan: str | None = field(default=None, repr=False)


def _empty() -> Mapping[int, bytes]:
    return MappingProxyType({})


class OnlineResult(enum.Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    UNABLE_TO_GO_ONLINE = "unable"


DEFAULT_FIELD55_TAGS: tuple[int, ...] = (
    0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A,
    0x82, 0x9F1A, 0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41,
    0x5F34, 0x9F53, 0x9F6E, 0x9F7C,
)  # fmt: skip


# Contactless authorisations add the reader's TTQ and the card's CTQ (Visa-style
# kernel) to the usual ICC data; absent tags are simply left out.
CONTACTLESS_FIELD55_TAGS: tuple[int, ...] = (*DEFAULT_FIELD55_TAGS, 0x9F66, 0x9F6C)


def encode_field55(data: Mapping[int, bytes], tags: Sequence[int]) -> bytes:
    return b"".join(tlv.encode(t, data[t]) for t in tags if t in data and not is_sensitive(t))


@dataclass(frozen=True, slots=True)
class OnlineRequest:
    """What the acquirer link needs for an authorisation (ISO 8583 incl. field 55).

    `data` holds every data object of the transaction (terminal, ICC, issuer);
    the PAN, track 2 and the enciphered PIN block are in it too and must never
    be logged: repr() redacts them.
    """

    cryptogram: bytes  # '9F26'
    cid: int  # '9F27'
    data: Mapping[int, bytes] = field(repr=False)
    pin_block: bytes | None = field(default=None, repr=False)
    pan: str = field(default="", repr=False)

    def field55(self, tags: Sequence[int] = DEFAULT_FIELD55_TAGS) -> bytes:
        """ICC system-related data as BER-TLV, in `tags` order; sensitive tags never included."""
        return encode_field55(self.data, tags)


@dataclass(frozen=True, slots=True)
class OnlineResponse:
    result: OnlineResult
    arc: bytes | None = None  # '8A', 2 ASCII characters ("00", "05", ...)
    issuer_authentication_data: bytes | None = None  # '91'
    scripts: bytes = b""  # issuer script templates '71'/'72', BER-TLV as received
    authorisation_code: bytes | None = None  # '89'
    extra: Mapping[int, bytes] = field(default_factory=_empty)


class KernelServices(Protocol):
    """Terminal services the EMV kernel calls. Every method may be cancelled."""

    async def display(
        self, message: MessageId, *, amount: int | None = None, languages: str = ""
    ) -> None:
        """Show a standard message; `languages` is the card's Language Preference '5F2D'."""

    async def select_application(self, candidates: Sequence[Candidate]) -> int | None:
        """Let the cardholder choose; index into `candidates`, None to cancel."""

    async def confirm_application(self, candidate: Candidate) -> bool:
        """Ask the cardholder to confirm the only application (Book 1 12.4)."""

    async def offline_pin(self, request: PinRequest) -> bytes:
        """The ISO 9564 format-2 PIN block (8 bytes, `pinblock.encode_iso2`).

        The kernel puts it into VERIFY P2 '80' as is (plaintext PIN), or for an
        enciphered PIN builds '7F' || block || ICC challenge || random padding
        and enciphers it with the ICC (PIN encipherment) public key before
        VERIFY P2 '88' (Book 2 7.1). Raise PinEntryBypassed / PinPadError.
        """

    async def verify_pin_on_reader(self, request: PinRequest) -> int | None:
        """Offline plaintext PIN entered on the card reader's own keypad.

        When the reader takes PINs itself (PC/SC part 10
        FEATURE_VERIFY_PIN_DIRECT), it builds the ISO 9564 format-2 block,
        sends VERIFY P2 '80' to the card and this returns the card's status
        word; the PIN never reaches the terminal. None: no such reader, the
        kernel uses `offline_pin`. Raise PinEntryBypassed / PinPadError.
        """

    async def online_pin(self, request: PinRequest) -> bytes:
        """The enciphered online PIN block, opaque to the kernel.

        The kernel never sees the PIN: it hands these bytes to `go_online`
        (OnlineRequest.pin_block) and Outcome.online_pin_block, never logging
        them. Raise PinEntryBypassed / PinPadError.
        """

    async def split_sales_amount(self, pan: str, currency: int) -> int:
        """Amount of the most recent approved transaction with this PAN in the journal, else 0."""

    async def go_online(self, request: OnlineRequest) -> OnlineResponse:
        """Authorise online; answer UNABLE_TO_GO_ONLINE when the host cannot be reached."""

    async def data_exchange(self, point: str, data: Mapping[int, bytes]) -> Mapping[int, bytes]:
        """Hand tags to the application at `point`; returns terminal tags to update."""


class EntropySource(Protocol):
    """Synchronous randomness and clock; inject a fixed one for deterministic tests."""

    def unpredictable_number(self) -> bytes:
        """4 bytes for '9F37'."""

    def random_percent(self) -> int:
        """Uniform 1..99 for random transaction selection (Book 3 10.6.2)."""

    def random_bytes(self, n: int) -> bytes:
        """Padding of the enciphered PIN block (Book 2 7.1)."""

    def now(self) -> dt.datetime:
        """Local date and time for '9A'/'9F21' when the request has none."""


class SystemEntropy:
    def unpredictable_number(self) -> bytes:
        return secrets.token_bytes(4)

    def random_percent(self) -> int:
        return 1 + secrets.randbelow(99)

    def random_bytes(self, n: int) -> bytes:
        return secrets.token_bytes(n)

    def now(self) -> dt.datetime:
        return dt.datetime.now()
