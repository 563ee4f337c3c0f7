# Strategy: `cardcore-bench NAME [OPTIONS]` (or `python -m tools.bench`) runs
# one benchmark of this package with its own options; without a name it lists
# them with the first line of each one's docstring. Each benchmark keeps its
# own argparse main; this only picks the module and hands it the rest of the
# command line. SIGTERM stops a benchmark as Ctrl-C does: the servers it
# started are stopped and its temporary directories removed on the way out.
from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Sequence

__all__ = ["BENCHMARKS", "main"]

# name -> module; each has main(), reading its options from sys.argv.
BENCHMARKS = {
    "ecr": "tools.bench.ecr",
    "ecr-instructions": "tools.bench.ecr_instructions",
    "kernel-contact": "tools.bench.kernel_contact",
    "kernel-contactless": "tools.bench.kernel_contactless",
    "transaction": "tools.bench.transaction",
    "settlement": "tools.bench.settlement",
    "sbp": "tools.bench.sbp",
    "slowloris": "tools.bench.slowloris",
    "durability": "tools.bench.durability",
}


def _summary(module: str) -> str:
    doc = importlib.import_module(module).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: cardcore-bench NAME [OPTIONS]   (cardcore-bench NAME --help for its options)")
        print("\nbenchmarks:")
        for listed, path in BENCHMARKS.items():
            print(f"  {listed:<20} {_summary(path)}")
        return 0
    name, rest = args[0], args[1:]
    module = BENCHMARKS.get(name.replace("_", "-"))
    if module is None:
        print(f"cardcore-bench: no benchmark {name!r}; run cardcore-bench for the list",
              file=sys.stderr)  # fmt: skip
        return 2
    # The benchmark parses sys.argv itself, under its own name in its usage line.
    sys.argv = [f"cardcore-bench {name}", *rest]
    stopped_by = signal.SIGINT

    def terminate(signum: int, frame: object) -> None:
        # Raised as SIGINT, so that trio, while it runs, takes it at a safe point.
        nonlocal stopped_by
        stopped_by = signal.Signals(signum)
        signal.raise_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, terminate)
    try:
        importlib.import_module(module).main()
    except BaseException as exc:
        if not _interrupted(exc):
            raise
        print(f"cardcore-bench: {name} stopped ({stopped_by.name})", file=sys.stderr)
        return 128 + stopped_by
    return 0


def _interrupted(exc: BaseException) -> bool:
    """A KeyboardInterrupt, bare or out of a trio nursery (beside what the
    tasks cancelled by it raised on their way out)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(KeyboardInterrupt) is not None
    return isinstance(exc, KeyboardInterrupt)


if __name__ == "__main__":
    sys.exit(main())
