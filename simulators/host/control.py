# Strategy: the runtime switches of the host simulator, changed in-process by
# the application's simulator control socket (`cardcore sim host ...`) or by
# tests. Modes: approve (decide on the ledger), decline (every financial
# request declined with `decline_code`), timeout (accept and read requests,
# process them, never answer), down (listeners closed: connections refused,
# open ones dropped). Scenario switches: a delay before every answer, a
# reconciliation that disagrees (so the batch upload path runs), a key
# exchange that sends a wrong KCV, issuer scripts added to approvals. For the
# end of day: a host batch with a transaction the terminal does not know
# (`reconciliation_mismatch`) or without one the terminal has
# (`lose_transaction`), a batch upload the host refuses (`refuse_upload`), and
# whether the host accepts a forced settlement (`accept_forced`).
from __future__ import annotations

from enum import Enum

import trio

__all__ = ["HostControl", "HostMode"]


class HostMode(Enum):
    APPROVE = "approve"
    DECLINE = "decline"
    TIMEOUT = "timeout"
    DOWN = "down"


class HostControl:
    """Switches read by the simulator on every request; ``mode`` changes wake
    the listener so that down/up take effect at once."""

    def __init__(
        self,
        mode: HostMode | str = HostMode.APPROVE,
        *,
        decline_code: str = "05",
        delay: float = 0.0,
        reconciliation_mismatch: bool = False,
        lose_transaction: bool = False,
        refuse_upload: bool = False,
        accept_forced: bool = True,
        wrong_kcv: bool = False,
        issuer_scripts: list[bytes] | None = None,
    ) -> None:
        self._mode = HostMode(mode)
        self._changed = trio.Event()
        self.decline_code = decline_code
        self.delay = delay  # seconds to wait before each answer
        self.reconciliation_mismatch = reconciliation_mismatch  # disagree on the 92 request
        # The host's batch misses its newest transaction when totals are compared.
        self.lose_transaction = lose_transaction
        self.refuse_upload = refuse_upload  # 0320 answered 58 instead of 00
        self.accept_forced = accept_forced  # 0520 answered 00 (closes) or 12
        self.wrong_kcv = wrong_kcv  # key exchange answers carry a wrong KCV
        self.issuer_scripts: list[bytes] = list(issuer_scripts or [])  # 71/72 templates

    def __repr__(self) -> str:
        return (
            f"HostControl(mode={self._mode.value}, decline_code={self.decline_code!r},"
            f" delay={self.delay}, reconciliation_mismatch={self.reconciliation_mismatch},"
            f" lose_transaction={self.lose_transaction}, refuse_upload={self.refuse_upload},"
            f" accept_forced={self.accept_forced},"
            f" wrong_kcv={self.wrong_kcv}, scripts={len(self.issuer_scripts)})"
        )

    @property
    def mode(self) -> HostMode:
        return self._mode

    @mode.setter
    def mode(self, mode: HostMode | str) -> None:
        self._mode = HostMode(mode)
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    def set_mode(self, mode: HostMode | str) -> None:
        self.mode = mode

    async def wait_changed(self) -> None:
        await self._changed.wait()

    async def wait_until_up(self) -> None:
        while self._mode is HostMode.DOWN:
            await self.wait_changed()

    async def wait_until_down(self) -> None:
        while self._mode is not HostMode.DOWN:
            await self.wait_changed()
