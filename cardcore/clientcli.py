# Strategy: `cardcore client`, a cash register on the command line. It finds
# the terminal (--host/--port, or the address `cardcore serve` wrote to
# DATA-DIR/run/ecr.addr), sends one command, answers the terminal's messages
# as a correct cash register does (cardcore.client), and shows the exchange
# in one of three ways: for people (display lines as they arrive, then a
# slip, a report or the error with its error-stack decoded; cardcore.render),
# `--json` (one document per answer, for scripts) or `--xml` (the packets).
# The exit code says how it ended (cardcore.contract.Exit): a declined purchase is
# not a success. Progress of long operations goes to stderr, only on a
# terminal.
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import trio

from base.errors import CardcoreError
from cardcore.client import ConnectError, EcrClient, Session, default_message_answer
from cardcore.contract import DEFAULT_DATA_DIR, Exit
from cardcore.protocol.xmlcodec import (
    Body,
    Message,
    XmlError,
    decode_error_stack,
    decode_message,
    encode_message,
)
from cardcore.render import answer_lines, message_line

__all__ = ["Progress", "answer_json", "exit_code", "run_client", "with_saved_token"]

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 4433
TOKEN_COMMANDS = ("testconnection", "loadworkkeys", "updateconfiguration", "loadmasterkeys")
# Every command of the manual that takes the administrator's token: one sent
# from a file (`send`) gets the login's saved token when it names none.
TOKEN_TAKERS = frozenset(
    ("logout", "getparameters", "changepassword", "runreset", "sethostkey", *TOKEN_COMMANDS)
)


class UsageError(Exception):
    """The command cannot be sent as given (exit 2)."""


class Unreachable(Exception):
    """No terminal to send it to (exit 1)."""


# --- where the terminal is --------------------------------------------------
def addr_file(data_dir: Path) -> Path:
    return data_dir / "run" / "ecr.addr"


def read_addr(path: Path) -> tuple[str, int]:
    """The "HOST PORT" line `cardcore serve` writes once it is up."""
    try:
        host, port = path.read_text().split()
        number = int(port)
    except FileNotFoundError:
        raise Unreachable(
            f"no terminal is running with data dir {path.parent.parent}: is `cardcore serve`"
            f" running? it writes its address to {path}"
        ) from None
    except OSError as exc:
        raise Unreachable(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise Unreachable(f"{path} does not hold 'HOST PORT'") from None
    # A listener on every address is reached on loopback from here.
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host), number  # noqa: S104


def resolve(args: argparse.Namespace) -> tuple[str, int, Path, Path | None]:
    """(host, port, data dir, the address file used or None): --host/--port
    as given; else --data-dir's run/ecr.addr; else ./.cardcore's when it has
    one; else the manual's default port on this machine."""
    explicit = args.host is not None or args.port is not None
    if args.data_dir is not None:
        if explicit:
            raise UsageError("give either --data-dir or --host/--port, not both")
        found = addr_file(args.data_dir)
        return (*read_addr(found), args.data_dir, found)
    if explicit:
        return args.host or DEFAULT_HOST, args.port or DEFAULT_PORT, DEFAULT_DATA_DIR, None
    found = addr_file(DEFAULT_DATA_DIR)
    if found.exists():
        return (*read_addr(found), DEFAULT_DATA_DIR, found)
    return DEFAULT_HOST, DEFAULT_PORT, DEFAULT_DATA_DIR, None


def connect_hint(data_dir: Path, found: Path | None) -> str:
    if found is not None:
        return f"the address is from {found}: is `cardcore serve` still running?"
    return (
        f"is `cardcore serve` running? it writes its address to {addr_file(data_dir)}"
        " (give --data-dir DIR for another data dir)"
    )


# --- the login session --------------------------------------------------------
def load_session(path: Path) -> Session:
    try:
        data = json.loads(path.read_text())
        key = data.get("key")
        return Session(token=data.get("token"), key=bytes.fromhex(key) if key else None)
    except (OSError, ValueError, AttributeError):
        return Session()


def save_session(path: Path, session: Session) -> None:
    from cardcore.storage import atomic_write, ensure_private_dir

    ensure_private_dir(path.parent)
    data = {"token": session.token, "key": session.key.hex() if session.key else None}
    atomic_write(path, json.dumps(data).encode(), mode=0o600)


# --- what an answer means ----------------------------------------------------
def exit_code(answer: Message) -> Exit:
    """0: ok (for a transaction: approved); 3: any other status, or a transaction
    the receipt says was not approved."""
    if answer.status != "ok":
        return Exit.REFUSED
    if answer.name == "transaction":
        receipt = answer.body.get("receipt")
        if not isinstance(receipt, dict) or receipt.get("tstatus") != "approved":
            return Exit.REFUSED
    return Exit.OK


def _jsonable(body: Body) -> dict[str, Any]:
    out = dict(body)
    if "error-stack" in out:
        out["error-stack"] = decode_error_stack(out["error-stack"])
    return out


def answer_json(answer: Message, messages: list[Message]) -> dict[str, Any]:
    """The answer's fields (error-stack decoded), with the messages that came
    before it as a list."""
    document: dict[str, Any] = {"answer": answer.name, **_jsonable(answer.body)}
    if answer.attrs:
        document["attributes"] = dict(answer.attrs)
    document["messages"] = [{"message": m.name, **_jsonable(m.body)} for m in messages]
    return document


# --- progress -------------------------------------------------------------------
class Progress:
    """count / total of a long operation on one self-rewriting stderr line,
    only when stderr is a terminal: from the `progress` of the terminal's
    keepalives (a settlement's batch upload), and from the length of a large
    answer as it arrives (a full report)."""

    INTERVAL = 0.1  # seconds between redraws

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = self._stream.isatty()
        self._shown = False
        self._last = 0.0

    def show(self, text: str, *, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self._last < self.INTERVAL:
            return
        self._last = now
        self._stream.write(f"\r\x1b[K{text}")
        self._stream.flush()
        self._shown = True

    def keepalive(self, body: Body) -> None:
        progress = body.get("progress")
        if not isinstance(progress, dict):
            return
        done, total = progress.get("done"), progress.get("total")
        what = str(progress.get("operation") or "working").replace("-", " ")
        self.show(f"{what}: {done}/{total}" if total else f"{what}: {done}", final=True)

    def received(self, count: int, total: int) -> None:
        mib = 1 << 20
        self.show(f"receiving the answer: {count / mib:.1f}/{total / mib:.1f} MiB")

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


# --- the three ways of showing it ----------------------------------------------
def packet_lines(message: Message, direction: str) -> list[str]:
    """A packet as it went over the wire, indented, its error-stack decoded."""
    lines = [f"{direction} <{message.name}>"]
    lines += [f"    {line}" for line in encode_message(message).decode("utf-8").splitlines()]
    lines += [f"    error: {e}" for e in decode_error_stack(message.body.get("error-stack"))]
    return lines


def show_packet(message: Message, direction: str, out: TextIO) -> None:
    for line in packet_lines(message, direction):
        print(line, file=out)


class Output:
    """For people: a line per display message, then the answer (cardcore.render)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.messages: list[Message] = []

    def sent(self, command: Message) -> None:
        pass

    def message(self, message: Message, reply: Body) -> None:
        self.messages.append(message)
        line = message_line(message)
        if line is not None:
            self.live(f"terminal: {line}")

    def live(self, line: str) -> None:
        """A line while the command runs. Output closed early (piped into
        `head`) must not end the exchange: the terminal still gets its answers."""
        try:
            print(line, file=self.out, flush=True)
        except BrokenPipeError:
            self.out = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the output

    def answer(self, answer: Message, note: str | None = None) -> None:
        lines = [note] if note else answer_lines(answer)
        for line in lines:
            print(line, file=self.out)


class JsonOutput(Output):
    def message(self, message: Message, reply: Body) -> None:
        self.messages.append(message)

    def answer(self, answer: Message, note: str | None = None) -> None:
        document = answer_json(answer, self.messages)
        if note:  # the answer went to a file: its status stays, its content not
            document = {k: document[k] for k in ("answer", "status", "messages") if k in document}
            document["output"] = note
        json.dump(document, self.out, ensure_ascii=False, indent=2)
        self.out.write("\n")


class XmlOutput(Output):
    def sent(self, command: Message) -> None:
        show_packet(command, "->", self.out)

    def message(self, message: Message, reply: Body) -> None:
        for line in packet_lines(message, "<-") + packet_lines(Message(message.name, reply), "->"):
            self.live(line)

    def answer(self, answer: Message, note: str | None = None) -> None:
        if note:
            print(f"<- <{answer.name}> status {answer.status}: written to {note}", file=self.out)
        else:
            show_packet(answer, "<-", self.out)


def _output(args: argparse.Namespace) -> Output:
    out = sys.stdout
    if args.json:
        return JsonOutput(out)
    if args.xml:
        return XmlOutput(out)
    return Output(out)


# --- the command ----------------------------------------------------------------
def _token(client: EcrClient) -> str:
    token = client.session.token
    if token is None:
        raise UsageError("not logged in: run `cardcore client login` first")
    return token


def _transaction_params(args: argparse.Namespace) -> tuple[Body, dict[str, str] | None]:
    names = ("type", "amount", "amount_other", "currency", "rrn", "number", "pan", "expired",
             "password", "cardholder")  # fmt: skip
    params: Body = {
        name.replace("_", "-"): value
        for name in names
        if (value := getattr(args, name)) is not None
    }
    if args.forced:
        params["forced"] = "true"
    return params, ({"force-sbp": args.force_sbp} if args.force_sbp else None)


def _prepare(args: argparse.Namespace, client: EcrClient) -> Message:
    """The command to send, checked before anything goes out."""
    name = args.client_command
    if name in ("login", "changepassword", "report", "settlement", "clear"):
        params: Body = {"password": args.password}
        if name == "changepassword":
            params = {"token": _token(client), **params, "newpassword": args.newpassword}
        elif name == "report":
            params["report-type"] = args.report_type
        elif name == "settlement" and args.force:
            params["force"] = "on"
        return Message(name, params)
    if name in ("logout", "getparameters", *TOKEN_COMMANDS):
        return Message(name, {"token": _token(client)})
    if name == "resetpassword":
        return Message(name)
    if name == "runreset":
        # Accepted without a token before the first activation.
        token = client.session.token
        return Message(name, {"token": token} if token is not None else {})
    if name == "transaction":
        params, attrs = _transaction_params(args)
        return Message(name, params, attrs or {})
    if name == "sethostkey":
        try:
            material = args.material or args.material_file.read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read {args.material_file}: {exc.strerror}") from None
        params = {"token": _token(client), "name": args.name, "material": material}
        return Message(name, params)
    try:
        return decode_message(args.file.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    except XmlError as exc:
        raise UsageError(f"{args.file} is not a command: {exc.message}") from None


def with_saved_token(command: Message, token: str | None) -> Message:
    """``command`` with the login's ``token`` added when it takes one and
    names none (a token of its own, as element or attribute, is kept)."""
    if token is None or command.name not in TOKEN_TAKERS:
        return command
    try:
        if "token" in command.params():
            return command
    except XmlError:  # the terminal says what is wrong with it
        return command
    return Message(command.name, {"token": token, **command.body}, command.attrs)


async def _send(client: EcrClient, command: Message, secure: bool) -> Message:
    if command.name == "login":
        return await client.login(str(command.body["password"]), secure=secure)
    answer = await client.command(command.name, command.body, dict(command.attrs), secure=secure)
    if command.name == "logout" and answer.status == "ok":
        client.session = Session()
    return answer


def run_client(args: argparse.Namespace) -> int:
    try:
        host, port, data_dir, found = resolve(args)
    except UsageError as exc:
        return _fail(str(exc), Exit.USAGE)
    except Unreachable as exc:
        return _fail(str(exc), Exit.UNREACHABLE)
    session_file: Path = args.session or data_dir / "client-session.json"
    output = _output(args)
    progress = Progress()

    def on_message(message: Message) -> Body:
        reply = default_message_answer(message)
        if message.name == "keepalive":
            progress.keepalive(message.body)
        output.message(message, reply)
        return reply

    client = EcrClient(
        host,
        port,
        on_message=on_message,
        timeout=args.timeout,
        session=load_session(session_file),
        on_progress=progress.received,
    )
    try:
        command = _prepare(args, client)
    except UsageError as exc:
        return _fail(str(exc), Exit.USAGE)
    if args.client_command == "send":
        # A command written by hand is shown as written; the others are not:
        # they carry the password, a token or a key, which no output repeats
        # (nor the saved token added here).
        output.sent(command)
        command = with_saved_token(command, client.session.token)
    try:
        answer = trio.run(_send, client, command, args.secure)
    except ConnectError as exc:
        return _fail(f"{exc.message}; {connect_hint(data_dir, found)}", Exit.UNREACHABLE)
    except CardcoreError as exc:  # no answer, or one that broke the protocol
        return _fail(exc.message, Exit.UNREACHABLE)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        return _fail(f"connection to the terminal failed: {exc}", Exit.UNREACHABLE)
    finally:
        progress.clear()
    _keep_session(command.name, answer, client, session_file)
    try:
        _show_answer(args, output, answer, session_file)
    except OSError as exc:  # --output FILE that cannot be written
        if isinstance(exc, BrokenPipeError):
            raise
        return _fail(f"cannot write {exc.filename}: {exc.strerror}", Exit.USAGE)
    return exit_code(answer)


def _keep_session(name: str, answer: Message, client: EcrClient, path: Path) -> None:
    if answer.status != "ok":
        return
    if name == "login":
        save_session(path, client.session)
    elif name == "logout":
        path.unlink(missing_ok=True)


def _show_answer(
    args: argparse.Namespace, output: Output, answer: Message, session_file: Path
) -> None:
    target: Path | None = getattr(args, "output", None)
    if target is not None:
        target.write_bytes(encode_message(answer))
        output.answer(answer, str(target))
    elif type(output) is Output and answer.status == "ok" and answer.name == "login":
        channel = "; secure channel open" if args.secure else ""
        output.answer(answer, f"logged in; the token is kept in {session_file}{channel}")
    elif type(output) is Output and answer.status == "ok" and answer.name == "logout":
        output.answer(answer, "logged out")
    else:
        output.answer(answer)


def _fail(text: str, code: Exit) -> int:
    print(f"cardcore: {text}", file=sys.stderr)
    return code
