# Strategy: a package that names its public parts in __init__ yet imports
# each part's module only when the name is first used (PEP 562, a module's
# __getattr__): a process that needs one small part does not load the rest.
# Type checkers see the names through the package's TYPE_CHECKING imports.
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """The module __getattr__ of ``package``: each name of ``modules`` comes
    from the module it maps to, imported on first use."""

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
