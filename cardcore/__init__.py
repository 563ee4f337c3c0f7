"""cardcore: the bank application of a card payment terminal."""

from __future__ import annotations

import functools

__all__ = ["version"]


@functools.cache
def version() -> str:
    """The installed distribution's version: pyproject.toml is its one source.
    Read when first asked, not at import: importlib.metadata costs tens of
    milliseconds that `cardcore serve` need not spend before it is up."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("cardcore")
    except PackageNotFoundError:  # a source tree on sys.path, never installed
        return "0+unknown"


def __getattr__(name: str) -> str:
    # `cardcore.__version__` for code that expects the attribute.
    if name == "__version__":
        return version()
    raise AttributeError(f"module 'cardcore' has no attribute {name!r}")
