# Strategy: the service manager's readiness and watchdog protocol, sd_notify(3)
# as systemd documents it ("Notification protocol", systemd 253+ man page; the
# wire format has not changed since systemd 209): one datagram per message on
# the AF_UNIX SOCK_DGRAM socket named by $NOTIFY_SOCKET, the message being
# newline-separated VARIABLE=VALUE assignments. A name starting with '@' is in
# the abstract namespace (its '@' becomes a NUL byte). Spoken directly over a
# socket so that the image needs no libsystemd binding. What the terminal says:
# READY=1 when run/ecr.addr is written (Type=notify), WATCHDOG=1 every half of
# $WATCHDOG_USEC from a task of the trio loop (WatchdogSec=), so a loop that
# hangs is restarted, and STOPPING=1 when it begins to shut down. Without
# $NOTIFY_SOCKET (not under systemd, or Type=simple) every call is a no-op.
# A failed send is logged once and never stops the terminal: the manager,
# not the terminal, decides what a missed READY or WATCHDOG means.
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

import trio

__all__ = ["Notifier", "watchdog_interval"]

log = logging.getLogger(__name__)


def _address(value: str) -> str | None:
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # vsock:CID:PORT (systemd 253+, virtual machines) is not spoken here


def watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds between WATCHDOG=1 messages: half of $WATCHDOG_USEC, as
    sd_watchdog_enabled(3) advises; None when the watchdog is off or meant
    for another process ($WATCHDOG_PID)."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000


class Notifier:
    """The manager's notification socket, as the environment names it."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self.address = _address(raw) if raw else None
        if raw and self.address is None:
            log.warning("NOTIFY_SOCKET %r is not a Unix socket path: not notifying", raw)
        self.watchdog = watchdog_interval(env) if self.address else None
        self._failed = False
        self._stopping = False

    def send(self, *assignments: str) -> bool:
        """Send one message; True when it left. Never blocks the loop: the
        socket is non-blocking and a full queue counts as a failed send."""
        if self.address is None:
            return False
        message = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(message, self.address)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify the service manager: %s", exc.strerror or exc)
                self._failed = True
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def stopping(self) -> bool:
        """STOPPING=1, once: the first of a signal and the end of serve says it."""
        if self._stopping:
            return False
        self._stopping = True
        return self.send("STOPPING=1", "STATUS=shutting down")

    async def run_watchdog(self) -> None:
        """WATCHDOG=1 at the manager's interval, for as long as the loop runs."""
        if self.watchdog is None:
            return
        log.info("service manager watchdog: every %.1f s", self.watchdog)
        while True:
            self.send("WATCHDOG=1")
            await trio.sleep(self.watchdog)
