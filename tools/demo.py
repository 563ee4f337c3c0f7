"""A scripted cash-register session against `cardcore serve --simulator`.

Run with `make demo`. It starts the terminal in simulator mode in a temporary
data dir and plays the cash register: a purchase with the terminal's display
messages shown as they arrive and the receipt printed like a slip, a partial
refund of it, a second purchase voided with its card and the second void of
it refused, a decline, a detection that times out, then the administrator's
side (login, getparameters over the secure channel). Every simulated party
— the virtual chip card, the PIN pad, the acquirer host — speaks its real
protocol over loopback.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from cardcore.client import EcrClient, default_message_answer
from cardcore.protocol.xmlcodec import Body, Message, decode_error_stack
from cardcore.render import message_line, slip
from cardcore.storage import atomic_write, create_private

RULE = "-" * 64


def on_message(message: Message) -> Body:
    line = message_line(message)
    if line is not None:
        print(f"    [terminal] {line}")
    elif message.name == "keepalive":
        print("    [keepalive]")
    return default_message_answer(message)


async def transaction(port: int, title: str, **params: str) -> dict[str, Any]:
    print(f"\n{RULE}\n{title}\n{RULE}")
    body = {k.replace("_", "-"): v for k, v in params.items()}
    print("  -> " + " ".join(f"{k}={v}" for k, v in body.items()))
    client = EcrClient("127.0.0.1", port, on_message=on_message)
    answer = await client.command("transaction", body)
    print(f"  <- status {answer.status}")
    for error in decode_error_stack(answer.body.get("error-stack")):
        print(f"     error-stack: {error}")
    receipt: dict[str, Any] = answer.body.get("receipt") or {}
    if receipt:
        for line in slip(receipt):
            print(f"    {line}")
    return receipt


def sim(data: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cardcore", "sim", *args, "--data-dir", str(data)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    print(f"\n  $ cardcore sim {' '.join(args)}   {result.stdout.strip() or result.stderr.strip()}")


async def session(port: int, data: Path) -> None:
    purchase = await transaction(
        port, "Purchase of 150.00 RUB with the virtual Visa chip card (offline PIN 1234)",
        type="purchase", amount="000000015000", currency="643",
    )  # fmt: skip
    await transaction(
        port, "Refund of 50.00 RUB of that purchase to the card (its RRN)",
        type="refund", amount="000000005000", rrn=purchase.get("rrn", ""),
    )  # fmt: skip
    second = await transaction(
        port, "A second purchase of 80.00 RUB", type="purchase", amount="000000008000",
    )  # fmt: skip
    await transaction(
        port, f"Void of the second purchase with its card (receipt {second.get('seq')})",
        type="void", number=second.get("seq", "last"),
    )  # fmt: skip
    await transaction(
        port, "A second void of it: refused, nothing is paid out twice",
        type="void", number=second.get("seq", "last"),
    )  # fmt: skip
    sim(data, "present", "cda")
    sim(data, "host", "decline")
    await transaction(
        port, "A Mastercard-like card, the issuer declines", type="purchase",
        amount="000000002500",
    )  # fmt: skip
    sim(data, "host", "approve")
    sim(data, "remove")
    await transaction(port, "No card is presented: detection times out", type="purchase",
                      amount="000000001000")  # fmt: skip
    sim(data, "present", "default")

    print(f"\n{RULE}\nAdministrator: secure channel login and getparameters\n{RULE}")
    admin = EcrClient("127.0.0.1", port)
    answer = await admin.login("12345678", secure=True)
    print(f"  login (ECDHE secp256r1 + AES-256-GCM) -> {answer.status}")
    params = (await admin.getparameters(secure=True)).body.get("parameters", {})
    for name in ("sn", "app", "tid", "mid", "devid", "ashost"):
        print(f"    {name:<8} {params.get(name)}")
    await admin.logout(secure=True)

    print(f"\n{RULE}\nWhat the acquirer host simulator booked (cardcore sim ledger)\n{RULE}")
    result = await trio.run_process(
        [sys.executable, "-m", "cardcore", "sim", "ledger", "--data-dir", str(data)],
        capture_stdout=True, check=False,
    )  # fmt: skip
    for line in result.stdout.decode().splitlines():
        print(f"    {line}")


def main() -> None:
    # A data dir as the terminal keeps its own: the directory 0700 (mkdtemp),
    # every file in it 0600.
    data = Path(tempfile.mkdtemp(prefix="cardcore-demo-"))
    atomic_write(data / "demo.toml", b"[transaction]\ndetection-timeout = 3\n")
    addr = data / "run" / "ecr.addr"
    log = data / "server.log"
    create_private(log)
    server = subprocess.Popen(
        [sys.executable, "-m", "cardcore", "serve", "--simulator", "--port", "0",
         "--data-dir", str(data), "--config", str(data / "demo.toml"), "--acons"],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )  # fmt: skip
    try:
        while not addr.exists():
            if server.poll() is not None:
                sys.exit(log.read_text())
            time.sleep(0.02)
        port = int(addr.read_text().split()[1])
        print(f"cardcore serve --simulator is listening on 127.0.0.1:{port}")
        print("This demo plays the cash register: '->' is the command it sends, the")
        print("terminal's messages appear as they arrive, '<-' is the answer.")
        trio.run(session, port, data)
    finally:
        server.terminate()
        server.wait()
        print(f"\n{RULE}\nThe terminal's log of this session (no card numbers in it):\n{RULE}")
        print(log.read_text())
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
