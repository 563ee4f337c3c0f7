"""Test PKI and virtual card generator.

    python -m tools.cardgen [generate] [--seed TEXT] [--out DIR] [--check]
    python -m tools.cardgen capk [--vectors FILE] [--out FILE] [--live]

`generate` writes hal/sim/profiles/*.json, hal/sim/pki/ca-keys.json and
hal/sim/pki/issuer-master-keys.json (TEST ONLY keys). The output is a pure
function of the seed; `--check` compares instead of writing and exits 1 when
the committed files differ. `capk` converts the public CA key vector file into
hal/sim/pki/scheme-test-ca-keys.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tools.cardgen.build import DEFAULT_SEED, generate
from tools.cardgen.capk import convert

ROOT = Path(__file__).resolve().parents[2]


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def rendered_files(seed: bytes, out: Path) -> dict[Path, str]:
    gen = generate(seed)
    files = {
        out / "profiles" / f"{name}.json": _dump(p.to_json()) for name, p in gen.profiles.items()
    }
    files[out / "pki" / "ca-keys.json"] = _dump(gen.ca_keys)
    files[out / "pki" / "issuer-master-keys.json"] = _dump(gen.issuer_keys)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.cardgen", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("generate", help="generate the test PKI and virtual card profiles")
    for p in (parser, gen):
        p.add_argument("--seed", default=DEFAULT_SEED.decode(), help="deterministic seed")
        p.add_argument("--out", type=Path, default=ROOT / "hal" / "sim", help="hal/sim directory")
        p.add_argument("--check", action="store_true", help="compare, do not write")
    capk = sub.add_parser("capk", help="convert the public CA key vector file")
    capk.add_argument(
        "--vectors", type=Path, default=ROOT / "tests" / "vectors" / "emv-capk-test-and-live.txt"
    )
    capk.add_argument(
        "--out", type=Path, default=ROOT / "hal" / "sim" / "pki" / "scheme-test-ca-keys.json"
    )
    capk.add_argument("--live", action="store_true", help="convert the keys labelled live")
    args = parser.parse_args(argv)

    if args.command == "capk":
        doc = convert(
            args.vectors.read_text(encoding="utf-8"), kind="live" if args.live else "test"
        )
        args.out.write_text(_dump(doc), encoding="utf-8")
        print(f"{args.out}: {len(doc['keys'])} keys")
        return 0

    files = rendered_files(args.seed.encode(), args.out)
    if args.check:
        stale = [
            p
            for p, text in files.items()
            if not p.is_file() or p.read_text(encoding="utf-8") != text
        ]
        known = {p.name for p in files}
        extra = [p for p in (args.out / "profiles").glob("*.json") if p.name not in known]
        for path in stale + extra:
            print(f"out of date: {path}", file=sys.stderr)
        return 1 if stale or extra else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
