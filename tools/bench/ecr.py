"""ECR server benchmark: start-up time, idle RSS, getparameters round trips.

Run: cardcore-bench ecr [--seconds 2] [--rounds 3]

Both servers run as separate processes; one load generator (raw sockets on
trio, precomputed frames, only the length prefix parsed) drives them alike:
- `cardcore serve --simulator` answering getparameters, clear and encrypted
  (each encrypted request sealed afresh beforehand: the terminal refuses a
  sealed packet it has seen before as a replay);
- a minimal trio server that echoes the same framed packets (the baseline).
Each workload is measured on the baseline and on cardcore in alternating
quarter-second slices, in several rounds: the machine's speed changes within
seconds (shared CPUs), so each ratio is taken within a round, over slices
both servers shared, and the medians are reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import trio

from cardcore.client import EcrClient
from cardcore.protocol.secure import seal_message
from cardcore.protocol.xmlcodec import Message, encode_message
from tools.bench import TMP_PREFIX, bench_parser

ECHO_SERVER = r"""
import struct, sys, trio

async def handle(stream):
    buf = b""
    async with stream:
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            buf += data
            while len(buf) >= 4:
                (n,) = struct.unpack(">I", buf[:4])
                if len(buf) < 4 + n:
                    break
                packet, buf = buf[: 4 + n], buf[4 + n :]
                await stream.send_all(packet)

async def main():
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    print(listeners[0].socket.getsockname()[1], flush=True)
    await trio.serve_listeners(handle, listeners)

trio.run(main)
"""


# As on the terminal image, where the installed package has its bytecode: a
# first start may compile (and cache) the modules, later starts read the cache
# even where the environment of this benchmark says not to write one.
TERMINAL_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_cardcore(
    data_dir: Path, *extra: str, prefix: Sequence[str] = ()
) -> tuple[subprocess.Popen[bytes], int, float, float]:
    """Start the server; (process, port, seconds to listening, seconds to ready).

    Listening: the ECR port accepts connections (admin commands work). Ready:
    <data-dir>/run/ecr.addr exists, i.e. the host link, simulated parties and
    crash recovery are up too and device operations run. ``prefix``: a
    command the server runs under (a profiler).
    """
    addr = data_dir / "run" / "ecr.addr"
    addr.unlink(missing_ok=True)
    port = _free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "cardcore", "serve", "--port", str(port),
         "--listen", "127.0.0.1", "--data-dir", str(data_dir), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=TERMINAL_ENV,
    )  # fmt: skip
    listening = None
    while True:
        if proc.poll() is not None:
            raise RuntimeError("cardcore exited during start-up")
        if listening is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
                listening = time.perf_counter() - t0
            except OSError:
                pass
        if addr.exists():
            ready = time.perf_counter() - t0
            return proc, port, listening or ready, ready
        time.sleep(0.001)


def start_echo(prefix: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-c", ECHO_SERVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if prefix else None,  # the profiler's report
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


class Frames:
    """The request frames of a workload, one per request. A sealed command
    is sealed afresh for each request, before the load, so that sealing
    costs the clients nothing while they are measured; a clear one is the
    same bytes every time."""

    def __init__(self, first: bytes, make: Callable[[], bytes] | None = None) -> None:
        self.first = first
        self._make = make
        self._stock: deque[bytes] = deque()

    def stock(self, count: int) -> Frames:
        """Make ``count`` frames ahead (nothing for clear frames)."""
        if self._make is not None:
            self._stock.extend(self._make() for _ in range(count - len(self._stock)))
        return self

    def next(self) -> bytes:
        if self._make is None:
            return self.first
        return self._stock.popleft() if self._stock else self._make()

    def same(self) -> Frames:
        """The first frame every time (for the echo, which keeps no state)."""
        return Frames(self.first)


async def _client_loop(port: int, frames: Frames, until: float, latencies: list[float]) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    buf = b""
    async with stream:
        while time.perf_counter() < until:
            frame = frames.next()
            t0 = time.perf_counter()
            await stream.send_all(frame)
            while True:
                if len(buf) >= 4:
                    (n,) = struct.unpack(">I", buf[:4])
                    if len(buf) >= 4 + n:
                        buf = buf[4 + n :]
                        break
                data = await stream.receive_some(65536)
                if not data:
                    raise RuntimeError("server closed the connection")
                buf += data
            latencies.append(time.perf_counter() - t0)


def _run_load(
    port: int, frames: Frames, clients: int, seconds: float, pid: int
) -> tuple[list[float], float, float]:
    """(latencies, wall seconds, server CPU seconds) of ``seconds`` of round trips."""
    latencies: list[float] = []
    cpu0 = _cpu_seconds(pid)

    async def main() -> None:
        until = time.perf_counter() + seconds
        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(_client_loop, port, frames, until, latencies)

    t0 = time.perf_counter()
    trio.run(main)
    return latencies, time.perf_counter() - t0, _cpu_seconds(pid) - cpu0


def _summary(*runs: tuple[list[float], float, float]) -> dict[str, float]:
    latencies = sorted(t for run in runs for t in run[0])
    wall, cpu = sum(run[1] for run in runs), sum(run[2] for run in runs)
    return {
        "rps": len(latencies) / wall,
        "cpu_us": cpu / len(latencies) * 1e6,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def paired_load(
    ports: tuple[int, int], pids: tuple[int, int], frames: Frames, clients: int, seconds: float
) -> tuple[dict[str, float], dict[str, float]]:
    """``seconds`` of round trips on the echo (first) and on cardcore, taken
    in alternating slices (quarter-seconds at most): a shared machine's speed
    drifts within seconds, and each server then sees the same share of slow
    and fast spells."""
    slices = max(1, round(seconds / 0.25))
    runs: tuple[list[tuple[list[float], float, float]], ...] = ([], [])
    per_side = (frames.same(), frames)
    for _ in range(slices):
        for side in (0, 1):
            runs[side].append(
                _run_load(ports[side], per_side[side], clients, seconds / slices, pids[side])
            )
    return _summary(*runs[0]), _summary(*runs[1])


def _frames(port: int) -> tuple[Frames, Frames]:
    async def login() -> tuple[str, bytes]:
        client = EcrClient("127.0.0.1", port)
        answer = await client.login("12345678", secure=True)
        assert answer.status == "ok" and client.session.key and client.session.token
        return client.session.token, client.session.key

    token, key = trio.run(login)
    message = Message("getparameters", {"token": token})

    def framed(xml: bytes) -> bytes:
        return struct.pack(">I", len(xml)) + xml

    def sealed() -> bytes:
        return framed(encode_message(seal_message(message, key)))

    return Frames(framed(encode_message(message))), Frames(sealed(), sealed)


def _compare(
    port: int,
    pid: int,
    echo_port: int,
    echo_pid: int,
    clear: Frames,
    sealed: Frames,
    args: argparse.Namespace,
) -> None:
    """getparameters against the echo baseline, the same frames, in alternating slices."""
    # Enough sealed requests for every encrypted slice at well above the
    # rate this machine reaches.
    sealed.stock(int(20_000 * args.seconds * args.rounds))
    workloads = [
        (f"{kind}, {clients} client{'s' if clients > 1 else ''}", frame, clients)
        for clients in (1, 8)
        for kind, frame in (("clear", clear), ("encrypted", sealed))
    ]
    results: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {
        name: [] for name, _, _ in workloads
    }
    head = f"{'round':<6}{'workload':<24}{'echo req/s':>11}{'cardcore req/s':>15}{'ratio':>7}"
    print(head + f"{'echo CPU us':>12}{'cardcore CPU us':>16}{'by CPU':>7}")
    for round_no in range(1, args.rounds + 1):
        for name, frame, clients in workloads:
            base, ours = paired_load(
                (echo_port, port), (echo_pid, pid), frame, clients, args.seconds
            )
            results[name].append((base, ours))
            print(
                f"{round_no:<6}{name:<24}{base['rps']:>11.0f}{ours['rps']:>15.0f}"
                f"{ours['rps'] / base['rps']:>7.2f}{base['cpu_us']:>12.0f}{ours['cpu_us']:>16.0f}"
                f"{base['cpu_us'] / ours['cpu_us']:>7.2f}"
            )
    print(
        f"\nmedians over {args.rounds} rounds (ratio: cardcore's req/s over the echo's; "
        "by CPU: the echo's server CPU per request over cardcore's)"
    )
    print(
        f"{'workload':<24}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'CPU us':>8}"
        f"{'echo req/s':>11}{'echo p50':>9}{'ratio':>7}{'by CPU':>8}"
    )
    for name, pairs in results.items():
        ours = {key: statistics.median(o[key] for _, o in pairs) for key in pairs[0][1]}
        echo = {key: statistics.median(b[key] for b, _ in pairs) for key in pairs[0][0]}
        ratio = statistics.median(o["rps"] / b["rps"] for b, o in pairs)
        by_cpu = statistics.median(b["cpu_us"] / o["cpu_us"] for b, o in pairs)
        print(
            f"{name:<24}{ours['rps']:>8.0f}{ours['p50_ms']:>8.2f}{ours['p99_ms']:>8.2f}"
            f"{ours['cpu_us']:>8.0f}{echo['rps']:>11.0f}{echo['p50_ms']:>9.2f}"
            f"{ratio:>7.2f}{by_cpu:>8.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="seconds of load per workload and round"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of every workload (medians over them)"
    )
    parser.add_argument(
        "--starts", type=int, default=5, help="start-ups timed in each mode (at least 2)"
    )
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    try:
        for mode, extra in (("terminal", ()), ("simulator", ("--simulator",))):
            listen: list[float] = []
            ready: list[float] = []
            rss: list[float] = []
            for i in range(max(args.starts, 2)):
                proc, _, up, all_up = start_cardcore(tmp / mode, *extra)
                listen.append(up)
                ready.append(all_up)
                if i < 2:
                    # The first boot compiles the modules and, in simulator
                    # mode, makes the simulated parties' test PKI in the
                    # background: it is given time to finish, and idle RSS is
                    # read both then and at the next start.
                    time.sleep(3.0 if i == 0 else 1.0)
                    rss.append(_rss_kib(proc.pid) / 1024)
                proc.terminate()
                proc.wait()
            print(
                f"{mode} mode: start to listening first boot {listen[0] * 1000:.0f} ms, later "
                f"median {statistics.median(listen[1:]) * 1000:.0f} ms; to ready (device "
                f"operations) first {ready[0] * 1000:.0f} ms, later median "
                f"{statistics.median(ready[1:]) * 1000:.0f} ms; idle RSS first boot "
                f"{rss[0]:.1f} MiB, later {rss[1]:.1f} MiB"
            )
        proc, port, _, _ = start_cardcore(tmp / "simulator", "--simulator")
        time.sleep(1.0)
        print(f"simulator mode idle RSS before load: {_rss_kib(proc.pid) / 1024:.1f} MiB")
        clear, sealed = _frames(port)
        echo, echo_port = start_echo()
        try:
            _compare(port, proc.pid, echo_port, echo.pid, clear, sealed, args)
            print(f"RSS after load: {_rss_kib(proc.pid) / 1024:.1f} MiB")
        finally:
            echo.terminate()
            proc.terminate()
            proc.wait()
            echo.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
