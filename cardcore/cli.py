# Strategy: the command-line contract of DESIGN.md. `cardcore serve` runs the
# terminal; `cardcore client` is a cash register on the command line. Unknown
# options are errors; the manual's single-dash `-acons`/`-econs` are accepted
# beside `--acons`/`--econs`. Exit code 0 on success, otherwise one clear line
# on stderr. Heavy imports happen inside the subcommand that needs them, so
# `serve` starts fast.
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cardcore.protocol.xmlcodec import Message

__all__ = ["main"]

DEFAULT_DATA_DIR = Path(".cardcore")
HOST_MODES = ("approve", "decline", "timeout", "down")
HOST_SWITCHES = ("mismatch", "lose", "refuse-upload", "agree", "wrong-kcv", "good-kcv", "rekey")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2
        self.exit(2, f"cardcore: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cardcore",
        allow_abbrev=False,
        description="Bank application of a card payment terminal.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", allow_abbrev=False, help="run the terminal")
    serve.add_argument("--config", type=Path, help="configuration file (TOML or JSON)")
    serve.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    serve.add_argument("--listen", help="address of the ECR listener")
    serve.add_argument("--port", type=int, help="ECR port (default 4433)")
    serve.add_argument("--activator-port", type=int, help="activator port (default 4434)")
    serve.add_argument(
        "--simulator",
        action="store_true",
        help="simulated devices and hosts; no hardware, no network",
    )
    serve.add_argument(
        "--new-journal",
        action="store_true",
        help="the journal this terminal had is lost for good: start a new, empty one",
    )
    serve.add_argument("--acons", "-acons", action="store_true", help="log to the console")
    serve.add_argument(
        "--econs", "-econs", action="store_true", help="EMV kernel trace on the console"
    )

    client = sub.add_parser("client", allow_abbrev=False, help="talk to a running terminal")
    common = _Parser(add_help=False, allow_abbrev=False)
    common.add_argument("--host", default="127.0.0.1")
    common.add_argument("--port", type=int, default=4433)
    common.add_argument(
        "--secure",
        action="store_true",
        help="encrypt the command (login: set up the secure channel)",
    )
    common.add_argument(
        "--session",
        type=Path,
        default=DEFAULT_DATA_DIR / "client-session.json",
        help="where login keeps the token and channel key for later commands",
    )
    common.add_argument("--timeout", type=float, default=120.0)
    csub = client.add_subparsers(dest="client_command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return csub.add_parser(name, parents=[common], allow_abbrev=False, help=help_text)

    login = command("login", "log in as administrator (with --secure: open the secure channel)")
    login.add_argument("--password", default="12345678")
    command("logout", "log out")
    command("getparameters", "terminal and application parameters")
    change = command("changepassword", "change the administrator password")
    change.add_argument("--password", required=True)
    change.add_argument("--newpassword", required=True)
    command("resetpassword", "reset the password (confirmed on the terminal)")
    host_key = command("sethostkey", "set a SAM AV2 host key (use with --secure)")
    host_key.add_argument("--name", required=True, help="the key's name in the configuration")
    material = host_key.add_mutually_exclusive_group(required=True)
    material.add_argument("--material", help="the key in base64 (visible to ps; prefer a file)")
    material.add_argument("--material-file", type=Path, help="a file holding the base64 key")
    send = command("send", "send the command in an XML file")
    send.add_argument("file", type=Path)
    txn = command("transaction", "a card transaction (manual «Транзакция»)")
    txn.add_argument(
        "--type",
        required=True,
        choices=["purchase", "payment", "refund", "void", "purchase-with-cashback"],
    )
    txn.add_argument("--amount", help="12 digits of minor units, e.g. 000000012300")
    txn.add_argument("--amount-other", help="cashback, 12 digits")
    txn.add_argument("--currency")
    txn.add_argument("--rrn", help="refund: the purchase's RRN")
    txn.add_argument("--number", help="void: receipt number (seq) or 'last'")
    txn.add_argument("--pan", help="manual entry: card number (needs --password)")
    txn.add_argument("--expired", help="manual entry: YYMM")
    txn.add_argument("--password", help="administrator password (manual entry)")
    txn.add_argument("--cardholder")
    txn.add_argument("--forced", action="store_true", help="refund/void without the card")
    txn.add_argument("--force-sbp", choices=["true", "false"])
    report = command("report", "X-report of the open batch (manual «Отчет»)")
    report.add_argument("--password", default="12345678")
    report.add_argument("--report-type", choices=["brief", "full"], default="brief")
    report.add_argument(
        "--output", type=Path, help="write the answer's XML to this file instead of showing it"
    )
    settle = command("settlement", "settle the batch with the host (manual «Сверка итогов»)")
    settle.add_argument("--password", default="12345678")
    settle.add_argument("--force", action="store_true", help="forced settlement (<force>on)")
    clear = command("clear", "archive the batch and run the cutover (manual «Очистка журнала»)")
    clear.add_argument("--password", default="12345678")
    command("testconnection", "echo test to the acquirer host, main then mirror")
    command("loadworkkeys", "load the working keys from the acquirer host")
    command("runreset", "activation: wait for the activator (factory reset of the settings)")
    command("updateconfiguration", "fetch the configuration from the management server")
    command("loadmasterkeys", "fetch the master keys from the key-loading server")

    sim = sub.add_parser("sim", allow_abbrev=False, help="drive a running simulator")
    ssub = sim.add_subparsers(dest="sim_command", required=True, parser_class=_Parser)

    def sim_command(name: str, help_text: str, data_dir: bool = True) -> argparse.ArgumentParser:
        parser = ssub.add_parser(name, allow_abbrev=False, help=help_text)
        if data_dir:
            parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
        return parser

    present = sim_command("present", "present a virtual card")
    present.add_argument("profile")
    present.add_argument(
        "--interface",
        choices=["contact", "contactless", "mifare"],
        help="default: the profile's own interface",
    )
    present.add_argument(
        "--also", action="store_true", help="add it to the contactless field (two cards collide)"
    )
    sim_command("remove", "take the card away")
    host = sim_command("host", "acquirer host simulator behaviour")
    host.add_argument(
        "mode",
        choices=[*HOST_MODES, *HOST_SWITCHES],
        help="approve|decline|timeout|down: how it answers; end-of-day switches: mismatch"
        " (its batch holds an extra transaction), lose (it lost its newest one), refuse-upload,"
        " agree (none of these), wrong-kcv, good-kcv; rekey: it drops the terminal's working"
        " keys (MACs fail with 63 until a key exchange)",
    )
    sbp = sim_command("sbp", "SBP agent simulator behaviour")
    sbp.add_argument("mode", choices=["pay", "reject", "none"])
    pinpad = sim_command("pinpad", "what the simulated cardholder does at the PIN pad")
    pinpad.add_argument("mode", choices=["enter", "wrong", "bypass", "fail"])
    tms = sim_command("tms", "configuration server simulator: what it serves, remote commands")
    tms.add_argument("action", choices=["set", "command", "status"])
    tms.add_argument(
        "args",
        nargs="*",
        help="set: KEY=VALUE... (VALUE as JSON, else text); command: "
        "info|getlog|update|loadkeys|updatesoftware",
    )
    sim_command("status", "the simulator's current settings")
    sim_command("ledger", "what the acquirer host simulator booked (no card numbers)")
    sim_command("profiles", "list virtual card profiles", data_dir=False)
    vpcd = sim_command(
        "vpcd", "plug a virtual card into vsmartcard's vpcd reader (pcscd)", data_dir=False
    )
    vpcd.add_argument("profile")
    vpcd.add_argument("--host", default="127.0.0.1", help="where vpcd listens")
    vpcd.add_argument("--port", type=int, default=35963, help="vpcd's port (reader.conf CHANNELID)")
    vpcd.add_argument(
        "--interface",
        choices=["contact", "contactless"],
        help="default: the profile's own; contactless: the card as a PC/SC part 3 "
        "contactless reader shows it",
    )
    protocol = vpcd.add_mutually_exclusive_group()
    protocol.add_argument(
        "--t0",
        action="store_const",
        const=(0,),
        dest="protocols",
        help="offer T=0 alone (the default)",
    )
    protocol.add_argument(
        "--t1", action="store_const", const=(1,), dest="protocols", help="offer T=1 alone"
    )
    protocol.add_argument(
        "--t0-t1",
        action="store_const",
        const=(0, 1),
        dest="protocols",
        help="offer T=0 and T=1 (T=0 first)",
    )
    vpcd.add_argument(
        "--strict-t0",
        action="store_true",
        help="a reader that does not map APDUs to T=0 TPDUs (a case-4 Le reaches the card: 6700)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "client":
            return _client(args)
        if args.command == "sim":
            return _sim(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    return 2


# --- serve -------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    import trio

    from cardcore.app import ServeOptions, describe_failure, serve
    from cardcore.config import ConfigRangeError, build_config, load_config_data
    from cardcore.errors import StartupError
    from cardcore.logs import setup_logging
    from kernel.errors import CardcoreError

    overrides: dict[str, Any] = {}
    # The options that set a configuration key, for errors in their own words.
    options_for = {"server.port": "--port", "server.activator-port": "--activator-port"}
    if args.listen is not None:
        overrides["server.listen"] = args.listen
    elif args.simulator:
        overrides["server.listen"] = "127.0.0.1"  # DESIGN.md: loopback in simulator mode
    if args.port is not None:
        overrides["server.port"] = args.port
    if args.activator_port is not None:
        overrides["server.activator-port"] = args.activator_port
    try:
        config_data = load_config_data(args.config, overrides)
        config = build_config(config_data)
    except ConfigRangeError as exc:
        if exc.key in overrides and exc.key in options_for:
            print(
                f"cardcore: option {options_for[exc.key]} is {exc.shown}; allowed: {exc.allowed}",
                file=sys.stderr,
            )
        else:
            print(f"cardcore: {exc.message}", file=sys.stderr)
        return 2
    except CardcoreError as exc:
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return 2
    setup_logging(console=args.acons, kernel_console=args.econs)
    options = ServeOptions(
        config=config,
        data_dir=args.data_dir,
        simulator=args.simulator,
        config_data=config_data,
        new_journal=args.new_journal,
    )
    try:
        trio.run(serve, options)
    except StartupError as exc:
        print(f"cardcore: cannot start: {exc.message}", file=sys.stderr)
        return 2
    except Exception as exc:  # a running terminal's last words: one line, details logged
        print(f"cardcore: stopped: {describe_failure(exc, 'stopped')}", file=sys.stderr)
        return 1
    return 0


# --- client ------------------------------------------------------------------
def _show(message: Message, direction: str) -> None:
    from cardcore.protocol.xmlcodec import decode_error_stack, encode_message

    print(f"{direction} <{message.name}>")
    text = encode_message(message).decode("utf-8")
    for line in text.splitlines():
        print(f"    {line}")
    for error in decode_error_stack(message.body.get("error-stack")):
        print(f"    error: {error}")


def _load_session(path: Path) -> Any:
    from cardcore.client import Session

    try:
        data = json.loads(path.read_text())
        key = data.get("key")
        return Session(token=data.get("token"), key=bytes.fromhex(key) if key else None)
    except (OSError, ValueError, AttributeError):
        return Session()


def _save_session(path: Path, session: Any) -> None:
    from cardcore.storage import atomic_write, ensure_private_dir

    ensure_private_dir(path.parent)
    data = {"token": session.token, "key": session.key.hex() if session.key else None}
    atomic_write(path, json.dumps(data).encode(), mode=0o600)


def _client(args: argparse.Namespace) -> int:
    import trio

    from cardcore.client import ClientError, EcrClient, default_message_answer
    from cardcore.protocol.xmlcodec import Body, Message, decode_message
    from kernel.errors import CardcoreError

    def on_message(message: Message) -> Body:
        _show(message, "<-")
        reply = default_message_answer(message)
        _show(Message(message.name, reply), "->")
        return reply

    session = _load_session(args.session)
    client = EcrClient(
        args.host, args.port, on_message=on_message, timeout=args.timeout, session=session
    )
    name = args.client_command

    async def run() -> Message:
        if name == "login":
            return await client.login(args.password, secure=args.secure)
        if name == "logout":
            return await client.logout(secure=args.secure)
        if name == "getparameters":
            return await client.getparameters(secure=args.secure)
        if name == "changepassword":
            return await client.changepassword(args.password, args.newpassword, secure=args.secure)
        if name == "resetpassword":
            return await client.resetpassword()
        if name == "report":
            params = {"password": args.password, "report-type": args.report_type}
            return await client.command("report", params, secure=args.secure)
        if name == "settlement":
            params = {"password": args.password}
            if args.force:
                params["force"] = "on"
            return await client.command("settlement", params, secure=args.secure)
        if name == "clear":
            return await client.command("clear", {"password": args.password}, secure=args.secure)
        if name == "runreset":
            # Accepted without a token before the first activation.
            token = client.session.token
            body = {"token": token} if token is not None else {}
            return await client.command(name, body, secure=args.secure)
        if name in ("testconnection", "loadworkkeys", "updateconfiguration", "loadmasterkeys"):
            token = client.session.token
            if token is None:
                raise ClientError("not logged in: run `cardcore client login` first")
            return await client.command(name, {"token": token}, secure=args.secure)
        if name == "transaction":
            params = {
                key.replace("_", "-"): value
                for key in ("type", "amount", "amount_other", "currency", "rrn", "number",
                            "pan", "expired", "password", "cardholder")
                if (value := getattr(args, key)) is not None
            }  # fmt: skip
            if args.forced:
                params["forced"] = "true"
            attrs = {"force-sbp": args.force_sbp} if args.force_sbp else None
            return await client.command("transaction", params, attrs, secure=args.secure)
        if name == "sethostkey":
            material = args.material or args.material_file.read_text().strip()
            params = {"token": client.session.token or "", "name": args.name, "material": material}
            return await client.command("sethostkey", params, secure=args.secure)
        command = decode_message(args.file.read_bytes())
        _show(command, "->")
        return await client.command(
            command.name, command.body, dict(command.attrs), secure=args.secure
        )

    try:
        answer = trio.run(run)
    except CardcoreError as exc:
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cardcore: {exc.strerror or exc}", file=sys.stderr)
        return 1
    output = getattr(args, "output", None)
    if output is not None:
        from cardcore.protocol.xmlcodec import encode_message

        output.write_bytes(encode_message(answer))
        print(f"<- <{answer.name}> status {answer.status}: written to {output}")
    else:
        _show(answer, "<-")
    if name == "login" and answer.status == "ok":
        _save_session(args.session, client.session)
    elif name == "logout" and answer.status == "ok":
        args.session.unlink(missing_ok=True)
    return 0 if answer.status == "ok" else 1


# --- sim ---------------------------------------------------------------------
def _sim(args: argparse.Namespace) -> int:
    from cardcore.simcontrol import send_control
    from kernel.errors import CardcoreError

    if args.sim_command == "vpcd":
        return _sim_vpcd(args)
    if args.sim_command == "profiles":
        from hal.sim.profile import list_profiles, load_profile

        for name in list_profiles():
            print(f"{name:<20} {load_profile(name).description}")
        return 0
    request: dict[str, Any] = {"command": args.sim_command}
    if args.sim_command == "present":
        request.update(profile=args.profile, interface=args.interface, also=args.also)
    elif args.sim_command in ("host", "sbp", "pinpad"):
        request["mode"] = args.mode
    elif args.sim_command == "tms":
        request.update(action=args.action, args=args.args)
    try:
        answer = send_control(args.data_dir, request)
    except CardcoreError as exc:
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return 1
    answer.pop("ok", None)
    if answer:
        print(json.dumps(answer, ensure_ascii=False))
    return 0


def _sim_vpcd(args: argparse.Namespace) -> int:
    """Keep a virtual card in the vpcd reader until SIGINT/SIGTERM."""
    import signal

    import trio

    from cardcore.logs import setup_logging
    from hal.interfaces import CardInterface
    from hal.sim.vpcd import icc_for_profile, run_vpcd_card
    from kernel.errors import CardcoreError

    try:
        interface = CardInterface(args.interface) if args.interface else None
        icc = icc_for_profile(
            args.profile, interface, protocols=args.protocols, strict=args.strict_t0 or None
        )
    except CardcoreError as exc:
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"cardcore: port {args.port} is out of range", file=sys.stderr)
        return 2
    setup_logging(console=True, kernel_console=False)
    print(
        f"virtual card '{args.profile}' (ATR {icc.atr.hex().upper()}) "
        f"for vpcd at {args.host}:{args.port}; stop with Ctrl-C",
        flush=True,
    )

    async def run() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_vpcd_card, icc, args.host, args.port)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
