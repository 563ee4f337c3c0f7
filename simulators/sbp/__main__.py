# Strategy: the SBP agent simulator as a program, for cash-register developers
# and manual tests: `python -m simulators.sbp --port N`. It prints one line
# with its URL once it listens (port 0 picks a free port) and serves the agent
# API plus the /sim/ control API (GET /sim/state, POST /sim/mode
# {"mode": "pay|reject|none"}, POST /sim/fault {"status": 500|null},
# GET /sim/ledger) until interrupted.
from __future__ import annotations

import argparse
import logging
import sys
from functools import partial

import trio

from acquirers.http import ServerConfig, server_ssl_context
from simulators.sbp.agent import SIM_BANK_ID, SbpAgentSimulator, SbpSimControl
from simulators.sbp.ledger import SimMode


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.sbp", description="SBP agent simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--mode", choices=[m.value for m in SimMode], default="pay")
    parser.add_argument("--pay-delay", type=float, default=3.0, help="seconds until paid")
    parser.add_argument("--confirm-delay", type=float, default=0.0)
    parser.add_argument("--refund-delay", type=float, default=0.0)
    parser.add_argument("--bank-id", default=SIM_BANK_ID, help="12-digit member id in payloads")
    parser.add_argument("--merchant-id", default=None, help="accept only this sbpMerchantId")
    parser.add_argument("--secret-key", default=None, help="demand this bearer token")
    parser.add_argument("--tls-cert", default=None, help="PEM certificate chain: serve HTTPS")
    parser.add_argument("--tls-key", default=None)
    parser.add_argument("--client-ca", default=None, help="PEM CA: demand client certificates")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


async def _run(simulator: SbpAgentSimulator, host: str, port: int, scheme: str) -> None:
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(partial(simulator.serve, host=host, port=port))
        print(f"SBP agent simulator listening on {scheme}://{host}:{bound}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.client_ca and not args.tls_cert:
        print("error: --client-ca needs --tls-cert", file=sys.stderr)
        return 2
    config = ServerConfig()
    if args.tls_cert:
        context = server_ssl_context(args.tls_cert, args.tls_key, client_ca_file=args.client_ca)
        config = ServerConfig(ssl_context=context)
    control = SbpSimControl(
        mode=SimMode(args.mode),
        pay_delay=args.pay_delay,
        confirm_delay=args.confirm_delay,
        refund_delay=args.refund_delay,
    )
    simulator = SbpAgentSimulator(
        control,
        bank_id=args.bank_id,
        merchant_id=args.merchant_id,
        secret_key=args.secret_key,
        control_api=True,
        server_config=config,
    )
    scheme = "https" if args.tls_cert else "http"
    try:
        trio.run(_run, simulator, args.host, args.port, scheme)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
