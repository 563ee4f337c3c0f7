"""tools/wheels.py without the network: what it asks pip for."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tools import wheels


def test_requirements_are_the_dependencies_and_the_runtime_extras() -> None:
    project = tomllib.loads(wheels.PYPROJECT.read_text())["project"]
    reqs = wheels.requirements()
    assert set(project["dependencies"]) <= set(reqs)
    for extra in wheels.RUNTIME_EXTRAS:
        assert set(project["optional-dependencies"][extra]) <= set(reqs)
    assert not any(r.startswith(("pytest", "mypy", "pyscard")) for r in reqs)


def test_an_unclassified_extra_stops_the_check(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["trio"]\n[project.optional-dependencies]\nnew = ["x"]\n'
    )
    with pytest.raises(SystemExit, match="new"):
        wheels.requirements(pyproject)


def test_command_asks_for_wheels_only_for_one_machine(tmp_path: Path) -> None:
    cmd = wheels.command("aarch64", "3.12", tmp_path, ["trio>=0.25"])
    assert "--only-binary=:all:" in cmd and cmd[-1] == "trio>=0.25"
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    platforms = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--platform"]
    assert "manylinux_2_28_aarch64" in platforms and "manylinux2014_aarch64" in platforms
    assert "manylinux_2_17_aarch64" in platforms
    assert all(p.endswith("_aarch64") for p in platforms)
    assert not any(p.startswith("manylinux_2_29") for p in platforms)
