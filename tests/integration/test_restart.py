"""A restart of `cardcore serve --simulator` on the same data dir, as the README
asks for one (a new `--ui-port`, say), changes nothing for the terminal: the
simulated acquirer host keeps what a real host keeps (the working keys the
terminal loaded, its books, its RRN counter), so the next purchase is
approved with no MAC error and no new key exchange, and the settlement
balances with no batch upload. A host state file that cannot be read stops
the start with one line and is left as it was."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import FAST, Served, serving, sim

PAN = "4761739001010010"  # the card `default`


def client(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardcore", "client", *args, "--port", str(served.port),
         "--session", str(served.data_dir / "cli-session.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def buy(served: Served) -> subprocess.CompletedProcess[str]:
    return client(served, "transaction", "--type", "purchase", "--amount", "000000001500")


def test_a_restart_keeps_the_hosts_keys_and_books(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data, config=FAST) as served:
        assert client(served, "login").returncode == 0
        keys = client(served, "loadworkkeys")
        assert keys.returncode == 0, keys.stdout + keys.stderr
        first = buy(served)
        assert first.returncode == 0 and "APPROVED" in first.stdout, first.stdout

    with serving(data, config=FAST) as served:
        again = buy(served)
        log = served.log_text()
        assert again.returncode == 0, again.stdout + log[-3000:]
        assert "APPROVED" in again.stdout and "MAC" not in again.stdout
        assert "MAC verification failed" not in log and "working keys changed" not in log
        booked = sim(data, "ledger")["transactions"]
        assert [t["response"] for t in booked] == ["00", "00"]
        assert len({t["rrn"] for t in booked}) == 2  # the RRN counter went on
        settled = client(served, "settlement", "--password", "12345678", "--xml")
        assert settled.returncode == 0, settled.stdout
        assert "<settlement-result>passed</settlement-result>" in settled.stdout
        assert "<batch-upload>passed</batch-upload>" not in settled.stdout
    state = data / "sim" / "host.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    assert PAN not in state.read_text()


def test_a_host_state_that_cannot_be_read_stops_the_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    state = data / "sim" / "host.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"format": "cardcore host simulator state", "version": 1')
    done = subprocess.run(
        [sys.executable, "-m", "cardcore", "serve", "--simulator", "--port", "0",
         "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    # (Before it, the log: no syslog socket here, so it goes to stderr.)
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("cardcore: cannot")]
    assert line.startswith(f"cardcore: cannot start: {state}: not the host simulator's state")
    assert state.read_text() == '{"format": "cardcore host simulator state", "version": 1'
    assert not (data / "run" / "ecr.addr").exists()
