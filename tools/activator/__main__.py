# Strategy: command line of the factory activator (`cardcore-activator`). Usable against a
# real terminal: the CAs are the activator's own TEST PKI (generated on first
# use in --pki), the confdata root and signature can be given as files, and
# the vendor key for signing confdata can be replaced. It prints each step's
# status and, for a step that failed, the terminal's error-stack, one
# `STEP: error: TEXT` line per entry (the terminal says why; the status alone
# does not).
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import trio

from cardcore.cli import HelpFormatter
from simulators.tms.testpki import TestPki
from tools.activator.core import TEST_VENDOR_KEY, ActivatorError, activate


def _wait_for(path: Path, timeout: float = 30.0) -> Path:
    """The simulator starts its management servers just after it is ready."""
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path


def _printable(text: str) -> str:
    """The terminal's text with no control characters for the console."""
    return "".join(c if c.isprintable() else "?" for c in text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cardcore-activator",
        description="Activate a cardcore terminal: run runreset on it and answer its activation"
        " messages with certificates from this activator's TEST CAs.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="the terminal's address")
    parser.add_argument("--port", type=int, default=4433, help="the terminal's ECR port")
    parser.add_argument(
        "--activator-port", type=int, default=4434, help="the terminal's activator port"
    )
    parser.add_argument("--token", help="admin token (needed once the terminal is activated)")
    parser.add_argument(
        "--pki", type=Path, default=Path(".activator-pki"), help="CA directory (made on first use)"
    )
    parser.add_argument("--tms-url", help="configuration server URL for confdata/url")
    parser.add_argument("--tms-root", type=Path, help="configuration server root certificate")
    parser.add_argument("--confdata-sign", type=Path, help="vendor signature of --tms-root")
    parser.add_argument(
        "--vendor-key",
        type=Path,
        default=TEST_VENDOR_KEY,
        help="vendor private key that signs confdata (default: the bundled TEST key)",
    )
    parser.add_argument(
        "--simulator-data-dir",
        type=Path,
        help="data dir of a `cardcore serve --simulator`: use its PKI, TMS URL and ports",
    )
    args = parser.parse_args(argv)
    pki_dir, tms_url = args.pki, args.tms_url
    if args.simulator_data_dir is not None:
        data = args.simulator_data_dir
        pki_dir = data / "sim" / "pki"
        tms_url = tms_url or _wait_for(data / "sim" / "tms.url").read_text().strip()
        host, port = (data / "run" / "ecr.addr").read_text().split()
        args.host, args.port = host, int(port)
        activator_addr = data / "run" / "activator.addr"

        def activator_port() -> int:
            return int(activator_addr.read_text().split()[1])

        args.activator_port = activator_port
    if not tms_url:
        parser.error("--tms-url (or --simulator-data-dir) is required")
    pki = TestPki(pki_dir)
    try:
        result = trio.run(
            lambda: activate(
                args.host,
                args.port,
                args.activator_port,
                pki,
                tms_url,
                vendor_key_pem=args.vendor_key.read_bytes(),
                tms_root=args.tms_root.read_bytes() if args.tms_root else None,
                confdata_sign=args.confdata_sign.read_bytes() if args.confdata_sign else None,
                token=args.token,
            )
        )
    except (ActivatorError, OSError) as exc:
        print(f"activator: {exc}", file=sys.stderr)
        return 1
    print(f"runreset: {result.status}; reset: {result.reset_status}; sn: {result.sn}")
    # Why a step failed, in the terminal's words (its error-stack).
    for step, texts in result.errors.items():
        for text in texts:
            print(f"{step}: error: {_printable(text)}")
    if result.cert_pem:
        print(result.cert_pem, end="")
    return 0 if result.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
