"""Every runtime dependency installs from binary wheels on the terminal image's machines.

Run: python -m tools.wheels [--python 3.11 ...] [--arch x86_64 ...]   (needs PyPI)
"""

# Strategy: a terminal image installs cardcore with pip on x86_64 or aarch64
# Linux, where nothing should have to be compiled. For each architecture and
# each supported Python, `pip download --only-binary=:all:` resolves the
# runtime requirements of pyproject.toml (the dependencies and the extras the
# image installs) with their own dependencies, for CPython on glibc 2.28 or
# newer (the manylinux_2_17 to manylinux_2_28 wheels); any requirement
# without such a wheel fails the check. The PC/SC extra is the one known
# exception: pyscard publishes no Linux wheels and builds against
# libpcsclite (README, «Dependencies»).
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ARCHES", "BUILT", "PYTHONS", "RUNTIME_EXTRAS", "command", "main", "requirements"]

PYTHONS = ("3.11", "3.12", "3.13", "3.14")
ARCHES = ("x86_64", "aarch64")
GLIBC_MINOR = (17, 28)  # manylinux_2_17 (manylinux2014) .. manylinux_2_28
# Extras a terminal image installs, checked like the dependencies.
RUNTIME_EXTRAS = ("usb", "qr")
# Extras that build from source on Linux, and what the build needs.
BUILT = {"pcsc": "pyscard: a C compiler, Python headers, swig and libpcsclite-dev"}
# Extras a terminal never installs: the tests' tools, the simulator's page.
NOT_RUNTIME = ("test", "ui")

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The dependencies and the runtime extras' requirements, in order."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})
    unknown = set(extras) - set(RUNTIME_EXTRAS) - set(BUILT) - set(NOT_RUNTIME)
    if unknown:
        raise SystemExit(f"extras not classified in tools/wheels.py: {', '.join(sorted(unknown))}")
    found: list[str] = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        found += [r for r in extras.get(extra, []) if r not in found]
    return found


def platforms(arch: str) -> list[str]:
    low, high = GLIBC_MINOR
    return [f"manylinux_2_{minor}_{arch}" for minor in range(high, low - 1, -1)] + [
        f"manylinux2014_{arch}"
    ]


def command(arch: str, python: str, dest: Path, reqs: Sequence[str]) -> list[str]:
    """The pip download that succeeds only if every requirement has a wheel."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
    cmd += ["--implementation", "cp", "--python-version", python, "--dest", str(dest)]
    for platform in platforms(arch):
        cmd += ["--platform", platform]
    return [*cmd, *reqs]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--python", nargs="+", default=list(PYTHONS))
    parser.add_argument("--arch", nargs="+", default=list(ARCHES))
    args = parser.parse_args(argv)
    reqs = requirements()
    failed = []
    with tempfile.TemporaryDirectory(prefix="cardcore-wheels-") as tmp:
        for arch in args.arch:
            for python in args.python:
                dest = Path(tmp) / f"{arch}-{python}"
                done = subprocess.run(
                    command(arch, python, dest, reqs), capture_output=True, text=True
                )
                wheels = sorted(p.name for p in dest.glob("*.whl")) if dest.exists() else []
                if done.returncode == 0:
                    print(f"{arch} CPython {python}: {len(wheels)} wheels, nothing to build")
                    continue
                failed.append(f"{arch} CPython {python}")
                errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
                print(f"{arch} CPython {python}: FAILED")
                for line in errors or done.stderr.splitlines()[-5:]:
                    print(f"    {line}")
    for extra, needs in BUILT.items():
        print(f"not checked: the {extra} extra builds on Linux ({needs})")
    if failed:
        print(f"no binary wheel for some requirement on: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
