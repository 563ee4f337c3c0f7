"""Session-wide fixtures shared by several test packages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.hal.pcscd import Pcscd, start_pcscd

# Speed is the benchmarks' to measure (tools/bench), never a test's: no
# property test fails because an example ran slowly on a loaded machine.
settings.register_profile("cardcore", deadline=None)
settings.load_profile("cardcore")


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    """One private pcscd with the vpcd reader for the whole run (only one
    pcscd can own /run/pcscd); skipped, or failed under CARDCORE_CI=1, when
    the PC/SC stack is missing or another pcscd runs."""
    daemon = start_pcscd(tmp_path_factory.mktemp("pcscd"))
    try:
        yield daemon
    finally:
        daemon.stop()
