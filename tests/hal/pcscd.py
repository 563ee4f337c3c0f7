"""A private pcscd with vsmartcard's vpcd driver, for the PC/SC tests.

pcscd is started in the foreground (`pcscd -f -c DIR`) with a reader.conf.d
of its own that loads vpcd on a free TCP port pair (two slots: "Virtual PCD
00 00" on the port, "Virtual PCD 00 01" on port + 1), found by its PID and
stopped with SIGTERM. pcscd always serves /run/pcscd/pcscd.comm, so only one
can run on a machine: when one is running already (a system pcscd, systemd's
pcscd.socket, another test run) the tests say so and skip. Under
CARDCORE_CI=1 (set by .ci/run) anything missing fails the tests instead.

`plugged` keeps a virtual card in one of the two slots for a block, waiting
until pcscd reports it (and, after, its removal); `outside_tool` finds the
PC/SC tools nobody here wrote: pcsc-tools' pcsc_scan and scriptor, and
python-emv's emvtool, which lives in a venv of its own (it pins pyscard 2.0.0).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio

if TYPE_CHECKING:
    from simulators.devices.vpcd import VirtualIcc

REPO = Path(__file__).resolve().parents[2]
RUN_DIR = Path("/run/pcscd")
CONTACT_READER = "Virtual PCD 00 00"
CONTACTLESS_READER = "Virtual PCD 00 01"


def in_ci() -> bool:
    return os.environ.get("CARDCORE_CI") == "1"


def unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where the PC/SC stack must be there."""
    if in_ci():
        pytest.fail(f"CARDCORE_CI=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def running_pcscd() -> str | None:
    """Why an existing pcscd owns /run/pcscd, or None when it is free."""
    pid_file = RUN_DIR / "pcscd.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        return f"a pcscd (pid {pid}) is already running and owns {RUN_DIR}"
    comm = RUN_DIR / "pcscd.comm"
    if comm.exists():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1)
            try:
                probe.connect(str(comm))
            except OSError:
                return None  # a stale socket file: pcscd cleans it up itself
        return f"{comm} accepts connections (systemd pcscd.socket or another pcscd)"
    return None


def vpcd_driver() -> str | None:
    """Path of vpcd's IFD handler (from the package's reader.conf, or known places)."""
    conf = Path("/etc/reader.conf.d/vpcd")
    if conf.exists():
        match = re.search(r"^LIBPATH\s+(\S+)", conf.read_text(), re.MULTILINE)
        if match and Path(match.group(1)).exists():
            return match.group(1)
    for pattern in (
        "/usr/lib/pcsc/drivers/serial/libifdvpcd.so*",
        "/usr/lib/*/pcsc/drivers/serial/libifdvpcd.so*",
        "/usr/lib64/pcsc/drivers/serial/libifdvpcd.so*",
        "/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so*",
    ):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def free_port_pair() -> int:
    """A port p with p and p + 1 free on all addresses (vpcd binds INADDR_ANY)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("0.0.0.0", 0))
            port = first.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", port))
                b.bind(("0.0.0.0", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for vpcd")


def list_readers() -> list[str] | None:
    """Readers pcscd offers now, or None when it does not answer."""
    from smartcard import scard

    rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rv & 0xFFFFFFFF:
        return None
    try:
        rv, readers = scard.SCardListReaders(ctx, [])
        return [str(r) for r in readers] if (rv & 0xFFFFFFFF) == 0 else []
    finally:
        scard.SCardReleaseContext(ctx)


@dataclass
class Pcscd:
    """A running private pcscd: vpcd's slot 0 listens on ``port``, slot 1 on port + 1."""

    directory: Path
    port: int
    driver: str
    process: subprocess.Popen[bytes] | None = None
    # The vpcd device's friendly name: "Virtual PCD" gives the readers
    # CONTACT_READER and CONTACTLESS_READER. (One vpcd device per pcscd: the
    # driver keeps its connections per slot number, so two vpcd devices in one
    # pcscd share them.)
    name: str = "Virtual PCD"
    # More readers: reader.conf files by name, and the readers they add.
    extra: dict[str, str] = field(default_factory=dict)
    extra_readers: tuple[str, ...] = ()

    @property
    def log(self) -> Path:
        return self.directory / "pcscd.log"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        conf = self.directory / "reader.conf.d"
        if conf.exists():
            shutil.rmtree(conf)
        conf.mkdir(parents=True)
        (conf / "vpcd").write_text(
            f'FRIENDLYNAME "{self.name}"\n'
            f"DEVICENAME /dev/null:0x{self.port:X}\n"
            f"LIBPATH {self.driver}\n"
            f"CHANNELID 0x{self.port:X}\n"
        )
        for file, text in self.extra.items():
            (conf / file).write_text(text)
        expected = {f"{self.name} 00 00", f"{self.name} 00 01", *self.extra_readers}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["pcscd", "--foreground", "--config", str(conf), "--info"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pcscd exited at start:\n{self.log_text()}")
            readers = list_readers()
            if readers and expected <= set(readers):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pcscd did not offer the vpcd readers:\n{self.log_text()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(
        self,
        name: str = "Virtual PCD",
        extra: dict[str, str] | None = None,
        extra_readers: tuple[str, ...] = (),
    ) -> None:
        """Stop, and start again with the vpcd reader named ``name`` (as if one
        reader had been unplugged and another plugged in), and the ``extra``
        reader.conf files offering ``extra_readers``."""
        self.stop()
        self.name = name
        self.extra = dict(extra or {})
        self.extra_readers = extra_readers
        self.start()


def start_pcscd(directory: Path) -> Pcscd:
    """A private pcscd, or skip/fail with the reason it cannot run here."""
    try:
        import smartcard.scard  # noqa: F401
    except ImportError:
        unavailable("pyscard is not installed (pip install -e '.[pcsc]', needs libpcsclite-dev)")
    if shutil.which("pcscd") is None:
        unavailable("pcscd is not installed (apt-get install pcscd)")
    driver = vpcd_driver()
    if driver is None:
        unavailable("vsmartcard's vpcd driver is not installed (apt-get install vsmartcard-vpcd)")
    assert driver is not None
    busy = running_pcscd()
    if busy is not None:
        unavailable(
            f"{busy}; the PC/SC tests start their own pcscd with the vpcd reader. "
            "Stop the other one (e.g. systemctl stop pcscd.socket pcscd) to run them"
        )
    if os.geteuid() != 0 and not os.access(RUN_DIR.parent, os.W_OK) and not RUN_DIR.exists():
        unavailable(f"pcscd needs to create {RUN_DIR}; run the PC/SC tests as root")
    daemon = Pcscd(directory, free_port_pair(), driver)
    daemon.start()
    return daemon


def outside_tool(name: str) -> str:
    """The path of an outside PC/SC tool: emvtool from the venv `make` gives
    python-emv (.venv/emvtool), else anything on PATH."""
    own = REPO / ".venv" / "emvtool" / "bin" / name
    found = str(own) if own.exists() else shutil.which(name)
    if found is None:
        where = (
            "make .venv/bin/.installed-test" if name == "emvtool" else "apt-get install pcsc-tools"
        )
        unavailable(f"{name} is not installed ({where})")
    assert found is not None
    return found


def reader_state(reader: str) -> tuple[bool, bytes]:
    """Whether pcscd sees a card in ``reader``, and its ATR."""
    from smartcard import scard

    rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rv & 0xFFFFFFFF:
        return False, b""
    try:
        rv, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if rv & 0xFFFFFFFF or not states:
            return False, b""
        _, state, atr = states[0]
        return bool(state & scard.SCARD_STATE_PRESENT), bytes(atr)
    finally:
        scard.SCardReleaseContext(ctx)


async def wait_reader(reader: str, atr: bytes | None, timeout: float = 20.0) -> None:
    """Until pcscd shows a card with ``atr`` in ``reader`` (None: no card)."""
    with trio.fail_after(timeout):
        while True:
            present, seen = await trio.to_thread.run_sync(reader_state, reader)
            if (present and seen == atr) if atr is not None else not present:
                return
            await trio.sleep(0.1)


@contextlib.asynccontextmanager
async def plugged(
    nursery: trio.Nursery, daemon: Pcscd, icc: VirtualIcc, slot: int = 0
) -> AsyncIterator[str]:
    """``icc`` in vpcd slot ``slot`` (0 contact, 1 contactless reader) for the
    block, served from ``nursery``: yields the reader's name once pcscd shows
    the card, and returns once pcscd saw it go."""
    from simulators.devices.vpcd import run_vpcd_card

    reader = (CONTACT_READER, CONTACTLESS_READER)[slot]
    scope = trio.CancelScope()

    async def serve(task_status: trio.TaskStatus[None]) -> None:
        with scope:
            await run_vpcd_card(icc, port=daemon.port + slot, retry=0.1, task_status=task_status)

    await nursery.start(serve)
    try:
        await wait_reader(reader, icc.atr)
        yield reader
    finally:
        scope.cancel()
    await wait_reader(reader, None)
