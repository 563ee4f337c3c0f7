# Strategy: the command line's contract that scripts outside the repository
# rely on (docs/protocol-decisions.md, README "Using it"): the exit codes of
# every subcommand and the data dir used when none is given.
from __future__ import annotations

from enum import IntEnum
from pathlib import Path

__all__ = ["DEFAULT_DATA_DIR", "Exit"]

DEFAULT_DATA_DIR = Path(".cardcore")


class Exit(IntEnum):
    """The exit codes of every subcommand."""

    OK = 0  # done; for a transaction: approved
    UNREACHABLE = 1  # the terminal (or the simulator; for `readers` pcscd) could not be reached
    USAGE = 2  # usage or configuration error, and any start-up failure of serve
    REFUSED = 3  # the terminal answered a status other than ok, or declined
