"""Time from a paid SBP status to the transaction answer.

Run: cardcore-bench sbp [--runs 30] [--poll 0.2]

In process (the same wiring as --simulator; the SBP agent simulator on
loopback HTTP): no card is presented, the agent pays each QR at once, and the
time from the moment the agent's status turns SUCCESS until the cash register
holds the approved receipt is measured. The simulated customer pays when a
status poll looks at the QR, so this is the terminal's own part (the last
status request, `displayqrcode hide`, the journal commit, the answer). In the
field add the wait for the next poll: up to one `[sbp] poll-interval` (1 s by
default, `--poll` here).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import trio

from cardcore.inprocess import simulated_terminal
from simulators.sbp.ledger import SimMode
from tools.bench import TMP_PREFIX, bench_parser

PURCHASE = {"type": "purchase", "amount": "000000001500"}


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--runs", type=int, default=30, help="SBP payments timed")
    parser.add_argument(
        "--poll", type=float, default=0.2, help="seconds between the terminal's status polls"
    )
    args = parser.parse_args()
    waits: list[float] = []

    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp:
            async with simulated_terminal(Path(tmp)) as h:
                import msgspec

                sbp = h.terminal.config.sbp
                assert sbp is not None and h.sim.sbp is not None
                h.terminal.reconfigure(
                    msgspec.structs.replace(
                        h.terminal.config, sbp=msgspec.structs.replace(sbp, poll_interval=args.poll)
                    )
                )
                h.sim.slot.remove()
                control = h.sim.sbp.control
                control.set_mode(SimMode.PAY)
                control.pay_delay, control.confirm_delay = 0.0, 0.0
                for _ in range(args.runs):
                    answer = await h.transaction(type=PURCHASE["type"], amount=PURCHASE["amount"])
                    done = trio.current_time()
                    assert answer.body.get("receipt", {}).get("status") == "approved", answer
                    record = h.sim.sbp.ledger.records()[-1]
                    assert record.scanned_at is not None
                    waits.append(done - record.scanned_at)

    trio.run(run)
    ms = sorted(w * 1000 for w in waits)
    print(f"SBP paid status -> approved answer, {args.runs} payments, poll interval "
          f"{args.poll * 1000:.0f} ms:")  # fmt: skip
    print(f"  median {statistics.median(ms):.0f} ms, min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms")
    print("  (plus, in the field, the wait for the next status poll: up to one poll interval)")


if __name__ == "__main__":
    main()
