# Strategy: run the host simulator standalone, e.g. for a terminal on the
# bench: `python -m simulators.host --port 8583 [--tls-cert ... --tls-key ...
# --tls-client-ca ...] [--accounts accounts.json] [--open-balance N]
# [--mode approve|decline|timeout|down] [--dialect generic87|iso87-binary|iso87-ascii]`.
# Terminal keys default to the TEST ONLY set in simulators/test_keys.json.
# Accounts file: a JSON list of
# {"pan": ..., "balance": minor units, "pin": optional, "currency": optional}.
from __future__ import annotations

import argparse
import json
import logging
import sys
from functools import partial
from pathlib import Path

import trio

from acquirers.iso8583.dialects import DIALECTS
from acquirers.tls import server_tls_context
from simulators.host.control import HostControl, HostMode
from simulators.host.ledger import IssuerLedger
from simulators.host.server import HostSimulator
from simulators.testkeys import load_test_keys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m simulators.host",
        description="ISO 8583 acquirer host simulator (TEST keys; never for real cards).",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8583)
    p.add_argument("--mode", choices=[m.value for m in HostMode], default="approve")
    p.add_argument("--dialect", choices=sorted(DIALECTS), default="generic87")
    p.add_argument("--decline-code", default="05")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--accounts", type=Path, help="JSON list of card accounts")
    p.add_argument("--open-balance", type=int, help="open unknown cards with this balance")
    p.add_argument("--keys", type=Path, help="terminal key file (default: TEST ONLY keys)")
    p.add_argument("--tls-cert", type=Path)
    p.add_argument("--tls-key", type=Path)
    p.add_argument("--tls-client-ca", type=Path, help="require client certificates from this CA")
    p.add_argument("--reconciliation-mismatch", action="store_true")
    p.add_argument("--wrong-kcv", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def build(args: argparse.Namespace) -> HostSimulator:
    ledger = IssuerLedger(open_balance=args.open_balance)
    if args.accounts is not None:
        for entry in json.loads(args.accounts.read_text("utf-8")):
            ledger.open_account(
                str(entry["pan"]),
                int(entry["balance"]),
                pin=entry.get("pin"),
                currency=entry.get("currency", "643"),
            )
    control = HostControl(
        args.mode,
        decline_code=args.decline_code,
        delay=args.delay,
        reconciliation_mismatch=args.reconciliation_mismatch,
        wrong_kcv=args.wrong_kcv,
    )
    return HostSimulator(
        dialect=DIALECTS[args.dialect],
        ledger=ledger,
        control=control,
        default_keys=load_test_keys(args.keys),
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if (args.tls_cert is None) != (args.tls_key is None):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        sim = build(args)
        ctx = (
            server_tls_context(args.tls_cert, args.tls_key, args.tls_client_ca)
            if args.tls_cert is not None
            else None
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        trio.run(partial(sim.serve, args.host, args.port, ssl_context=ctx))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
