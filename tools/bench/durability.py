"""Durable commits per approved purchase: fsync and fdatasync calls, counted with strace.

Run: cardcore-bench durability [--count 40]   (needs strace)

`cardcore serve --simulator` runs under `strace -f -e trace=fsync,fdatasync`;
once it is ready the count so far is taken, `--count` approved contact
purchases run one after another from a cash register over TCP, and the
calls made meanwhile are divided by the purchases. With the journal in WAL
mode and synchronous=FULL every commit is one fsync of the WAL; a checkpoint
(every thousand pages or so) adds the database file's. Printed: calls per
purchase, and which files they were on.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import trio

from cardcore.client import EcrClient
from tools.bench import TMP_PREFIX, bench_parser

PURCHASE = {"type": "purchase", "amount": "000000001500", "currency": "643"}
_CALL = re.compile(r"^(\d+)\s+(fsync|fdatasync)\((\d+)")


def _calls(trace: Path) -> list[tuple[int, str, int]]:
    """(pid, call, descriptor) of every completed fsync/fdatasync so far."""
    calls = []
    for line in trace.read_text(errors="replace").splitlines():
        match = _CALL.match(line)
        if match and "= 0" in line:
            calls.append((int(match.group(1)), match.group(2), int(match.group(3))))
    return calls


def _fd_path(pid: int, fd: int) -> str:
    try:
        return Path(f"/proc/{pid}/fd/{fd}").readlink().name
    except OSError:
        return f"fd {fd}"


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--count", type=int, default=40, help="approved purchases traced")
    args = parser.parse_args(argv)
    if shutil.which("strace") is None:
        sys.exit("this benchmark needs strace")
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp:
        data, trace = Path(tmp) / "data", Path(tmp) / "trace"
        data.mkdir()
        (data / "bench.toml").write_text("[admin]\nscrypt-n = 1024\n")
        process = subprocess.Popen(
            ["strace", "-f", "-e", "trace=fsync,fdatasync", "-o", str(trace),
             sys.executable, "-m", "cardcore", "serve", "--simulator", "--port", "0",
             "--data-dir", str(data), "--config", str(data / "bench.toml")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            addr = data / "run" / "ecr.addr"
            deadline = time.monotonic() + 60
            while not addr.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit("cardcore did not start")
                time.sleep(0.05)
            host, port = addr.read_text().split()
            time.sleep(2.0)  # the first boot's background work (test PKI) settles

            async def purchases() -> None:
                client = EcrClient(host, int(port), timeout=60)
                await client.command("transaction", PURCHASE)  # warm-up
                await trio.sleep(1.0)
                before.extend(_calls(trace))
                for _ in range(args.count):
                    answer = await client.command("transaction", PURCHASE)
                    assert answer.body["receipt"]["tstatus"] == "approved", answer.body
                after.extend(_calls(trace))

            before: list[tuple[int, str, int]] = []
            after: list[tuple[int, str, int]] = []
            trio.run(purchases)
            made = after[len(before) :]
            files = Counter(_fd_path(pid, fd) for pid, _, fd in made)
        finally:
            # strace's child is the terminal: stopping it ends the trace.
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text()
            for child in children.split():
                subprocess.run(["kill", "-TERM", child], check=False)
            process.wait(timeout=30)
    print(
        f"{len(made)} fsync/fdatasync calls over {args.count} approved purchases: "
        f"{len(made) / args.count:.2f} per purchase"
    )
    for name, count in files.most_common():
        print(f"  {name}: {count}")


if __name__ == "__main__":
    main()
