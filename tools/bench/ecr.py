"""ECR server benchmark: start-up time, idle RSS, getparameters round trips.

Run: python -m tools.bench.ecr [--seconds 3]

Both servers run as separate processes; one load generator (raw sockets on
trio, precomputed frames, only the length prefix parsed) drives them alike:
- `cardcore serve --simulator` answering getparameters, clear and encrypted;
- a minimal trio server that echoes the same framed packet (the baseline).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from cardcore.client import EcrClient
from cardcore.protocol.secure import seal_message
from cardcore.protocol.xmlcodec import Message, encode_message

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


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_cardcore(data_dir: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    addr = data_dir / "run" / "ecr.addr"
    addr.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cardcore", "serve", "--simulator", "--port", "0",
         "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while not addr.exists():
        if proc.poll() is not None:
            raise RuntimeError("cardcore exited during start-up")
        time.sleep(0.001)
    elapsed = time.perf_counter() - t0
    return proc, int(addr.read_text().split()[1]), elapsed


def start_echo() -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


async def _client_loop(port: int, frame: bytes, until: float, latencies: list[float]) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    buf = b""
    async with stream:
        while time.perf_counter() < until:
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


def load(port: int, frame: bytes, clients: int, seconds: float, pid: int) -> dict[str, float]:
    """Round trips for ``seconds``; also the server's CPU time per request, which
    other load on the machine disturbs far less than throughput."""
    latencies: list[float] = []
    cpu0 = _cpu_seconds(pid)

    async def main() -> None:
        until = time.perf_counter() + seconds
        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(_client_loop, port, frame, until, latencies)

    t0 = time.perf_counter()
    trio.run(main)
    wall = time.perf_counter() - t0
    cpu = _cpu_seconds(pid) - cpu0
    latencies.sort()
    return {
        "rps": len(latencies) / wall,
        "cpu_us": cpu / len(latencies) * 1e6,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def _frames(port: int) -> tuple[bytes, bytes]:
    async def login() -> tuple[str, bytes]:
        client = EcrClient("127.0.0.1", port)
        answer = await client.login("12345678", secure=True)
        assert answer.status == "ok" and client.session.key and client.session.token
        return client.session.token, client.session.key

    token, key = trio.run(login)
    message = Message("getparameters", {"token": token})
    clear = encode_message(message)
    sealed = encode_message(seal_message(message, key))
    return struct.pack(">I", len(clear)) + clear, struct.pack(">I", len(sealed)) + sealed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cardcore-bench-"))
    try:
        starts: list[float] = []
        for _ in range(max(args.starts, 2)):
            proc, _, elapsed = start_cardcore(tmp)
            starts.append(elapsed)
            proc.terminate()
            proc.wait()
        first, starts = starts[0], starts[1:]
        print(f"start to listening, first boot (creates the password hash): {first * 1000:.0f} ms")
        print(
            f"start to listening, later starts (median of {len(starts)}): "
            f"{statistics.median(starts) * 1000:.0f} ms"
        )

        proc, port, _ = start_cardcore(tmp)
        time.sleep(1.0)
        print(f"idle RSS: {_rss_kib(proc.pid) / 1024:.1f} MiB")
        clear, sealed = _frames(port)
        echo, echo_port = start_echo()
        try:
            print(
                f"{'workload':<34}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
                f"{'server CPU us/req':>19}"
            )
            rows: dict[tuple[str, int], dict[str, float]] = {}
            for name, target, pid, frame in (
                ("echo baseline (clear frame)", echo_port, echo.pid, clear),
                ("getparameters", port, proc.pid, clear),
                ("echo baseline (encrypted frame)", echo_port, echo.pid, sealed),
                ("getparameters, encrypted", port, proc.pid, sealed),
            ):
                for clients in (1, 8):
                    r = load(target, frame, clients, args.seconds, pid)
                    rows[(name, clients)] = r
                    print(
                        f"{name:<34}{clients:>8}{r['rps']:>10.0f}{r['p50_ms']:>9.2f}"
                        f"{r['p99_ms']:>9.2f}{r['cpu_us']:>19.0f}"
                    )
            for clients in (1, 8):
                base = rows[("echo baseline (clear frame)", clients)]
                plain = rows[("getparameters", clients)]
                enc = rows[("getparameters, encrypted", clients)]
                print(
                    f"ratio to echo baseline, {clients} client(s): throughput clear "
                    f"{plain['rps'] / base['rps']:.2f}, encrypted {enc['rps'] / base['rps']:.2f}; "
                    f"capacity by server CPU clear {base['cpu_us'] / plain['cpu_us']:.2f}, "
                    f"encrypted {base['cpu_us'] / enc['cpu_us']:.2f}"
                )
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
