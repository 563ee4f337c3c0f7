# Strategy: `cardcore-bench NAME [OPTIONS]` (or `python -m tools.bench`) runs
# one benchmark of this package with its own options; without a name it lists
# them with the first line of each one's docstring. Each benchmark keeps its
# own argparse main; this only picks the module and hands it the rest of the
# command line.
from __future__ import annotations

import importlib
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
    importlib.import_module(module).main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
