"""Approved contact purchase: wall time and where it goes; 1,000 in a row.

Run: cardcore-bench transaction [--count 1000] [--breakdown 200]

1. End to end: `cardcore serve --simulator` as a process, the cash register
   over TCP, zero simulated card latency: wall time per approved purchase
   (median, p90) and throughput over `--count` purchases in a row, with the
   first and last hundred compared (the journal grows; nothing may slow down).
2. Breakdown, in process (same wiring as --simulator): time spent in the card
   emulator, the host round trip (ISO 8583 over loopback TCP, the host
   simulator's ARQC check included), journal commits (fsync) and the rest
   (kernel, engine, ECR protocol).
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from cardcore.client import EcrClient
from tools.bench import TMP_PREFIX, bench_parser

if TYPE_CHECKING:
    from cardcore.inprocess import Harness

PURCHASE = {"type": "purchase", "amount": "000000001500", "currency": "643"}


def _quiet(message: Any) -> dict[str, str]:
    return {"status": "ok"}


async def _purchase(h: Harness, attrs: dict[str, str]) -> None:
    """One purchase on a connection of its own, closed after its answer."""
    connection = h.connect(_quiet)
    try:
        await connection.command("transaction", PURCHASE, attrs)
    finally:
        await connection.aclose()


async def _purchases(port: int, count: int, sbp: bool = False) -> list[float]:
    client = EcrClient("127.0.0.1", port, on_message=_quiet)
    # force-sbp="false": the contact purchase alone; without it the simulator's
    # SBP agent races the card (a QR is registered, shown and withdrawn).
    attrs = None if sbp else {"force-sbp": "false"}
    times: list[float] = []
    for _ in range(count):
        t0 = time.perf_counter()
        answer = await client.command("transaction", PURCHASE, attrs)
        times.append(time.perf_counter() - t0)
        if answer.body.get("receipt", {}).get("tstatus") != "approved":
            raise RuntimeError(f"purchase not approved: {answer.body}")
    return times


def end_to_end(count: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    addr = tmp / "run" / "ecr.addr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cardcore", "serve", "--simulator", "--port", "0",
         "--data-dir", str(tmp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while not addr.exists():
            if proc.poll() is not None:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        port = int(addr.read_text().split()[1])
        trio.run(_purchases, port, 5)  # warm-up
        t0 = time.perf_counter()
        times = trio.run(_purchases, port, count)
        wall = time.perf_counter() - t0
        with_sbp = trio.run(_purchases, port, 100, True)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    ms = sorted(t * 1000 for t in times)
    tenth = max(1, count // 10)
    medians = [statistics.median(times[i : i + tenth]) * 1000 for i in range(0, count, tenth)]
    print(f"end to end over TCP, {count} approved purchases in a row:")
    print(f"  per purchase: median {statistics.median(ms):.1f} ms, p90 {ms[int(len(ms) * 0.9)]:.1f}"
          f" ms, max {ms[-1]:.1f} ms; {count / wall:.1f} purchases/s")  # fmt: skip
    # Growth of the journal shows as a rising median from one tenth to the next.
    print("  median per tenth of the run (ms): " + " ".join(f"{m:.1f}" for m in medians))
    race = sorted(t * 1000 for t in with_sbp)
    print(
        f"  with the SBP QR racing the card (100 purchases): median "
        f"{statistics.median(race):.1f} ms, p90 {race[int(len(race) * 0.9)]:.1f} ms"
    )


@contextlib.contextmanager
def _timed(
    totals: dict[str, float], name: str, owner: Any, attr: str, is_async: bool
) -> Iterator[None]:
    original: Callable[..., Any] = getattr(owner, attr)
    if is_async:

        async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                totals[name] += time.perf_counter() - t0

        setattr(owner, attr, wrapper_async)
    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                totals[name] += time.perf_counter() - t0

        setattr(owner, attr, wrapper)
    try:
        yield
    finally:
        setattr(owner, attr, original)


def breakdown(count: int) -> None:
    from acquirers.link import AcquirerLink
    from cardcore.inprocess import simulated_terminal
    from cardcore.journal import Journal
    from simulators.devices.card import VirtualCard

    totals: dict[str, float] = defaultdict(float)
    wall: list[float] = []

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp:
            async with simulated_terminal(Path(tmp), {"admin": {"scrypt-n": 1024}}) as h:
                conn_attrs = {"force-sbp": "false"}  # the contact purchase alone
                for _ in range(5):
                    await _purchase(h, conn_attrs)
                with contextlib.ExitStack() as stack:
                    stack.enter_context(
                        _timed(totals, "card emulator", VirtualCard, "transmit", False)
                    )
                    stack.enter_context(
                        _timed(totals, "host round trip", AcquirerLink, "financial", True)
                    )
                    stack.enter_context(_timed(totals, "journal commits", Journal, "run", True))
                    for _ in range(count):
                        t0 = time.perf_counter()
                        await _purchase(h, conn_attrs)
                        wall.append(time.perf_counter() - t0)

    trio.run(main)
    total = sum(wall)
    print(f"in process, {count} purchases (ECR over memory streams, host over loopback TCP):")
    print(f"  wall per purchase: mean {total / count * 1000:.1f} ms")
    accounted = 0.0
    for name in ("card emulator", "host round trip", "journal commits"):
        accounted += totals[name]
        print(f"  {name:<18} {totals[name] / count * 1000:6.2f} ms")
    print(f"  {'kernel, engine, ECR':<18} {(total - accounted) / count * 1000:6.2f} ms")


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--count", type=int, default=1000, help="purchases in a row through `cardcore serve`"
    )
    parser.add_argument(
        "--breakdown",
        type=int,
        default=200,
        help="purchases in process timed part by part; 0 skips the breakdown",
    )
    args = parser.parse_args()
    if args.breakdown > 0:
        breakdown(args.breakdown)
    if args.count > 0:
        end_to_end(args.count)


if __name__ == "__main__":
    main()
