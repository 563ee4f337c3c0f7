"""A scripted cash-register session against `cardcore serve --simulator`.

Run with `make demo`. It starts the terminal in simulator mode in a temporary
data dir, then plays the cash register: every packet is printed as it travels,
messages from the terminal and the client's answers included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from cardcore.client import EcrClient, default_message_answer
from cardcore.protocol.xmlcodec import Body, Message, decode_error_stack, encode_message

RULE = "-" * 72


def show(message: Message, arrow: str) -> None:
    print(f"  {arrow} " + encode_message(message).decode().replace("\n", "\n    "))
    for error in decode_error_stack(message.body.get("error-stack")):
        print(f"      (error-stack: {error})")


def on_message(message: Message) -> Body:
    show(message, "<<")
    reply = default_message_answer(message)
    show(Message(message.name, reply), ">>")
    return reply


async def step(title: str, run: object) -> Message:
    print(f"\n{RULE}\n{title}\n{RULE}")
    answer: Message = await run  # type: ignore[misc]
    show(answer, "<-")
    return answer


async def session(port: int) -> None:
    client = EcrClient("127.0.0.1", port, on_message=on_message)
    await step("Log in as administrator (password 12345678)", client.login("12345678"))
    await step("Terminal and application parameters", client.getparameters())
    await step("A wrong password is refused", EcrClient("127.0.0.1", port).login("00000000"))
    await step("An unknown command", client.command("frobnicate"))
    secure = EcrClient("127.0.0.1", port, on_message=on_message)
    print(f"\n{RULE}\nSecure channel: login with an ECDHE client-handshake (secp256r1)\n{RULE}")
    answer = await secure.login("12345678", secure=True)
    show(answer, "<- (decrypted)")
    await step(
        "getparameters over the secure channel (decrypted answer)",
        secure.getparameters(secure=True),
    )
    await step("Log out", secure.logout(secure=True))
    await step("Log out the first session", client.logout())


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="cardcore-demo-"))
    addr = data / "run" / "ecr.addr"
    server = subprocess.Popen(
        [sys.executable, "-m", "cardcore", "serve", "--simulator", "--port", "0",
         "--data-dir", str(data), "--acons"],
        stdout=subprocess.DEVNULL, stderr=(data / "server.log").open("wb"),
    )  # fmt: skip
    try:
        while not addr.exists():
            if server.poll() is not None:
                sys.exit((data / "server.log").read_text())
            time.sleep(0.02)
        port = int(addr.read_text().split()[1])
        print(f"cardcore serve --simulator is listening on 127.0.0.1:{port}")
        print("(this demo plays the cash register; '->' goes to the terminal, '<-' comes back,")
        print(" '<<' is a message from the terminal and '>>' the cash register's answer to it)")
        trio.run(session, port)
        print(f"\n{RULE}\nThe terminal's log of this session:\n{RULE}")
    finally:
        server.terminate()
        server.wait()
        print((data / "server.log").read_text())
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
