"""Instructions per getparameters round trip, cardcore against the echo baseline.

Run: cardcore-bench ecr-instructions [--requests 2000]   (needs valgrind)

tools.bench.ecr measures time, which other load on a shared machine
disturbs. Here each server runs under callgrind instead: after a warm-up its
counters are zeroed, a fixed number of round trips is driven, and the
counters are dumped. The figure is the user-space instructions the server
executed per request; it changes little from run to run. It leaves out the
kernel's work (the socket calls), and a server under callgrind runs some
fifty times slower, so more requests wait each time it looks for them: it
complements the timed benchmark and does not replace it.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from tools.bench import TMP_PREFIX, bench_parser
from tools.bench.ecr import Frames, _cpu_seconds, _frames, start_cardcore, start_echo

WORKLOADS = (("clear", 1), ("encrypted", 1), ("clear", 8), ("encrypted", 8))
WARM_UP = 200
_TOTAL = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)


def _callgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p"]


async def _round_trips(port: int, frames: Frames, count: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    buf = b""
    async with stream:
        for _ in range(count):
            await stream.send_all(frames.next())
            while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                data = await stream.receive_some(65536)
                if not data:
                    raise RuntimeError("server closed the connection")
                buf += data
            buf = buf[4 + struct.unpack(">I", buf[:4])[0] :]


def drive(port: int, frames: Frames, clients: int, requests: int) -> None:
    """``requests`` round trips shared by ``clients`` connections."""

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for i in range(clients):
                nursery.start_soon(
                    _round_trips, port, frames, requests // clients + (i < requests % clients)
                )

    trio.run(main)


def first_boot(data_dir: Path) -> None:
    """Boot the data dir once outside the measurement: a first boot goes on
    after it is ready (the simulated parties' test PKI is made in the
    background), and under callgrind that work would overlap the requests
    measured. It is left to finish: until the server's CPU time stands still."""
    proc, _, _, _ = start_cardcore(data_dir, "--simulator")
    try:
        used, deadline = -1.0, time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = _cpu_seconds(proc.pid)
            if now == used:
                break
            used = now
    finally:
        proc.terminate()
        proc.wait()


def dump_total(pid: int, out: Path) -> int:
    """Dump the counters of the callgrind run ``pid``: instructions since the
    last zeroing."""
    before = set(out.glob(f"cg.{pid}.*"))
    subprocess.run(["callgrind_control", "--dump", str(pid)], check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in set(out.glob(f"cg.{pid}.*")) - before:
            match = _TOTAL.search(path.read_bytes())
            if match:
                return int(match.group(1))
        time.sleep(0.1)
    raise RuntimeError("callgrind wrote no dump")


def count(pid: int, out: Path, port: int, frames: Frames, clients: int, requests: int) -> float:
    """Instructions per request of the server ``pid`` over ``requests`` round trips."""
    frames.stock(WARM_UP + requests)
    drive(port, frames, clients, WARM_UP)
    subprocess.run(["callgrind_control", "--zero", str(pid)], check=True, capture_output=True)
    drive(port, frames, clients, requests)
    return dump_total(pid, out) / requests


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--requests", type=int, default=2000, help="round trips counted per workload"
    )
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("this benchmark needs valgrind (callgrind and callgrind_control)")
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    figures: dict[tuple[str, int], tuple[float, float]] = {}
    try:
        first_boot(tmp / "data")
        proc, port, _, _ = start_cardcore(tmp / "data", "--simulator", prefix=_callgrind(tmp))
        try:
            clear, sealed = _frames(port)
            frames = {"clear": clear, "encrypted": sealed}
            ours = {
                w: count(proc.pid, tmp, port, frames[w[0]], w[1], args.requests) for w in WORKLOADS
            }
        finally:
            proc.terminate()
            proc.wait()
        echo, echo_port = start_echo(prefix=_callgrind(tmp))
        try:
            for workload in WORKLOADS:
                base = count(
                    echo.pid, tmp, echo_port, frames[workload[0]].same(), workload[1],
                    args.requests,
                )  # fmt: skip
                figures[workload] = (base, ours[workload])
        finally:
            echo.terminate()
            echo.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"user-space instructions per request over {args.requests} requests (callgrind)")
    print(f"{'workload':<24}{'echo':>10}{'cardcore':>10}{'ratio':>7}")
    for (kind, clients), (base, cost) in figures.items():
        label = f"{kind}, {clients} client{'s' if clients > 1 else ''}"
        print(f"{label:<24}{base:>10.0f}{cost:>10.0f}{base / cost:>7.2f}")
    print("(ratio: the echo's instructions per request over cardcore's)")


if __name__ == "__main__":
    main()
