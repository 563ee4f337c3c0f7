"""The rules of the project's layout, checked on its source: the product
packages import no module that imports them back (directly or through
others, type-only imports included); the layers point one way (base
imports nothing of the others, kernel only base, hal and acquirers only base
and kernel); no module of
cardcore is over 800 lines; the protocol layer is sans-I/O (no trio); the
simulators live in one tree (simulators/) that only the composition roots
import."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("base", "cardcore", "hal", "kernel", "acquirers", "simulators")
# The modules that build the terminal and may choose simulated parts for it.
COMPOSITION_ROOTS = {"cardcore.app", "cardcore.devices", "cardcore.inprocess", "cardcore.cli"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> Iterator[str]:
    """Every product module ``module`` imports, anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            # `from package import name`: the module `name` if it is one, else the package.
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            found = _resolve(target)
            if found and found != module:
                yield found


GRAPH = {module: set(_imports(module)) for module in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in GRAPH[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert _cycles() == []


def test_the_layers_point_one_way() -> None:
    allowed = {
        "base": {"base"},
        "kernel": {"base", "kernel"},
        "hal": {"base", "hal", "kernel"},
        "acquirers": {"base", "acquirers", "kernel"},
    }
    for module, targets in GRAPH.items():
        layer = module.split(".")[0]
        if layer in allowed:
            wrong = {t for t in targets if t.split(".")[0] not in allowed[layer]}
            assert not wrong, f"{module} imports {sorted(wrong)}"


def test_only_the_composition_roots_import_the_simulators() -> None:
    product = {"base", "kernel", "hal", "acquirers", "cardcore"}
    for module, targets in GRAPH.items():
        if module.split(".")[0] in product and module not in COMPOSITION_ROOTS:
            wrong = {t for t in targets if t.split(".")[0] == "simulators"}
            assert not wrong, f"{module} imports {sorted(wrong)}"


def test_no_simulator_hides_outside_the_simulators_tree() -> None:
    product = {"base", "kernel", "hal", "acquirers", "cardcore"}
    simulated = {
        module
        for module in MODULES
        if module.split(".")[0] in product
        and any(part in {"sim", "hostsim", "simulator", "simservers"} for part in module.split("."))
    }
    assert simulated == set()


def test_no_cardcore_module_is_over_800_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "cardcore").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 800
    }
    assert long == {}


def test_the_protocol_layer_does_no_io() -> None:
    for module, path in MODULES.items():
        if module.startswith("cardcore.protocol"):
            assert "trio" not in {t.split(".")[0] for t in _third_party(path)}, module


def _third_party(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module


def test_the_analysis_sees_a_circle_when_there_is_one() -> None:
    GRAPH["base.tlv"].add("kernel.apdu")
    GRAPH["kernel.apdu"].add("base.tlv")
    try:
        assert any({"kernel.apdu", "base.tlv"} <= set(c) for c in _cycles())
    finally:
        GRAPH["base.tlv"] = set(_imports("base.tlv"))
        GRAPH["kernel.apdu"] = set(_imports("kernel.apdu"))
