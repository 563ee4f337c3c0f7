"""The command line as people and scripts use it, run as subprocesses (against a
real `cardcore serve --simulator` where a terminal is needed)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.integration.conftest import FAST, Served, start_server, stop_server


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardcore", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd,
    )  # fmt: skip


def test_version_is_the_installed_distribution_s() -> None:
    done = cli("--version")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"cardcore {version('cardcore')}\n",
        "",
    )


# --- against a running terminal -------------------------------------------------
@pytest.fixture(scope="module")
def terminal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_server(tmp_path_factory.mktemp("cli") / "data", config=FAST)
    try:
        yield server
    finally:
        assert stop_server(server) == 0, server.log_text()


def client(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    session = served.data_dir / "cli-session.json"
    return cli("client", *args, "--data-dir", str(served.data_dir), "--session", str(session))


def sim(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("sim", *args, "--data-dir", str(served.data_dir))


PURCHASE = ("transaction", "--type", "purchase", "--amount", "000000001050")


def test_a_purchase_for_people(terminal: Served) -> None:
    done = client(terminal, *PURCHASE)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    shown = [line for line in lines if line.startswith("terminal: ")]
    assert "terminal: ПРИЛОЖИТЕ КАРТУ  10.50 RUB" in shown  # the configured language
    assert "terminal: ОДОБРЕНО  10.50 RUB" in shown
    slip = lines[len(shown) :]
    assert slip[0] == slip[-1] == "+" + "-" * 38 + "+"
    assert "|AMOUNT                       10.50 RUB|" in slip
    assert "|VISA                  ************0010|" in slip
    assert any("RESPONSE" in line and "000 Одобрено" in line for line in slip)
    assert any(line.strip("| ") == "APPROVED" for line in slip)
    assert "<" not in done.stdout and done.stderr == ""


def test_a_purchase_for_scripts(terminal: Served) -> None:
    done = client(terminal, *PURCHASE, "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["answer"], answer["status"]) == ("transaction", "ok")
    receipt = answer["receipt"]
    assert receipt["tstatus"] == "approved" and receipt["pan"] == "************0010"
    assert receipt["amount-authorized"] == "000000001050"
    displays = [m for m in answer["messages"] if m["message"] == "display"]
    assert displays[0]["msg"] == "ПРИЛОЖИТЕ КАРТУ" and displays[0]["value"] == "000000001050"


def test_a_purchase_as_raw_packets(terminal: Served) -> None:
    done = client(terminal, *PURCHASE, "--xml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<- <display>\n")  # the command itself is not repeated
    assert "<- <display>" in done.stdout and "-> <display>" in done.stdout
    assert "<- <transaction>" in done.stdout and "<tstatus>approved</tstatus>" in done.stdout


def test_a_decline_exits_3(terminal: Served) -> None:
    assert sim(terminal, "host", "decline").returncode == 0
    try:
        done = client(terminal, *PURCHASE)
        assert done.returncode == 3, done.stdout + done.stderr
        assert any(line.strip("| ") == "DECLINED" for line in done.stdout.splitlines())
        scripted = client(terminal, *PURCHASE, "--json")
        assert scripted.returncode == 3
        assert json.loads(scripted.stdout)["receipt"]["tstatus"] == "declined"
    finally:
        assert sim(terminal, "host", "approve").returncode == 0


def test_a_status_other_than_ok_exits_3_with_its_error_stack(terminal: Served) -> None:
    done = client(terminal, "transaction", "--type", "purchase", "--amount", "1")
    assert done.returncode == 3
    assert done.stdout.splitlines() == [
        "transaction: invalidarguments (invalid parameter values)",
        "error: parameter 'amount' is ill-formed: 12 digits",
    ]
    scripted = client(terminal, "transaction", "--type", "purchase", "--amount", "1", "--json")
    answer = json.loads(scripted.stdout)
    assert scripted.returncode == 3 and answer["status"] == "invalidarguments"
    assert answer["error-stack"] == ["parameter 'amount' is ill-formed: 12 digits"]


def test_the_address_from_the_data_dir_and_the_default_one(
    terminal: Served, tmp_path: Path
) -> None:
    # ./.cardcore/run/ecr.addr is used without any option
    run = tmp_path / ".cardcore" / "run"
    run.mkdir(parents=True)
    (run / "ecr.addr").write_text((terminal.data_dir / "run" / "ecr.addr").read_text())
    done = cli("client", "login", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "logged in; the token is kept in .cardcore/client-session.json\n"
    params = cli("client", "getparameters", cwd=tmp_path)
    assert params.returncode == 0, params.stderr
    assert "serial number" in params.stdout and "000000000001" in params.stdout
    assert cli("client", "logout", cwd=tmp_path).stdout == "logged out\n"
    assert not (tmp_path / ".cardcore" / "client-session.json").exists()


def test_no_terminal_to_reach_exits_1(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    done = cli("client", *PURCHASE, "--data-dir", str(empty))
    assert done.returncode == 1
    assert done.stderr == (
        f"cardcore: no terminal is running with data dir {empty}: is `cardcore serve` running?"
        f" it writes its address to {empty / 'run' / 'ecr.addr'}\n"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = cli("client", *PURCHASE, "--port", str(port), cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"cardcore: cannot connect to 127.0.0.1:{port}: Connection refused;")
    assert "is `cardcore serve` running? it writes its address to .cardcore/run/ecr.addr" in line
    assert cli("sim", "status", "--data-dir", str(empty)).returncode == 1


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("client", *PURCHASE, "--port", "65536"), "argument --port: 65536 is out of range"),
        (("client", *PURCHASE, "--data-dir", "d", "--port", "1"), "either --data-dir or"),
        (("client", "getparameters", "--session", "none.json", "--port", "1"), "not logged in"),
        (("client", "transaction", "--type", "sale"), "argument --type: invalid choice"),
        (("serve", "--port", "65536"), "option --port is 65536; allowed: 0 to 65535"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    args: tuple[str, ...], said: str, tmp_path: Path
) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("cardcore: ") and said in line, line


def test_end_of_day_and_parameters_for_people_and_scripts(terminal: Served) -> None:
    assert client(terminal, *PURCHASE).returncode == 0
    login = client(terminal, "login", "--xml")
    assert login.returncode == 0 and "<- <login>" in login.stdout
    assert "12345678" not in login.stdout  # the command, with the password, is not shown
    params = client(terminal, "getparameters", "--json")
    assert json.loads(params.stdout)["parameters"]["sn"] == "000000000001"
    report = client(terminal, "report", "--report-type", "full")
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert lines[0].startswith("X-REPORT  ") and lines[0].endswith("  RUB")
    assert any(line.startswith("TRANSACTIONS (") for line in lines)
    assert "GRAND TOTAL" in lines
    scripted = json.loads(client(terminal, "report", "--json").stdout)
    assert scripted["xreport"]["grand-totals"]["total-count"] != "0"
    settled = client(terminal, "settlement")
    assert settled.returncode == 0, settled.stdout
    assert settled.stdout.splitlines()[0] == "SETTLEMENT PASSED"
    assert "  terminal's total " in settled.stdout and " RUB" in settled.stdout
    again = json.loads(client(terminal, "settlement", "--json").stdout)
    assert again["sreport"]["settlement-result"] == "passed" and again["sreport"]["tnum"] == "0"
    assert client(terminal, "logout").returncode == 0


def test_the_simulator_for_people_and_scripts(terminal: Served) -> None:
    status = sim(terminal, "status")
    assert status.returncode == 0
    assert "card           default" in status.stdout.splitlines()
    assert json.loads(sim(terminal, "status", "--json").stdout)["card"] == "default"
    ledger = sim(terminal, "ledger")
    assert ledger.stdout.startswith("booked transactions: ")
    assert "transactions" in json.loads(sim(terminal, "ledger", "--json").stdout)
    assert sim(terminal, "present", "cda").stdout == "in the field: cda (contact)\n"
    assert sim(terminal, "present", "default").returncode == 0
    refused = sim(terminal, "present", "nosuch")
    assert refused.returncode == 2
    assert refused.stderr == "cardcore: unknown virtual card profile 'nosuch'\n"


def test_the_card_profiles_for_people_and_scripts() -> None:
    """`sim profiles` needs no simulator; --json lists what the text does."""
    text = cli("sim", "profiles")
    scripted = cli("sim", "profiles", "--json")
    assert text.returncode == scripted.returncode == 0, text.stderr + scripted.stderr
    profiles = {p["name"]: p for p in json.loads(scripted.stdout)["profiles"]}
    assert list(profiles) == [line.split()[0] for line in text.stdout.splitlines()]
    assert profiles["default"]["interfaces"] == ["contact"]
    assert profiles["default"]["description"] in text.stdout
    assert profiles["visa-qvsdc"]["interfaces"] == ["contactless"]
    assert profiles["mifare-classic"]["kind"] == "mifare"
    assert {p["kind"] for p in profiles.values()} == {"emv", "mifare"}


def test_help_shows_defaults_and_exit_codes() -> None:
    done = cli("client", "transaction", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert (
        "--timeout TIMEOUT seconds to wait for each packet of the terminal (default: 120.0)" in text
    )
    assert "(default: .cardcore when it holds one)" in text
    assert "exit codes: 0 ok" in text
    assert "(default: .cardcore)" in " ".join(cli("serve", "--help").stdout.split())


def test_config_show_and_check(tmp_path: Path) -> None:
    good = tmp_path / "terminal.toml"
    good.write_text('[terminal]\ntid = "10000042"\n')
    shown = cli("config", "show", "--config", str(good), "--data-dir", str(tmp_path / "data"))
    assert shown.returncode == 0, shown.stderr
    assert tomllib.loads(shown.stdout)["terminal"]["tid"] == "10000042"
    lines = shown.stdout.splitlines()
    assert any(line.startswith("port = 4433 ") and "# default: " in line for line in lines)
    assert any(line.startswith('tid = "10000042" ') and "# file: " in line for line in lines)
    assert not (tmp_path / "data").exists()  # showing creates nothing
    assert cli("config", "check", str(good)).stdout == f"{good}: valid\n"
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 65536\n")
    for done in (cli("config", "check", str(bad)), cli("config", "show", "--config", str(bad))):
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == (
            "cardcore: configuration key 'server.port' is 65536; allowed: 0 to 65535\n"
        )
    missing = cli("config", "check", str(tmp_path / "none.toml"))
    assert missing.returncode == 2 and "cannot read configuration" in missing.stderr
