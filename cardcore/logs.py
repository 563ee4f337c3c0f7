# Strategy: logging as the manual's Appendix B («Лог») describes it: the system
# log by default, the console with `-acons`, the L2 kernel trace on the console
# with `-econs`. A syslog line is "IDENT[PID]: logger LEVEL message" under the
# facility of [log] (RFC 3164's TAG[PID] form, which journald files as
# SYSLOG_IDENTIFIER and SYSLOG_PID; default "cardcore", facility daemon).
# Whatever reaches a handler first passes a redaction filter, a safety net
# behind the rule that PAN, track data, PIN blocks and keys are never logged:
# a PAN keeps only its last four digits.
# - What is a PAN (ISO/IEC 7812-1): 13-19 digits, the last a Luhn check digit,
#   the first (the major industry identifier) not 0 - so zero-padded amounts,
#   STANs, RRNs and terminal or merchant IDs are none.
# - Where one stands in a log line: as a word of its own (also grouped 4-4-4-4,
#   4-6-5 with spaces or dashes, as receipts print it); at the head of track
#   data - track 2 "PAN=YYMM...", track 2 equivalent data "PAN D YYMM..." (EMV
#   tag 57), track 1 "%BPAN^NAME^..."; and as the value of tag 5A or 57 inside
#   a hex dump (5A L cn-digits, 'F'-padded; 57 L PAN D ...). A digit run inside
#   a longer hex or alphanumeric word anywhere else is not a PAN: AIDs
#   (A0000000031010), cryptograms and other hex values stay readable.
# The last lines logged are also kept in memory, redacted like the rest and
# bounded (RECENT), for the management server's `getlog`.
from __future__ import annotations

import collections
import logging
import logging.handlers
import os
import re
import sys

from base.pan import luhn_ok, mask_keep_last4

__all__ = [
    "KERNEL_TRACE",
    "RECENT",
    "LogRing",
    "RedactingFilter",
    "is_pan",
    "redact",
    "setup_logging",
]

KERNEL_TRACE = "kernel.trace"
_SYSLOG_SOCKETS = ("/dev/log", "/var/run/syslog")
_WORD = re.compile(r"[0-9A-Za-z]+")
# a PAN printed in groups, one separator throughout: 4-4-4-4(-1..3), 4-4-4-1..3, 4-6-4/5
_GROUPED = re.compile(
    r"(?<![0-9A-Za-z-])(?:\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5})"
    r"(?![0-9A-Za-z]|-\d)"
)
# inside a word: track 1 ("B" PAN, then "^"), the head of track 2 equivalent
# data (PAN "D" YYMM), tag 57 and tag 5A values in a hex dump
_TRACK1 = re.compile(r"B(\d{13,19})")
_TRACK2 = re.compile(r"(\d{13,19})D\d{4}", re.IGNORECASE)
_TAG57 = re.compile(r"57[0-9A-F]{2}(\d{13,19})D\d{4}", re.IGNORECASE)
_TAG5A = re.compile(r"5A(0[7-9A])", re.IGNORECASE)


def is_pan(digits: str) -> bool:
    """13-19 digits, not starting with 0, with a valid Luhn check digit."""
    return 13 <= len(digits) <= 19 and digits.isdigit() and digits[0] != "0" and luhn_ok(digits)


def _in_word(word: str) -> str:
    """The word with the PANs it can hold masked (see the strategy note)."""
    if word.isdigit():
        return mask_keep_last4(word) if is_pan(word) else word
    spans: list[tuple[int, int]] = []
    track1 = _TRACK1.fullmatch(word)
    if track1 is not None:
        spans.append(track1.span(1))
    track2 = _TRACK2.match(word)
    if track2 is not None:
        spans.append(track2.span(1))
    spans += [match.span(1) for match in _TAG57.finditer(word)]
    for match in _TAG5A.finditer(word):
        size = 2 * int(match.group(1), 16)
        value = word[match.end() : match.end() + size]
        digits = value.rstrip("Ff")  # cn: an odd count of digits ends in one 'F'
        if len(value) == size and size - len(digits) <= 1:
            spans.append((match.end(), match.end() + len(digits)))
    for start, end in spans:
        if is_pan(word[start:end]):
            word = word[:start] + mask_keep_last4(word[start:end]) + word[end:]
    return word


def _grouped(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return mask_keep_last4(digits) if is_pan(digits) else match.group(0)


def redact(text: str) -> str:
    """``text`` with every PAN in it masked to its last four digits."""
    text = _GROUPED.sub(_grouped, text)
    return _WORD.sub(lambda m: _in_word(m.group(0)), text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class LogRing(logging.Handler):
    """The last ``size`` log lines, each cut to ``width`` characters."""

    def __init__(self, size: int = 500, width: int = 500) -> None:
        super().__init__()
        self.width = width
        self._lines: collections.deque[str] = collections.deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.addFilter(RedactingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # logging.Handler's contract: a handler never raises
            self.handleError(record)
            return
        self._lines.append(line if len(line) <= self.width else line[: self.width - 1] + "…")

    def lines(self) -> list[str]:
        return list(self._lines)


# What `getlog` sends: the application's own ring, on the root logger.
RECENT = LogRing()


def _syslog_handler(identifier: str, facility: str) -> logging.Handler | None:
    code = logging.handlers.SysLogHandler.facility_names[facility]
    for address in _SYSLOG_SOCKETS:
        if os.path.exists(address):
            handler = logging.handlers.SysLogHandler(address=address, facility=code)
            handler.ident = f"{identifier}[{os.getpid()}]: "
            handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
            return handler
    return None


def setup_logging(
    console: bool,
    kernel_console: bool,
    level: int = logging.INFO,
    identifier: str = "cardcore",
    facility: str = "daemon",
) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(level)
    handlers: list[logging.Handler] = []
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        handlers.append(stream)
    else:
        syslog = _syslog_handler(identifier, facility)
        if syslog is None:
            # No syslog socket (a container, a bare PC): say so once, on stderr.
            fallback = logging.StreamHandler(sys.stderr)
            fallback.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            handlers.append(fallback)
            print("cardcore: no syslog socket; logging to stderr", file=sys.stderr)
        else:
            handlers.append(syslog)
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.addHandler(RECENT)
    # Libraries that log every request at INFO would drown the terminal's own lines.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    trace = logging.getLogger(KERNEL_TRACE)
    trace.propagate = False
    for handler in list(trace.handlers):
        trace.removeHandler(handler)
    if kernel_console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(asctime)s L2 %(message)s"))
        stream.addFilter(RedactingFilter())
        trace.addHandler(stream)
        trace.setLevel(logging.DEBUG)
    else:
        trace.setLevel(logging.CRITICAL + 1)
