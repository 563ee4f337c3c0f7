# Strategy: logging as the manual's Appendix B («Лог») describes it: the system
# log by default, the console with `-acons`, the L2 kernel trace on the console
# with `-econs`. Whatever reaches a handler first passes a redaction filter, a
# safety net behind the rule that PAN, track data, PIN blocks and keys are never
# logged: digit runs that look like a PAN keep only their last four digits.
from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys

__all__ = ["KERNEL_TRACE", "RedactingFilter", "redact", "setup_logging"]

KERNEL_TRACE = "kernel.trace"
_PAN_LIKE = re.compile(r"(?<!\d)(\d{9,15})(\d{4})(?!\d)")
_SYSLOG_SOCKETS = ("/dev/log", "/var/run/syslog")


def redact(text: str) -> str:
    return _PAN_LIKE.sub(lambda m: "*" * len(m.group(1)) + m.group(2), text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def _syslog_handler() -> logging.Handler | None:
    for address in _SYSLOG_SOCKETS:
        if os.path.exists(address):
            handler = logging.handlers.SysLogHandler(
                address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON
            )
            handler.ident = "cardcore: "
            handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
            return handler
    return None


def setup_logging(console: bool, kernel_console: bool, level: int = logging.INFO) -> None:
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
        syslog = _syslog_handler()
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
