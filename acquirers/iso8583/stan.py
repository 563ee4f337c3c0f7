# Strategy: system trace audit numbers (field 11, n6) and retrieval reference
# numbers (field 37, an12). The STAN is unique per terminal over the life of
# any message that may still be matched or reversed, so it runs 000001..999999
# and wraps to 000001 (000000 is never used); the counter is persisted by the
# caller (the journal) through the small `StanSource` protocol. RRNs are made
# by the host in the common YDDDhh + STAN layout (last digit of the year,
# day of the year, hour, STAN), which the simulator uses and the terminal
# only stores and echoes.
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from acquirers.errors import MessageBuildError

__all__ = [
    "MemoryStanSource",
    "StanSource",
    "format_stan",
    "is_rrn",
    "make_rrn",
    "next_stan",
]

STAN_MAX = 999_999


def next_stan(previous: int) -> int:
    """The STAN after ``previous`` (0 = none used yet): 1..999999, then 1 again."""
    if not 0 <= previous <= STAN_MAX:
        raise MessageBuildError(f"STAN {previous} out of range")
    return previous % STAN_MAX + 1


def format_stan(stan: int) -> str:
    if not 1 <= stan <= STAN_MAX:
        raise MessageBuildError(f"STAN {stan} out of range")
    return f"{stan:06d}"


class StanSource(Protocol):
    """Hands out STANs. Implementations persist the last one durably *before*
    returning the next (the journal does this in its transaction)."""

    def next_stan(self) -> str: ...


class MemoryStanSource:
    """A StanSource kept in memory (tests, the host simulator's own needs)."""

    def __init__(self, last: int = 0) -> None:
        self.last = last

    def next_stan(self) -> str:
        self.last = next_stan(self.last)
        return format_stan(self.last)


def make_rrn(when: datetime, stan: str) -> str:
    """YDDDhh + 6-digit STAN (12 characters)."""
    if not (len(stan) == 6 and stan.isdigit()):
        raise MessageBuildError("RRN needs a 6-digit STAN")
    return f"{when.year % 10}{when.timetuple().tm_yday:03d}{when.hour:02d}{stan}"


def is_rrn(value: str) -> bool:
    return len(value) == 12 and value.isascii() and value.isalnum()
