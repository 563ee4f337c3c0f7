# Strategy: what every operation of the `transaction` command shares (manual
# «Транзакция»): the flow of one transaction (its journal row as a ledger
# entry, what the host said) and the till, the terminal's means an operation
# works with: the ledger, the host link, the messages to the cash register
# and the terminal's own display, the receipt. Operations (card, cardless,
# SBP) use the till and never each other.
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trio

from acquirers.iso8583.codec import IsoMessage
from acquirers.iso8583.messages import FinancialResponse
from acquirers.iso8583.response_codes import describe
from base import tlv
from base.errors import CardcoreError
from cardcore.connection import Answer, CommandContext
from cardcore.engine.display import display_body
from cardcore.engine.receipt import card_receipt
from cardcore.engine.request import Operation, TxnCommand
from cardcore.errors import InvalidArguments
from cardcore.hostmessages import original_message
from cardcore.journal import TxnRecord
from cardcore.ledger.claims import NotReversible
from cardcore.ledger.ledger import Entry, Ledger
from cardcore.ledger.states import TxnState
from cardcore.terminal import Terminal
from hal.interfaces import CardInterface
from kernel.outcome import Outcome

__all__ = [
    "Flow",
    "InterfaceNotAllowed",
    "NotApproved",
    "NotDetected",
    "NotTheOriginalCard",
    "PreprocessingFailed",
    "ReaderDisabled",
    "Till",
    "TransactionNotFound",
    "now",
]

log = logging.getLogger("cardcore.engine")


class NotDetected(CardcoreError):
    """No card was presented before the detection timeout."""


class ReaderDisabled(CardcoreError):
    """The card reader for the operation is switched off in the configuration,
    or a card was presented to one that is."""


class PreprocessingFailed(CardcoreError):
    """Contactless pre-processing refused the transaction (its amount) on
    every combination, and no other interface is left for it."""


class NotTheOriginalCard(NotReversible):
    """A void with the card: the card presented is not the original's."""


class TransactionNotFound(CardcoreError):
    """The transaction to void is not in the journal."""


class NotApproved(CardcoreError):
    """The transaction to void was not approved."""


class InterfaceNotAllowed(CardcoreError):
    """This interface or entry mode is not allowed for the operation."""


_RECEIPT_TYPES = {
    Operation.PURCHASE: "purchase",
    Operation.CASHBACK: "purchase",
    Operation.REFUND: "refund",
}


def now() -> dt.datetime:
    return dt.datetime.now().astimezone()


@dataclass
class Flow:
    """One transaction in progress: its ledger entry and what the host said."""

    command: TxnCommand
    entry: Entry
    when: dt.datetime
    request: IsoMessage | None = None  # the 0200 as sent
    response: FinancialResponse | None = None
    request_sent: bool = False
    interface: CardInterface | None = None
    pan: str | None = field(default=None, repr=False)
    # STANs of the financial request and of its reversal, taken together.
    stans: tuple[str, str] | None = None

    @property
    def record(self) -> TxnRecord:
        return self.entry.record

    @property
    def state(self) -> TxnState:
        return TxnState(self.entry.record.state)

    @property
    def stored(self) -> bool:
        """The row is in the journal."""
        return self.entry.stored


class Till:
    """The terminal's means, as operations use them."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal

    @property
    def ledger(self) -> Ledger:
        return self.terminal.ledger

    # --- the transaction's row --------------------------------------------------
    def new_flow(self, command: TxnCommand) -> Flow:
        # One moment for the row and the request: field 7 is rebuilt from the
        # stored time for voids and batch upload, so they must agree.
        when = now().replace(microsecond=0)
        return Flow(command, self.ledger.open(self.new_record(command, when)), when)

    @staticmethod
    def new_record(command: TxnCommand, when: dt.datetime, **values: Any) -> TxnRecord:
        # The cash register's amount is the purchase; with cashback the amount
        # authorised (9F02, ISO 8583 field 4) is the purchase plus the cashback.
        record = TxnRecord(
            channel="card",
            operation=command.operation.value,
            receipt_type=_RECEIPT_TYPES.get(command.operation, "purchase"),
            state=TxnState.NEW,
            amount=(command.amount or 0) + command.amount_other,
            amount_other=command.amount_other,
            currency=command.currency,
            datetime=when.isoformat(timespec="seconds"),
        )
        for name, value in values.items():
            setattr(record, name, value)
        return record

    def stans(self, flow: Flow) -> tuple[str, str]:
        """The request's and its reversal's STANs, taken together (written
        with the commit that stores the request)."""
        if flow.stans is None:
            stans = self.ledger.stans
            flow.stans = (stans.take(), stans.take())
        return flow.stans

    async def batch(self) -> str:
        _, number = await self.terminal.journal.open_batch()
        return f"{number:06d}"

    async def original_message(self, record: TxnRecord) -> IsoMessage:
        """The message the host knows a journal row by (0200 or 0220), rebuilt
        from what the row kept (cardcore.hostmessages)."""
        link = self.terminal.host.require()
        journal = self.terminal.journal
        pan = journal.reveal_pan(record)
        if pan is None:
            raise NotReversible("the journal keeps no card data for this transaction")
        batch = f"{await journal.batch_number(record.batch_id):06d}"
        return original_message(record, pan, link.terminal, link.dialect, batch=batch)

    async def flush_first(self) -> None:
        """Pending reversals and advices go before a new financial message,
        and working keys are fetched first when the terminal has none yet (the
        PIN pad needs the PIN key before the card is read); a host that does
        not answer must not hold the transaction for long."""
        host = self.terminal.host
        if host.link is None:
            return
        with trio.move_on_after(host.config.acquirer.connect_timeout + 5):
            await host.ensure_working_keys()
            await host.flush()

    # --- the cash register and the terminal's display ---------------------------
    async def display(
        self,
        ctx: CommandContext,
        message: int,
        *,
        amount: int | None = None,
        languages: str = "",
        currency: str = "643",
    ) -> None:
        body = display_body(
            message,
            languages=languages or self.terminal.config.transaction.languages,
            amount=amount,
            currency=currency,
        )
        await self.show(body)
        await ctx.ask("display", body)

    async def show(self, body: Mapping[str, str]) -> None:
        """The same message on the terminal's own display, when it has one."""
        screen = self.terminal.devices.display
        if screen is not None:
            with_amount = body.get("value-qualifier", "00") != "00"
            await screen.show(
                int(body["code"], 16),
                body.get("msg", ""),
                int(body.get("value") or 0) if with_amount else None,
                body.get("currency", ""),
                body.get("language", "")[:2],  # the order's first: the one shown
            )

    async def data_exchange(
        self, ctx: CommandContext, data: Mapping[int, bytes]
    ) -> Mapping[int, bytes]:
        """The manual's `dex` message. Sensitive tags (PAN, track data) go only
        over the secure channel."""
        from kernel.dictionary import is_sensitive

        if not self.terminal.config.transaction.data_exchange or not data:
            return {}
        tags = [
            {"@name": tlv.tag_hex(tag), "@value": value.hex().upper()}
            for tag, value in data.items()
            if ctx.secure or not is_sensitive(tag)
        ]
        answer = await ctx.ask("dex", {"kernel-tags": {"tag": tags}})
        if answer.status != "ok":
            # The manual lets a register answer a message it does not implement
            # `notimplemented`, and data exchange is optional for it: the sale
            # goes on without exchanged data (`cancelled` has stopped it already).
            log.info("data exchange answered %s; going on without it", answer.status)
            return {}
        returned = answer.body.get("terminal-tags")
        entries = returned.get("tag", []) if isinstance(returned, dict) else []
        if isinstance(entries, dict):
            entries = [entries]
        updates: dict[int, bytes] = {}
        try:
            for entry in entries:
                updates[int(entry["@name"], 16)] = bytes.fromhex(entry["@value"])
        except (KeyError, TypeError, ValueError):
            raise InvalidArguments(
                "dex answer: terminal-tags must be <tag name= value=/>"
            ) from None
        return updates

    def answer(self, ctx: CommandContext, record: TxnRecord, outcome: Outcome | None) -> Answer:
        """The transaction's answer: its receipt."""
        config = self.terminal.config
        plain_pan = None
        if ctx.secure and record.pan_enc is not None:
            plain_pan = self.terminal.journal.reveal_pan(record)
        description = describe(record.resp_code, "ru") if record.resp_code else None
        receipt = card_receipt(
            config, record, outcome, response_description=description, plain_pan=plain_pan
        )
        return Answer({"receipt": receipt})
