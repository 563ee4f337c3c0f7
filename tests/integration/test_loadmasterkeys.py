"""`loadmasterkeys` as the manual describes it, tried from outside against
`cardcore serve --simulator` and its key server: a SAM host key in the key
server's answer (type 0A) is installed as `sethostkey` installs it, and each
key on the receipt carries its own `result`, so a load of several keys says
which failed. `cardcore client loadmasterkeys` prints that receipt for
people: the master keys' check values and each key's result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from base.crypto.des import kcv_aes, kcv_tdes
from cardcore.client import EcrClient
from cardcore.protocol.xmlcodec import Message, decode_error_stack
from simulators.testkeys import load_test_keys
from tests.integration.conftest import FAST, Served, sim, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
HOST_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")  # TEST ONLY
CONFIG = FAST + '[[sam.host-key]]\nname = "hkey1"\nentry = 3\n'


def keys_of(answer: Message) -> dict[str, dict[str, str]]:
    keys = answer.body["receipt"]["keys"]["key"]
    return {k["type"]: k for k in (keys if isinstance(keys, list) else [keys])}


async def test_host_key_and_a_result_per_key(tmp_path: Path) -> None:
    served = start_server(tmp_path / "data", config=CONFIG)
    try:
        await _load(served)
    finally:
        assert stop_server(served) == 0, served.log_text()
    log = served.log_text()
    assert "loaded into simulated SAM SIMSAM01 entry 3 version 0" in log
    assert HOST_KEY.hex() not in log.lower()


async def _load(served: Served) -> None:
    activation = subprocess.run(
        [sys.executable, "-m", "tools.activator", "--simulator-data-dir", str(served.data_dir)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert activation.returncode == 0, (activation.stdout, activation.stderr, served.log_text())
    register = EcrClient(served.host, served.port, timeout=60)
    assert (await register.login("12345678")).status == "ok"
    token = {"token": register.session.token or ""}
    assert (await register.command("updateconfiguration", token)).status == "ok"
    sim(served.data_dir, "tms", "keys", f"0A={HOST_KEY.hex()}/hkey1", "bad-kcv=03")
    # A type the manual does not know is refused, and changes nothing: the
    # load below gets 05, 03 and 0A only, with 03's KCV still announced wrong.
    for refused in (["TPK=00112233445566778899AABBCCDDEEFF"], ["bad-kcv=", "0C=00", "07=00"],
                    ["bad-kcv=05,PIN"]):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "cardcore", "sim", "tms", "keys", *refused,
             "--data-dir", str(served.data_dir)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith("cardcore: tms keys: unknown key type ")
        assert "03, 05, 09, 0A, 0B, 0C, 10, 0D, 0E, FF" in line

    answer = await register.command("loadmasterkeys", token)
    assert answer.status == "verificationfailed", answer.body
    keys = keys_of(answer)
    master = load_test_keys().master
    assert keys["05"]["result"] == "success"
    assert keys["05"]["kcv"] == kcv_tdes(master.pin).hex().upper()
    assert keys["03"]["result"] == "failed" and "KCV" in keys["03"]["reason"]
    assert "kcv" not in keys["03"]
    assert keys["0A"]["result"] == "success" and keys["0A"]["algorithm"] == "02"
    assert keys["0A"]["kcv"] == kcv_aes(HOST_KEY).hex().upper()
    assert keys["0A"]["kcv-method"] == "aes-cmac-zeros"
    (error,) = decode_error_stack(answer.body["error-stack"])
    assert error.startswith("key 03:")
    assert answer.body["receipt"]["pkcv"] == keys["05"]["kcv"]
    printed = _cli_loadmasterkeys(served)
    assert printed.returncode == 3, printed.stdout + printed.stderr
    mac_kcv = kcv_tdes(master.mac).hex().upper()
    assert printed.stdout.splitlines() == [
        "MASTER KEYS",
        f"  PIN master key (pkcv)  {keys['05']['kcv']}",
        "  MAC master key (mkcv)  none",
        "KEYS FROM THE KEY SERVER (3)",
        f"  05 PIN master key  success  kcv {keys['05']['kcv']} (tdes-encrypt-zeros)",
        f"  03 MAC master key  failed   {keys['03']['reason']}",
        f"  0A SAM host key    success  kcv {keys['0A']['kcv']} (aes-cmac-zeros)",
        "loadmasterkeys: verificationfailed (checksum or certificate verification failed)",
        f"error: {error}",
    ]
    assert "TID" not in printed.stdout and "AMOUNT" not in printed.stdout

    sim(served.data_dir, "tms", "keys", "bad-kcv=")
    answer = await register.command("loadmasterkeys", token)
    assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
    assert {t: k["result"] for t, k in keys_of(answer).items()} == dict.fromkeys(
        ("05", "03", "0A"), "success"
    )
    assert answer.body["receipt"]["mkcv"] == kcv_tdes(master.mac).hex().upper()
    printed = _cli_loadmasterkeys(served)
    assert printed.returncode == 0, printed.stdout + printed.stderr
    assert f"  MAC master key (mkcv)  {mac_kcv}" in printed.stdout.splitlines()
    assert f"  03 MAC master key  success  kcv {mac_kcv} (tdes-encrypt-zeros)" in printed.stdout


def _cli_loadmasterkeys(served: Served) -> subprocess.CompletedProcess[str]:
    """`cardcore client loadmasterkeys` as a person runs it (after `login`)."""
    session = ["--port", str(served.port), "--session", str(served.data_dir / "cli.json")]
    run = [sys.executable, "-m", "cardcore", "client"]
    login = subprocess.run([*run, "login", *session], capture_output=True, text=True, timeout=60)
    assert login.returncode == 0, login.stdout + login.stderr
    return subprocess.run(
        [*run, "loadmasterkeys", *session], capture_output=True, text=True, timeout=60
    )
