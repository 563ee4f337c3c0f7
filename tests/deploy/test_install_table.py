"""The README's table of what `install.sh` puts where names the options that
move each part, as `install.sh --help` spells them, with the same defaults;
and every path option of the script is in the table."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.deploy.helpers import INSTALL

README = Path(__file__).resolve().parents[2] / "README.md"


def _help_options() -> dict[str, tuple[str, str]]:
    """option -> (its argument, its default) from `install.sh --help`."""
    done = subprocess.run(["sh", str(INSTALL), "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    options = {}
    for line in done.stdout.splitlines():
        match = re.match(r"\s+(--[a-z-]+)(?: ([A-Z:]+))?\s", line)
        if match:
            default = re.search(r"\(default: ([^;)]+)", line)
            options[match.group(1)] = (match.group(2) or "", default.group(1) if default else "")
    return options


def _table_rows() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    start = text.index("| what | where | mode, owner |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_table_and_install_sh_name_the_same_options() -> None:
    options = _help_options()
    assert "--sysusersdir" in options and "--user" in options
    named: set[str] = set()
    for what, where, _ in _table_rows():
        path = re.match(r"`(/[^`]*)`", where)
        for option in re.findall(r"`(--[a-z-]+)`", what + " " + where):
            assert option in options, f"install.sh has no {option}"
            named.add(option)
            argument, default = options[option]
            if argument == "DIR":  # the path shown lies where the option's default says
                assert path is not None and option in where, (option, where)
                assert path.group(1).startswith(default), (option, default, where)
            else:
                assert f"`{default}`" in what, (option, default, what)
    moved = {o for o, (argument, default) in options.items() if argument == "DIR" and default}
    assert moved <= named, f"the table lacks {sorted(moved - named)}"
