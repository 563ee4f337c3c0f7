# Strategy: the command-line contract (docs/conventions.md, "The command
# line"). `cardcore serve` runs the terminal; `cardcore client` is a cash
# register on the command line (cardcore.clientcli); `cardcore sim` drives a
# running simulator; `cardcore config` shows and checks the configuration
# (cardcore.configdoc). Unknown options are errors; the manual's single-dash
# `-acons`/`-econs` are accepted beside `--acons`/`--econs`. Every failure is
# one line `cardcore: ...` on stderr and an exit code of `Exit`. Heavy imports
# happen inside the subcommand that needs them, so `serve` starts fast.
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cardcore.contract import DEFAULT_DATA_DIR, Exit

__all__ = ["DEFAULT_DATA_DIR", "Exit", "HelpFormatter", "main"]

HOST_MODES = ("approve", "decline", "timeout", "down")
HOST_SWITCHES = ("mismatch", "lose", "refuse-upload", "agree", "wrong-kcv", "good-kcv", "rekey")

EPILOG = (
    "exit codes: 0 ok (a transaction: approved); 1 the terminal (readers: pcscd) could not be"
    " reached;"
    " 2 usage or configuration error; 3 the terminal answered a status other than ok"
    " or declined the transaction"
)


class HelpFormatter(argparse.HelpFormatter):
    """Each option's help ends with its default, when it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and default not in (None, False, argparse.SUPPRESS)
            and "%(default)" not in text
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


class _Version(argparse.Action):
    """`--version`, read from the package metadata only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from cardcore import version

        print(f"cardcore {version()}")
        parser.exit()


def _port(text: str) -> int:
    """A TCP port to connect to."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range (1 to 65535)")
    return value


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # one line, exit 2
        self.exit(Exit.USAGE, f"cardcore: {message}\n")


def _output_options(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--json", action="store_true", help="one JSON document per answer, for scripts"
    )
    mode.add_argument("--xml", action="store_true", help="the raw packets as they were exchanged")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cardcore",
        description="Bank application of a card payment terminal.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND"
    )

    def subcommand(
        group: Any, name: str, help_text: str, description: str | None = None, **kwargs: Any
    ) -> argparse.ArgumentParser:
        created: argparse.ArgumentParser = group.add_parser(
            name, help=help_text, description=description or help_text, epilog=EPILOG, **kwargs
        )
        return created

    serve = subcommand(
        sub,
        "serve",
        "run the terminal",
        "Run the terminal: the ECR listener for the cash register and everything behind it."
        ' Ready when DATA-DIR/run/ecr.addr ("HOST PORT") appears.',
    )
    serve.add_argument(
        "--config", type=Path, help="configuration file (TOML or JSON) over the embedded defaults"
    )
    serve.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the terminal's state"
    )
    serve.add_argument(
        "--listen",
        help="address of the ECR listener (default: 0.0.0.0; with --simulator: 127.0.0.1)",
    )
    serve.add_argument("--port", type=int, help="ECR port; 0: a free one (default: 4433)")
    serve.add_argument(
        "--activator-port", type=int, help="activator port; 0: a free one (default: 4434)"
    )
    serve.add_argument(
        "--simulator",
        action="store_true",
        help="simulated devices and hosts; no hardware, no network",
    )
    serve.add_argument(
        "--ui-port",
        type=int,
        help="with --simulator: serve the virtual terminal page on this port (0: a free one;"
        ' its address goes to DATA-DIR/run/ui.addr, "HOST PORT"); default: no page',
    )
    serve.add_argument(
        "--ui-listen",
        help="address of the virtual terminal page; peers there may act on it, not only"
        " this machine (default: the --listen address, read-write from loopback only)",
    )
    serve.add_argument(
        "--new-journal",
        action="store_true",
        help="the journal this terminal had is lost for good: start a new, empty one",
    )
    serve.add_argument("--acons", "-acons", action="store_true", help="log to the console")
    serve.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="the lowest level logged (default: [log] level of the configuration, info)",
    )
    serve.add_argument(
        "--econs", "-econs", action="store_true", help="EMV kernel trace on the console"
    )

    client = subcommand(
        sub,
        "client",
        "talk to a running terminal",
        "A cash register on the command line: send one command to a running terminal, answer"
        " its messages, show the answer. The terminal is found at --host/--port, or from the"
        " address `cardcore serve` writes to DATA-DIR/run/ecr.addr.",
    )
    common = _Parser(add_help=False)
    where = common.add_argument_group("where the terminal is")
    where.add_argument(
        "--data-dir",
        type=Path,
        help="the terminal's data dir: its address is in run/ecr.addr"
        f" (default: {DEFAULT_DATA_DIR} when it holds one)",
    )
    where.add_argument("--host", help="the terminal's address (default: 127.0.0.1)")
    where.add_argument("--port", type=_port, help="the terminal's ECR port (default: 4433)")
    common.add_argument(
        "--secure",
        action="store_true",
        help="encrypt the command (login: set up the secure channel)",
    )
    common.add_argument(
        "--session",
        type=Path,
        help="where login keeps the token and channel key for later commands"
        " (default: DATA-DIR/client-session.json)",
    )
    common.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for each packet of the terminal",
    )
    _output_options(common)
    csub = client.add_subparsers(
        dest="client_command", required=True, parser_class=_Parser, metavar="COMMAND"
    )

    def command(
        name: str, help_text: str, description: str | None = None
    ) -> argparse.ArgumentParser:
        return subcommand(csub, name, help_text, description, parents=[common])

    password_help = "the administrator's password"  # noqa: S105 - a help text
    login = command(
        "login",
        "log in as administrator (with --secure: open the secure channel)",
        "Log in as administrator; the token (and with --secure the secure channel's key) is"
        " kept in the session file for the commands that need it.",
    )
    login.add_argument("--password", default="12345678", help=password_help)
    command("logout", "log out", "Log out: the token (and channel key) stop working.")
    command(
        "getparameters",
        "terminal and application parameters",
        "The terminal's and the application's parameters (manual «Сведения о приложении и"
        " терминале»); needs a login.",
    )
    change = command("changepassword", "change the administrator password")
    change.add_argument("--password", required=True, help="the current password")
    change.add_argument("--newpassword", required=True, help="the new password: 8 digits")
    command(
        "resetpassword",
        "reset the password (confirmed on the terminal)",
        "Reset the administrator password to the factory default; the terminal asks for a"
        " confirmation on its own keypad.",
    )
    host_key = command("sethostkey", "set a SAM AV2 host key (use with --secure)")
    host_key.add_argument("--name", required=True, help="the key's name in the configuration")
    material = host_key.add_mutually_exclusive_group(required=True)
    material.add_argument("--material", help="the key in base64 (visible to ps; prefer a file)")
    material.add_argument("--material-file", type=Path, help="a file holding the base64 key")
    send = command(
        "send",
        "send the command in an XML file",
        "Send a command written by hand (one XML document, as the manual shows them). A"
        " command that takes the administrator's token gets the login's when it names none.",
    )
    send.add_argument("file", type=Path, help="the command's XML")
    txn = command(
        "transaction",
        "a card transaction (manual «Транзакция»)",
        "A card transaction: the terminal's display messages are shown as they arrive, then"
        " the slip. Exit code 0 only when it was approved.",
    )
    txn.add_argument(
        "--type",
        required=True,
        choices=["purchase", "payment", "refund", "void", "purchase-with-cashback"],
        help="the operation; payment is the manual's other name for purchase",
    )
    txn.add_argument("--amount", help="12 digits of minor units, e.g. 000000012300 for 123.00")
    txn.add_argument("--amount-other", help="purchase-with-cashback: the cashback, 12 digits")
    txn.add_argument("--currency", help="ISO 4217 numeric code (default: the terminal's)")
    txn.add_argument("--rrn", help="refund: the purchase's RRN")
    txn.add_argument("--number", help="void: receipt number (seq) or 'last'")
    txn.add_argument("--pan", help="manual entry: card number (needs --password)")
    txn.add_argument("--expired", help="manual entry: YYMM")
    txn.add_argument(
        "--password", help="administrator password (manual entry, cardless operations)"
    )
    txn.add_argument("--cardholder", help="manual entry: the cardholder's name")
    txn.add_argument("--forced", action="store_true", help="refund/void without the card")
    txn.add_argument(
        "--force-sbp",
        choices=["true", "false"],
        help="true: SBP only; false: no SBP (default: whatever the customer does first)",
    )
    report = command(
        "report",
        "X-report of the open batch (manual «Отчет»)",
        "The X-report of the open batch: totals per card type, and with --report-type full"
        " every transaction.",
    )
    report.add_argument("--password", default="12345678", help=password_help)
    report.add_argument(
        "--report-type",
        choices=["brief", "full"],
        default="brief",
        help="full lists every transaction",
    )
    report.add_argument(
        "--output", type=Path, help="write the answer's XML to this file instead of showing it"
    )
    settle = command(
        "settlement",
        "settle the batch with the host (manual «Сверка итогов»)",
        "Settle the open batch with the acquirer host; a batch upload shows its progress on"
        " a terminal.",
    )
    settle.add_argument("--password", default="12345678", help=password_help)
    settle.add_argument("--force", action="store_true", help="forced settlement (<force>on)")
    clear = command("clear", "archive the batch and run the cutover (manual «Очистка журнала»)")
    clear.add_argument("--password", default="12345678", help=password_help)
    command("testconnection", "echo test to the acquirer host, main then mirror (needs a login)")
    command("loadworkkeys", "load the working keys from the acquirer host (needs a login)")
    command("runreset", "activation: wait for the activator (factory reset of the settings)")
    command(
        "updateconfiguration",
        "fetch the configuration from the management server (needs a login)",
    )
    command("loadmasterkeys", "fetch the master keys from the key-loading server (needs a login)")

    readers = subcommand(
        sub,
        "readers",
        "PC/SC readers, their slots and the PIN pad",
        "List the PC/SC readers pcscd offers, the slot the configuration's patterns give each"
        " (contact, contactless, SAM) and the pattern that did, the ATR of a card in it, whether"
        " it takes PINs on its own keypad, and the PIN pad's state. Exit code 0 when the"
        " listing was made, 1 when pcscd cannot be reached, 2 for a bad configuration.",
    )
    readers.add_argument(
        "--config", type=Path, help="configuration file (TOML or JSON) over the embedded defaults"
    )
    readers.add_argument(
        "--check",
        action="store_true",
        help="SELECT PSE (contact) or PPSE (contactless) on each card and summarise the answer",
    )
    readers.add_argument("--json", action="store_true", help="one JSON document, for scripts")

    config = subcommand(sub, "config", "show or check the configuration")
    config_sub = config.add_subparsers(
        dest="config_command", required=True, parser_class=_Parser, metavar="COMMAND"
    )
    show = subcommand(
        config_sub,
        "show",
        "print the effective configuration as TOML",
        "Print the effective configuration (the embedded defaults, then --config, then what"
        " the management server provisioned into --data-dir) as TOML: every key, its value,"
        " where the value came from and what it means, with its allowed range.",
    )
    show.add_argument("--config", type=Path, help="configuration file (TOML or JSON)")
    show.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the terminal's data directory"
    )
    check = subcommand(
        config_sub,
        "check",
        "validate a configuration file without starting",
        "Validate a configuration file as `cardcore serve --config FILE` would, without"
        " starting: exit code 0 and 'valid', or 2 and the one-line error.",
    )
    check.add_argument("file", type=Path, help="configuration file (TOML or JSON)")

    sim = subcommand(
        sub,
        "sim",
        "drive a running simulator",
        "Drive a running `cardcore serve --simulator` through the control socket in its data"
        " dir: the card in the field, the acquirer host, the SBP agent, the PIN pad.",
    )
    ssub = sim.add_subparsers(
        dest="sim_command", required=True, parser_class=_Parser, metavar="COMMAND"
    )

    def sim_command(
        name: str, help_text: str, data_dir: bool = True, as_json: bool = True
    ) -> argparse.ArgumentParser:
        parser = subcommand(ssub, name, help_text)
        if data_dir:
            parser.add_argument(
                "--data-dir",
                type=Path,
                default=DEFAULT_DATA_DIR,
                help="data dir of the running simulator",
            )
        if as_json:
            parser.add_argument("--json", action="store_true", help="the answer as JSON")
        return parser

    present = sim_command("present", "present a virtual card")
    present.add_argument("profile", help="a virtual card profile (cardcore sim profiles)")
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
    sbp.add_argument(
        "mode", choices=["pay", "reject", "none"], help="what the customer does with the QR code"
    )
    pinpad = sim_command("pinpad", "what the simulated cardholder does at the PIN pad")
    pinpad.add_argument(
        "mode",
        choices=["enter", "wrong", "bypass", "fail"],
        help="the card's PIN, a wrong one, no PIN, or a broken pad",
    )
    tms = sim_command("tms", "configuration server simulator: what it serves, remote commands")
    tms.add_argument("action", choices=["set", "command", "status", "keys"])
    tms.add_argument(
        "args",
        nargs="*",
        help="set: KEY=VALUE... (VALUE as JSON, else text); command: "
        "info|getlog|update|loadkeys|updatesoftware (run at the terminal's next poll); keys: "
        "TYPE=HEX[/NAME]... [bad-kcv=TYPE,...] (the key server's keys; TYPE is the manual's"
        " key type code: 03, 05, 09, 0A, 0B, 0C, 10, 0D, 0E or FF)",
    )
    sim_command("status", "the simulator's current settings")
    sim_command("ledger", "what the acquirer host simulator booked (no card numbers)")
    sim_command("profiles", "list virtual card profiles (needs no simulator)", data_dir=False)
    vpcd = sim_command(
        "vpcd",
        "plug a virtual card into vsmartcard's vpcd reader (pcscd)",
        data_dir=False,
        as_json=False,
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
            from cardcore.clientcli import run_client

            return run_client(args)
        if args.command == "sim":
            return _sim(args)
        if args.command == "config":
            return _config(args)
        if args.command == "readers":
            from cardcore.readers import run_readers

            return run_readers(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return Exit.OK
    return Exit.USAGE


# --- serve -------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    import logging

    import trio

    from base.errors import CardcoreError
    from cardcore.app import ServeOptions, describe_failure, serve
    from cardcore.config import ConfigRangeError, build_config, load_config_data
    from cardcore.datalock import lock_data_dir
    from cardcore.errors import StartupError
    from cardcore.logs import setup_logging

    if (args.ui_port is not None or args.ui_listen is not None) and not args.simulator:
        print("cardcore: the virtual terminal page (--ui-port) needs --simulator", file=sys.stderr)
        return Exit.USAGE
    if args.ui_listen is not None and args.ui_port is None:
        print("cardcore: --ui-listen needs --ui-port", file=sys.stderr)
        return Exit.USAGE
    if args.ui_port is not None and not 0 <= args.ui_port <= 65535:
        print(f"cardcore: option --ui-port is {args.ui_port}; allowed: 0 to 65535", file=sys.stderr)
        return Exit.USAGE
    overrides: dict[str, Any] = {}
    # The options that set a configuration key, for errors in their own words.
    options_for = {"server.port": "--port", "server.activator-port": "--activator-port"}
    if args.listen is not None:
        overrides["server.listen"] = args.listen
    elif args.simulator:
        overrides["server.listen"] = "127.0.0.1"  # simulator mode serves this machine only
    if args.port is not None:
        overrides["server.port"] = args.port
    if args.activator_port is not None:
        overrides["server.activator-port"] = args.activator_port
    if args.log_level is not None:
        overrides["log.level"] = args.log_level
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
        return Exit.USAGE
    except CardcoreError as exc:
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return Exit.USAGE
    try:
        # Before the first log line: a refused second terminal says one line.
        held = lock_data_dir(args.data_dir)
    except StartupError as exc:
        print(f"cardcore: cannot start: {exc.message}", file=sys.stderr)
        return Exit.USAGE
    setup_logging(
        console=args.acons,
        kernel_console=args.econs,
        level=logging.getLevelNamesMapping()[config.log.level.upper()],
        identifier=config.log.syslog_identifier,
        facility=config.log.syslog_facility,
    )
    options = ServeOptions(
        config=config,
        data_dir=args.data_dir,
        simulator=args.simulator,
        config_data=config_data,
        new_journal=args.new_journal,
        ui_port=args.ui_port,
        ui_listen=args.ui_listen,
    )
    try:
        trio.run(serve, options, None, held)
    except StartupError as exc:
        print(f"cardcore: cannot start: {exc.message}", file=sys.stderr)
        return Exit.USAGE
    except Exception as exc:  # a running terminal's last words: one line, details logged
        print(f"cardcore: stopped: {describe_failure(exc, 'stopped')}", file=sys.stderr)
        return Exit.UNREACHABLE
    return Exit.OK


# --- config ------------------------------------------------------------------
def _config(args: argparse.Namespace) -> int:
    from base.errors import CardcoreError
    from cardcore.configdoc import check_config, show_config

    try:
        if args.config_command == "check":
            check_config(args.file)
            print(f"{args.file}: valid")
        else:
            sys.stdout.write(show_config(args.config, args.data_dir))
    except CardcoreError as exc:
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return Exit.USAGE
    return Exit.OK


# --- sim ---------------------------------------------------------------------
def _sim(args: argparse.Namespace) -> int:
    from base.errors import CardcoreError
    from simulators.control import ControlRefused, send_control

    if args.sim_command == "vpcd":
        return _sim_vpcd(args)
    if args.sim_command == "profiles":
        return _sim_profiles(args.json)
    request: dict[str, Any] = {"command": args.sim_command}
    if args.sim_command == "present":
        request.update(profile=args.profile, interface=args.interface, also=args.also)
    elif args.sim_command in ("host", "sbp", "pinpad"):
        request["mode"] = args.mode
    elif args.sim_command == "tms":
        request.update(action=args.action, args=args.args)
    try:
        answer = send_control(args.data_dir, request)
    except ControlRefused as exc:  # the simulator understood and said no
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return Exit.USAGE
    except CardcoreError as exc:
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return Exit.UNREACHABLE
    answer.pop("ok", None)
    if args.json:
        print(json.dumps(answer, ensure_ascii=False))
    else:
        from cardcore.render import sim_lines

        for line in sim_lines(args.sim_command, answer):
            print(line)
    return Exit.OK


def _sim_profiles(as_json: bool) -> int:
    """The bundled virtual cards: a line each, or one JSON document."""
    from simulators.devices.profile import list_profiles, load_profile

    profiles = [load_profile(name) for name in list_profiles()]
    if as_json:
        listed = [
            {
                "name": p.name,
                "description": p.description,
                "interfaces": list(p.interfaces),
                "kind": p.kind,
            }
            for p in profiles
        ]
        print(json.dumps({"profiles": listed}, ensure_ascii=False))
        return Exit.OK
    for profile in profiles:
        print(f"{profile.name:<20} {profile.description}")
    return Exit.OK


def _sim_vpcd(args: argparse.Namespace) -> int:
    """Keep a virtual card in the vpcd reader until SIGINT/SIGTERM."""
    import signal

    import trio

    from base.errors import CardcoreError
    from cardcore.logs import setup_logging
    from hal.interfaces import CardInterface
    from simulators.devices.vpcd import icc_for_profile, run_vpcd_card

    try:
        interface = CardInterface(args.interface) if args.interface else None
        icc = icc_for_profile(
            args.profile, interface, protocols=args.protocols, strict=args.strict_t0 or None
        )
    except CardcoreError as exc:
        print(f"cardcore: {exc.message}", file=sys.stderr)
        return Exit.USAGE
    if not 0 < args.port < 65536:
        print(f"cardcore: port {args.port} is out of range", file=sys.stderr)
        return Exit.USAGE
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
