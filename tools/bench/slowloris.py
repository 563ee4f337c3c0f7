"""The ECR port under a slow-loris attack: how long a cash register's login waits.

Run: cardcore-bench slowloris [--drippers 512] [--silent 520] [--seconds 20]

A `cardcore serve --simulator` is started and attacked, from a process of its
own, from other loopback addresses (127.0.0.2 and up, as other hosts on the
LAN) by connections that send one byte of a packet every few seconds
(drippers) and by connections that send nothing (silent); a closed attacking
connection reconnects at once. Meanwhile a cash register at 127.0.0.1 logs in
on a new connection, again and again: a few logins while the attack ramps up
(3 s), then the measured ones. Printed: the login round trips (median, p99,
max), how many logins failed, how many connections the terminal held, how many
attacking connections it closed, and its RSS before and under the attack.
Nothing is asserted here; tests/integration/test_hostile.py checks that every
login is answered.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import trio

from cardcore.protocol.xmlcodec import Message, decode_message, encode_message
from tools.bench import TMP_PREFIX, bench_parser
from tools.bench.ecr import _rss_kib, start_cardcore

LOGIN = encode_message(Message("login", {"password": "12345678"}))
LOGIN_FRAME = struct.pack(">I", len(LOGIN)) + LOGIN


@dataclass
class Attack:
    connects: int = 0  # attacking connections opened
    closed: int = 0  # ... that the terminal closed
    refused: int = 0  # connection attempts that failed
    logins: list[float] = field(default_factory=list)  # seconds per login round trip
    failed_logins: int = 0


def raise_fd_limit(wanted: int = 8192) -> None:
    """Attacker and terminal each hold more sockets than a default soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _attacker(port: int, source: str, interval: float | None, stats: Attack) -> None:
    """One attacking connection, reopened whenever the terminal closes it.
    ``interval``: seconds between dripped bytes; None: silent."""
    while True:
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
        except OSError:
            stats.refused += 1
            await trio.sleep(0.2)
            continue
        stats.connects += 1
        async with stream:
            try:
                if interval is None:
                    await stream.receive_some(1)  # returns when the terminal closes it
                else:
                    for byte in LOGIN_FRAME:
                        await stream.send_all(bytes([byte]))
                        with trio.move_on_after(interval):
                            if not await stream.receive_some(65536):
                                break  # closed
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        stats.closed += 1


async def login_once(port: int, timeout: float = 10.0) -> float:
    """One login on a new connection; its round trip in seconds."""
    start = time.perf_counter()
    with trio.fail_after(timeout):
        stream = await trio.open_tcp_stream("127.0.0.1", port, local_address="127.0.0.1")
        async with stream:
            await stream.send_all(LOGIN_FRAME)
            data = b""
            while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    raise OSError("closed before the answer")
                data += chunk
    answer = decode_message(data[4:])
    if answer.status != "ok":
        raise OSError(f"login answered {answer.status}")
    return time.perf_counter() - start


async def attack(
    port: int,
    *,
    drippers: int = 512,
    silent: int = 520,
    sources: int = 16,
    interval: float = 5.0,
    seconds: float = 20.0,
) -> Attack:
    """Attack for ``seconds``."""
    stats = Attack()
    async with trio.open_nursery() as nursery:
        for i in range(drippers + silent):
            source = f"127.0.0.{2 + i % sources}"
            nursery.start_soon(_attacker, port, source, interval if i < drippers else None, stats)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()
    return stats


async def logins(port: int, count: int, seconds: float, stats: Attack) -> None:
    """``count`` logins at even intervals over ``seconds``."""
    for _ in range(count):
        try:
            stats.logins.append(await login_once(port))
        except (OSError, trio.TooSlowError):
            stats.failed_logins += 1
        await trio.sleep(seconds / count)


class Attacker:
    """The attack in a process of its own, as another host on the LAN would
    run it: the cash register's logins are not scheduled behind a thousand
    attacking tasks of the same event loop."""

    def __init__(self, port: int, **options: float) -> None:
        args = [f"--{k.replace('_', '-')}={v:g}" for k, v in options.items()]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.bench.slowloris", "--attack-port", str(port), *args],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def result(self) -> dict[str, int]:
        """What the attacker saw, once it has finished."""
        out, _ = self.process.communicate(timeout=600)
        counts: dict[str, int] = json.loads(out.strip().splitlines()[-1])
        return counts


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def socket_count(pid: int) -> int:
    """Sockets the process holds (its connections, listeners and links)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += str(fd.readlink()).startswith("socket:[")
        except OSError:
            continue
    return count


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--drippers", type=int, default=512, help="connections sending a byte at a time"
    )
    parser.add_argument("--silent", type=int, default=520, help="connections sending nothing")
    parser.add_argument("--sources", type=int, default=16, help="attacking addresses")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between drips")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of measured logins")
    parser.add_argument("--logins", type=int, default=30, help="measured logins")
    parser.add_argument("--attack-port", type=int, help=argparse.SUPPRESS)  # the attacker
    args = parser.parse_args(argv)
    raise_fd_limit()
    if args.attack_port is not None:
        stats = trio.run(
            functools.partial(
                attack, args.attack_port, drippers=args.drippers, silent=args.silent,
                sources=args.sources, interval=args.interval, seconds=args.seconds,
            )
        )  # fmt: skip
        print(json.dumps({"connects": stats.connects, "closed": stats.closed,
                          "refused": stats.refused}))  # fmt: skip
        return
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        (data / "bench.toml").write_text("[admin]\nscrypt-n = 1024\n")
        proc, port, _, _ = start_cardcore(data, "--simulator", "--config", str(data / "bench.toml"))
        attacker: Attacker | None = None
        try:
            trio.run(login_once, port)
            idle_rss = _rss_kib(proc.pid)
            idle_sockets = socket_count(proc.pid)
            held: list[int] = []
            rss: list[int] = []
            stats, ramp = Attack(), Attack()
            attacker = Attacker(
                port, drippers=args.drippers, silent=args.silent, sources=args.sources,
                interval=args.interval, seconds=args.seconds + 4,
            )  # fmt: skip

            async def run() -> None:
                async with trio.open_nursery() as nursery:

                    def measure() -> None:
                        held.append(socket_count(proc.pid) - idle_sockets)
                        rss.append(_rss_kib(proc.pid))

                    async def sample() -> None:
                        while True:
                            await trio.sleep(1.0)
                            await trio.to_thread.run_sync(measure)

                    nursery.start_soon(sample)
                    # Logins while the attack ramps up (the attacker starts
                    # and opens its connections), then the measured ones.
                    await logins(port, 6, 3.0, ramp)
                    await logins(port, args.logins, args.seconds, stats)
                    nursery.cancel_scope.cancel()

            trio.run(run)
            seen = attacker.result()
        finally:
            if attacker is not None and attacker.process.poll() is None:
                attacker.process.kill()  # stopped before the attack ended
                attacker.process.wait()
            proc.terminate()
            proc.wait(timeout=30)
    ms = [t * 1000 for t in stats.logins]
    print(
        f"attack: {args.drippers} drippers (a byte every {args.interval:g} s) and "
        f"{args.silent} silent connections from {args.sources} addresses, {args.seconds:g} s"
    )
    if ms:
        print(
            f"logins from another address: {len(ms)} answered, {stats.failed_logins} failed; "
            f"median {statistics.median(ms):.1f} ms, p99 {p99(ms):.1f} ms, max {max(ms):.1f} ms"
        )
        print("  in order: " + " ".join(f"{t:.0f}" for t in ms))
    else:
        print(f"logins from another address: none answered, {stats.failed_logins} failed")
    print(
        "logins while the attack ramped up (3 s, not counted above): "
        + " ".join(f"{t * 1000:.0f}" for t in ramp.logins)
        + f" ms; {ramp.failed_logins} failed"
    )
    print(
        f"attacking connections opened {seen['connects']}, closed by the terminal "
        f"{seen['closed']}, refused {seen['refused']}"
    )
    print(f"connections the terminal held (sockets beyond idle): max {max(held, default=0)}")
    print(f"terminal RSS: idle {idle_rss} KiB, under attack max {max(rss, default=-1)} KiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
