"""The rules of the project's layout, checked on its source: the product
packages import no module that imports them back (directly or through
others, type-only imports included); the layers point one way (base
imports nothing of the others, kernel only base, hal and acquirers only base
and kernel); no module of cardcore is over 800 lines; the protocol layer is
sans-I/O (no trio); the simulators live in one tree (simulators/) that only
the composition roots import.

hal holds the hardware interfaces and the real drivers, never a simulated
device, and imports nothing of simulators/ (the layers). What makes a module
a simulated device is stated so that it can be checked: it says so in the
opening of its `# Strategy:` header ("a simulated ...", "an emulated ...",
"a virtual ..."), or it is named as one (a module or class named Sim...,
Emulated..., Virtual..., ...Simulator), or it is a pyusb backend
(usb.backend.IBackend: where libusb would reach a real device, an emulated
bus). No module of the product shows any of these. Every module that
emulates hardware is listed in `simulators.HARDWARE`, lives under
simulators/, and shows at least one of them, so the check is seen to catch
the emulators there are; a module of simulators/devices or simulators/usbhid
with an emulation's class is in the list."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from simulators import HARDWARE

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("base", "cardcore", "hal", "kernel", "acquirers", "simulators")
# The modules that build the terminal and may choose simulated parts for it.
COMPOSITION_ROOTS = {"cardcore.app", "cardcore.devices", "cardcore.inprocess", "cardcore.cli"}
# Everything but the simulated parties.
PRODUCT = {"base", "kernel", "hal", "acquirers", "cardcore"}


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
    for module, targets in GRAPH.items():
        if module.split(".")[0] in PRODUCT and module not in COMPOSITION_ROOTS:
            wrong = {t for t in targets if t.split(".")[0] == "simulators"}
            assert not wrong, f"{module} imports {sorted(wrong)}"


# What marks a module as a simulated device (the module docstring above).
SIMULATED_PARTS = {"sim", "hostsim", "simulator", "simservers", "emulated", "emulator", "virtual"}
SIMULATED_CLASS = re.compile(r"^(Sim|Simulated|Emulated|Virtual|Fake)[A-Z]|(Simulator|Emulator)s?$")
SIMULATED_OPENING = re.compile(r"# Strategy: (an? )?(simulated|emulated|virtual)\b", re.IGNORECASE)
EMULATED_BUSES = {"IBackend", "usb.backend.IBackend"}  # pyusb's backend interface


def _simulated(module: str) -> list[str]:
    """Why ``module`` looks like a simulated device (empty: it does not)."""
    source = MODULES[module].read_text()
    found = [f"module part {part!r}" for part in module.split(".") if part in SIMULATED_PARTS]
    if match := SIMULATED_OPENING.match(source):
        found.append(f"its header opens {match.group(0)!r}")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            if SIMULATED_CLASS.search(node.name):
                found.append(f"class {node.name}")
            if {ast.unparse(base) for base in node.bases} & EMULATED_BUSES:
                found.append(f"class {node.name} is a pyusb backend")
    return found


def test_no_simulated_device_in_hal_or_anywhere_in_the_product() -> None:
    simulated = {m: why for m in MODULES if m.split(".")[0] in PRODUCT if (why := _simulated(m))}
    assert simulated == {}, "simulated devices belong under simulators/ (simulators.HARDWARE)"


def test_the_hardware_emulators_are_listed_and_live_under_simulators() -> None:
    for module in HARDWARE:
        assert module in MODULES and module.split(".")[0] == "simulators", module
        assert _simulated(module), f"{module} does not look like an emulation"
    # The other way round: an emulator added to the device trees is listed too.
    trees = ("simulators.devices.", "simulators.usbhid.")
    named = {
        m
        for m in MODULES
        if m.startswith(trees) and any(w.startswith("class") for w in _simulated(m))
    }
    assert named - set(HARDWARE) == set()


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
