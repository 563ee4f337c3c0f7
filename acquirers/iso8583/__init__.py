"""ISO 8583 for the acquirer link: dialects as data, a sans-I/O codec with MAC,
2-byte length framing, STAN/RRN helpers, request/response matching and typed
message builders. See `acquirers.link` for the trio client that drives it."""

from __future__ import annotations

from acquirers.iso8583.codec import Codec, IsoMessage
from acquirers.iso8583.dialect import Dialect
from acquirers.iso8583.dialects import get_dialect
from acquirers.iso8583.framing import Framer, frame
from acquirers.iso8583.matching import MatchKey, is_response_to, match_key, response_mti
from acquirers.iso8583.messages import (
    BatchRecord,
    BatchTotals,
    Card,
    CardAcceptor,
    FinancialRequest,
    FinancialResponse,
    KeyExchangeResponse,
    NetworkResponse,
    ReconciliationResponse,
    ReversalReason,
    ReversalResponse,
    TxnType,
)
from acquirers.iso8583.security import MasterKeys, WorkingKeys, encipher_pin_block
from acquirers.iso8583.stan import MemoryStanSource, StanSource, make_rrn

__all__ = [
    "BatchRecord",
    "BatchTotals",
    "Card",
    "CardAcceptor",
    "Codec",
    "Dialect",
    "FinancialRequest",
    "FinancialResponse",
    "Framer",
    "IsoMessage",
    "KeyExchangeResponse",
    "MasterKeys",
    "MatchKey",
    "MemoryStanSource",
    "NetworkResponse",
    "ReconciliationResponse",
    "ReversalReason",
    "ReversalResponse",
    "StanSource",
    "TxnType",
    "WorkingKeys",
    "encipher_pin_block",
    "frame",
    "get_dialect",
    "is_response_to",
    "make_rrn",
    "match_key",
    "response_mti",
]
