"""Full X-report and settlement over a batch of 100,000 transactions: time and peak memory.

Run: cardcore-bench settlement [--count 100000] [--small 10000] [--upload 10000]

The batch is written through the journal (Journal.create_many) with the mix of a
working day: purchases, purchases with cashback, refunds, voids, declines and SBP
operations over three card schemes; the host simulator's ledger is given the same
transactions, so the settlement is in balance. Everything runs in process with the
wiring of `cardcore serve --simulator` (host simulator over loopback TCP):

1. full report: the `report` command over a real TCP connection to the ECR server,
   from the command to the last byte read by a client that only counts bytes
   (journal -> spooled answer -> socket); also sealed for the secure channel;
2. brief report;
3. settlement in balance (flush, totals, 0500 92, journal record and batch close);
   the host simulator's own share (it totals its ledger of the same size) is shown;
   then the next (small) batch's settlement;
4. settlement out of balance with a batch upload (0320 per transaction, 0500 96) of a
   batch of `--upload` transactions, against a host simulator in its own process (so
   that the records it keeps do not count in the terminal's memory).

Time is measured without tracing; peak memory in a second run under tracemalloc (the
peak of Python allocations made during the step), for `--count` and for `--small`
transactions: flat memory means the two peaks are about the same.
"""

from __future__ import annotations

import datetime as dt
import socket
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from acquirers.iso8583.messages import TxnType
from cardcore.app import ServeOptions, build_commands, build_terminal
from cardcore.config import build_config
from cardcore.endofday.service import EndOfDay
from cardcore.journal import TxnRecord
from cardcore.protocol.secure import client_handshake, derive_key, parse_server_handshake
from cardcore.protocol.xmlcodec import Message, decode_message, encode_message
from cardcore.server import EcrServer
from cardcore.terminal import Terminal
from simulators.host.ledger import HostTxn, TxnKey
from simulators.host.server import HostSimulator
from simulators.simulator import Simulator, simulator_config
from tools.bench import TMP_PREFIX, bench_parser

PAN = "4761739001010010"
SCHEMES = [("A000000003", "VISA"), ("A000000004", "MASTERCARD"), ("A000000658", "MIR")]
HOST_TOTALS = "host's own totals"
CONFIG: dict[str, Any] = {
    "admin": {"scrypt-n": 1024},
    "acquirer": {"response-timeout": 30, "connect-timeout": 5},
}


@dataclass
class Bench:
    terminal: Terminal
    host: HostSimulator
    server_port: int


@asynccontextmanager
async def simulated(data_dir: Path, host_port: int | None = None) -> AsyncIterator[Bench]:
    """The terminal as --simulator wires it; ``host_port``: talk to that host
    simulator instead of the in-process one."""
    config = dict(CONFIG)
    if host_port is not None:
        config["acquirer"] = {
            **CONFIG["acquirer"],
            "main": {"host": "127.0.0.1", "port": host_port},
        }
    terminal = build_terminal(ServeOptions(build_config(config), data_dir, simulator=True))
    await terminal.start()
    terminal.start_host()
    try:
        async with trio.open_nursery() as nursery:
            sim = terminal.sim = Simulator()
            sim.seed_keys(terminal)
            sim.install_devices(terminal)
            port = await sim.start_host(nursery, terminal)
            terminal.reconfigure(simulator_config(terminal.config, port))
            server = EcrServer(terminal.config.server, build_commands(terminal), terminal.keyring)
            listeners = await nursery.start(server.serve, "127.0.0.1", 0)
            assert sim.host is not None
            yield Bench(terminal, sim.host, listeners[0].socket.getsockname()[1])
            nursery.cancel_scope.cancel()
    finally:
        terminal.close()


def day_row(i: int, when: dt.datetime) -> tuple[TxnRecord, bool]:
    """Row i of the day, and whether the acquirer has booked it."""
    rid, name = SCHEMES[i % 3]
    kind = i % 20
    record = TxnRecord(
        channel="card",
        operation="purchase",
        receipt_type="purchase",
        state="approved",
        tstatus="approved",
        amount=1000 + i % 9000,
        currency="643",
        expiry="301231",
        aid=rid + "1010",
        scheme_rid=rid,
        scheme_name=name,
        interface="contact",
        stan=f"{i % 999_999 + 1:06d}",
        rrn=f"{633218000000 + i:012d}",
        auth_code=f"{i % 1_000_000:06d}",
        resp_code="00",
        tvr="0000008000",
        tsi="E800",
        datetime=(when + dt.timedelta(seconds=i)).isoformat(timespec="seconds"),
        extra={"entry-mode": "051", "psn": "01"},
    )
    if kind in (0, 1):  # SBP purchase / refund
        record.channel, record.scheme_rid, record.scheme_name, record.aid = "sbp", None, None, None
        if kind == 1:
            record.operation = record.receipt_type = "refund"
        return record, False
    if kind == 2:  # declined by the host
        record.state, record.tstatus, record.resp_code = "declined", "declined", "05"
        record.decline_reason = "onlinedeclined"
        return record, False
    if kind == 3:  # a void (its original carries the reversed amount)
        record.operation, record.receipt_type = "void", "purchasereversal"
        return record, False
    if kind == 4:
        record.operation, record.amount_other = "purchase-with-cashback", 500
        record.amount += 500
    elif kind == 5:
        record.operation = record.receipt_type = "refund"
    elif kind == 6:
        record.reversed_amount = record.amount // 2  # partly voided
    return record, True


async def fill(bench: Bench, count: int, *, book: bool = True) -> None:
    journal, tid = bench.terminal.journal, bench.terminal.config.terminal.tid or ""
    when = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    batch = bench.host.ledger.batch(tid)
    chunk: list[TxnRecord] = []
    types = {"purchase": TxnType.PURCHASE, "purchase-with-cashback": TxnType.CASHBACK,
             "refund": TxnType.REFUND}  # fmt: skip
    for i in range(count):
        record, booked = day_row(i, when)
        if record.channel == "card":
            journal.protect_pan(record, PAN, keep=True)
        chunk.append(record)
        if booked and book:
            key = TxnKey(tid, "0200", record.stan or "", record.when.strftime("%m%d%H%M%S"))
            batch.transactions[key] = HostTxn(
                key, types[record.operation], record.amount, "bench", record.rrn or "",
                record.auth_code or "", "00", record.amount_other, record.reversed_amount,
            )  # fmt: skip
        if len(chunk) == 5000:
            await journal.create_many(chunk)
            chunk = []
    if chunk:
        await journal.create_many(chunk)


async def read_packet(stream: trio.SocketStream, keep: bool) -> tuple[int, bytes]:
    """(length, body if ``keep``): reads the whole answer, keeping only what is asked."""
    head = b""
    while len(head) < 4:
        head += await stream.receive_some(4 - len(head))
    (length,) = struct.unpack(">I", head)
    body, left = [], length
    while left:
        data = await stream.receive_some(min(left, 1 << 20))
        left -= len(data)
        if keep:
            body.append(bytes(data))
    return length, b"".join(body)


async def report_over_tcp(bench: Bench, kind: str, key: bytes | None = None) -> int:
    stream = await trio.open_tcp_stream("127.0.0.1", bench.server_port)
    async with stream:
        command = Message("report", {"password": "12345678", "report-type": kind})
        if key is not None:
            from cardcore.protocol.secure import seal_message

            command = seal_message(command, key)
        xml = encode_message(command)
        await stream.send_all(struct.pack(">I", len(xml)) + xml)
        length, _ = await read_packet(stream, keep=False)
        return length


async def secure_key(bench: Bench) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec

    own = ec.generate_private_key(ec.SECP256R1())
    stream = await trio.open_tcp_stream("127.0.0.1", bench.server_port)
    async with stream:
        login = Message(
            "login",
            {"password": "12345678"},
            {"client-handshake": client_handshake(own.public_key())},
        )
        xml = encode_message(login)
        await stream.send_all(struct.pack(">I", len(xml)) + xml)
        _, body = await read_packet(stream, keep=True)
    answer = decode_message(body)
    return derive_key(own, parse_server_handshake(answer.attrs["server-handshake"]))


@dataclass
class Step:
    seconds: float  # wall
    cpu: float  # CPU time of the process (all its threads): less sensitive to other load
    peak: int  # peak bytes of Python allocations during the step (0: not traced)
    result: Any = None


async def measure(step: Callable[[], Awaitable[Any]], trace: bool) -> Step:
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
    result = await step()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return Step(seconds, cpu, peak, result)


async def scenario(count: int, upload: int, trace: bool) -> dict[str, Step]:
    out: dict[str, Step] = {}
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp:
        async with simulated(Path(tmp) / "day") as bench:
            t0 = time.perf_counter()
            await fill(bench, count)
            out["fill"] = Step(time.perf_counter() - t0, 0.0, 0)
            out["full report"] = await measure(lambda: report_over_tcp(bench, "full"), trace)
            key = await secure_key(bench)
            out["full report, sealed"] = await measure(
                lambda: report_over_tcp(bench, "full", key), trace
            )
            out["brief report"] = await measure(lambda: report_over_tcp(bench, "brief"), trace)
            tid = bench.terminal.config.terminal.tid or ""
            t0 = time.perf_counter()
            bench.host.ledger.totals(tid)
            out[HOST_TOTALS] = Step(time.perf_counter() - t0, 0.0, 0)
            eod = EndOfDay(bench.terminal)
            out["settlement"] = await measure(eod.settle, trace)
            await fill(bench, 10)
            out["next settlement"] = await measure(eod.settle, trace)
        with standalone_host() as port:
            async with simulated(Path(tmp) / "upload", host_port=port) as bench:
                await fill(bench, upload, book=False)  # that host knows nothing: upload them all
                eod = EndOfDay(bench.terminal)
                out["settlement with upload"] = await measure(eod.settle, trace)
    return out


@contextmanager
def standalone_host() -> Iterator[int]:
    """`python -m simulators.host` on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.host", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the host simulator did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait()


def _mib(value: int) -> str:
    return f"{value / 2**20:.1f} MiB"


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--count", type=int, default=100_000, help="transactions in the batch")
    parser.add_argument(
        "--small",
        type=int,
        default=10_000,
        help="transactions of the smaller batch whose peak memory is compared",
    )
    parser.add_argument(
        "--upload", type=int, default=10_000, help="transactions of the uploaded batch"
    )
    args = parser.parse_args(argv)

    timed = trio.run(scenario, args.count, args.upload, False)
    big = trio.run(scenario, args.count, args.upload, True)
    # the upload streams 500 rows a chunk: compare two sizes above that
    small_upload = max(args.upload // 5, 1)
    small = trio.run(scenario, args.small, small_upload, True)
    print(
        f"batch of {args.count} transactions written through the journal in"
        f" {timed['fill'].seconds:.1f} s"
    )
    peak_big, peak_small = f"peak {args.count}", f"peak {args.small}"
    print(f"{'step':<24}{'wall':>8}{'cpu':>8}{peak_big:>14}{peak_small:>14}  notes")
    steps = ("full report", "full report, sealed", "brief report", "settlement",
             "next settlement", "settlement with upload")  # fmt: skip
    for name in steps:
        step = timed[name]
        if "report" in name:
            note = f"answer {step.result:,} bytes ({step.result / 2**20:.1f} MiB)"
        elif name == "next settlement":
            sreport = step.result.body["sreport"]
            note = f"{sreport['settlement-result']}, {sreport['tnum']} in the host batch"
        elif name == "settlement":
            sreport = step.result.body["sreport"]
            note = (
                f"{sreport['settlement-result']}, {sreport['tnum']} in the host batch; the host"
                f" simulator's own totals took {timed[HOST_TOTALS].seconds:.2f} s of it"
            )
        else:
            sreport = step.result.body["sreport"]
            note = (
                f"{sreport['settlement-result']}, batch upload {sreport.get('batch-upload')} of"
                f" {sreport['tnum']} ({args.upload} rows; {int(sreport['tnum']) / step.seconds:.0f}"
                f" uploads/s); peaks for {args.upload} and {small_upload} rows"
            )
        print(
            f"{name:<24}{step.seconds:>7.2f}s{step.cpu:>7.2f}s{_mib(big[name].peak):>14}"
            f"{_mib(small[name].peak):>14}  {note}"
        )


if __name__ == "__main__":
    main()
