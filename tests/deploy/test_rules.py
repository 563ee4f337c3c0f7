"""The udev rule of the PIN pad and the polkit rule of pcscd, judged by the
real parsers: udev's own (`udevadm test` reads every rules file and reports
each bad line) and polkitd's (pkcheck asks a polkitd started for the test
whether the service user may use pcscd). Both run in a mount namespace of
their own, where the rules directories, /etc/passwd with the service user and
the D-Bus system bus are the test's; nothing of the machine is changed."""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from pathlib import Path

from tests.deploy.helpers import POLKIT_RULE, UDEV_RULE, can_unshare, need

UID = 64990  # the service user inside the namespace; no real user has it


def _users(tmp_path: Path) -> tuple[Path, Path]:
    passwd, group = tmp_path / "passwd", tmp_path / "group"
    passwd.write_text(
        Path("/etc/passwd").read_text()
        + f"cardcore:x:{UID}:{UID}:cardcore:/var/lib/cardcore:/usr/sbin/nologin\n"
    )
    group.write_text(Path("/etc/group").read_text() + f"cardcore:x:{UID}:\n")
    return passwd, group


def _in_namespace(script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-euc", script],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


# --- udev ----------------------------------------------------------------------
TOKEN = re.compile(r'^([A-Z_]+)(\{[^}]+\})?(==|!=|\+=|-=|:=|=)"([^"]*)"$')
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "ATTR", "ATTRS", "ENV"}
ASSIGN_KEYS = {"GROUP", "MODE", "GOTO", "LABEL"}


def test_the_udev_rule_s_grammar() -> None:
    """Every line: comma-separated KEY[{attr}]OP"value" (udev(7)); matches with
    == on the pad's IDs, assignments with =, every GOTO has its LABEL."""
    gotos, labels = set(), set()
    for line in UDEV_RULE.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        for token in line.split(", "):
            match = TOKEN.match(token)
            assert match, token
            key, _attr, op, value = match.groups()
            if key in MATCH_KEYS:
                assert op in ("==", "!="), token
            else:
                assert key in ASSIGN_KEYS and op == "=", token
            if key == "MODE":
                assert re.fullmatch(r"0[0-7]{3}", value), token
            if key in ("GROUP",):
                assert value == "cardcore"
            (gotos if key == "GOTO" else labels if key == "LABEL" else set()).add(value)
    assert gotos <= labels
    text = UDEV_RULE.read_text()
    assert 'SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="1209"' in text
    assert 'SUBSYSTEM=="hidraw", ATTRS{idVendor}=="1209", ATTRS{idProduct}=="0001"' in text


def _udevadm_test(tmp_path: Path, rule: str) -> list[str]:
    """What udev's parser says of ``rule`` (its lines naming the file)."""
    passwd, group = _users(tmp_path)
    (tmp_path / "rule").write_text(rule)
    done = _in_namespace(
        textwrap.dedent(f"""
        mount -t tmpfs none /run
        mkdir /run/udev
        for d in /etc/udev/rules.d /lib/udev/rules.d; do mount -t tmpfs none $d; done
        mount --bind {passwd} /etc/passwd
        mount --bind {group} /etc/group
        cp {tmp_path / "rule"} /etc/udev/rules.d/60-cardcore-pinpad.rules
        udevadm test --action=add /devices/virtual/net/lo 2>&1
        """)
    )
    assert "Reading rules file: /etc/udev/rules.d/60-cardcore-pinpad.rules" in done.stdout, (
        done.stdout + done.stderr
    )
    return [
        line
        for line in done.stdout.splitlines()
        if "60-cardcore-pinpad.rules" in line and not line.startswith("Reading rules file")
    ]


def test_udev_reads_the_rule_without_a_complaint(tmp_path: Path) -> None:
    need(shutil.which("udevadm"), "udevadm is not installed (udev)")
    need(can_unshare(), "a mount namespace needs root")
    assert _udevadm_test(tmp_path, UDEV_RULE.read_text()) == []
    # The same parser on a broken copy: the check above can fail.
    broken = UDEV_RULE.read_text().replace('MODE="0660"', 'MODE=="0660"')
    broken = broken.replace('GROUP="cardcore"', 'GROUP="nosuchgroup"')
    complaints = "\n".join(_udevadm_test(tmp_path, broken))
    assert "Invalid operator for MODE" in complaints
    assert "Unknown group 'nosuchgroup'" in complaints


# --- polkit --------------------------------------------------------------------
# The two actions as pcsc-lite's org.debian.pcsc-lite.policy declares them
# (Debian 12's pcscd is built without polkit and ships no policy): allowed to
# active local sessions only, which a system service never has.
PCSC_POLICY = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD PolicyKit Policy Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/PolicyKit/1.0/policyconfig.dtd">
<policyconfig>
  <action id="org.debian.pcsc-lite.access_pcsc">
    <description>Access to the PC/SC daemon</description>
    <message>Authentication is required to access the PC/SC daemon</message>
    <defaults><allow_any>no</allow_any><allow_inactive>no</allow_inactive>
      <allow_active>yes</allow_active></defaults>
  </action>
  <action id="org.debian.pcsc-lite.access_card">
    <description>Access to the smart card</description>
    <message>Authentication is required to access the smart card</message>
    <defaults><allow_any>no</allow_any><allow_inactive>no</allow_inactive>
      <allow_active>yes</allow_active></defaults>
  </action>
</policyconfig>
"""
POLKITD = Path("/usr/lib/polkit-1/polkitd")


def _pkcheck(tmp_path: Path, rules: list[Path]) -> dict[str, int]:
    """pkcheck's exit code for each (action, user) with ``rules`` installed."""
    passwd, group = _users(tmp_path)
    (tmp_path / "pcsc.policy").write_text(PCSC_POLICY)
    copies = "\n".join(f"cp {rule} /etc/polkit-1/rules.d/" for rule in rules)
    checks = [
        ("access_pcsc", "cardcore", ""),
        ("access_card", "cardcore", "--detail reader 'Virtual PCD 00 00'"),
        ("access_pcsc", "nobody", ""),
        ("access_card", "nobody", "--detail reader 'Virtual PCD 00 00'"),
    ]
    lines = "\n".join(
        f"""r=0; pkcheck --action-id org.debian.pcsc-lite.{action} --process ${user}_pid {detail}\\
            >/dev/null 2>&1 || r=$?; echo "{action} {user} $r" """
        for action, user, detail in checks
    )
    done = _in_namespace(
        textwrap.dedent(f"""
        mount -t tmpfs none /run
        mkdir /run/dbus
        for d in /etc/polkit-1/rules.d /usr/share/polkit-1/rules.d /usr/share/polkit-1/actions; do
            mount -t tmpfs none $d
        done
        mount --bind {passwd} /etc/passwd
        mount --bind {group} /etc/group
        cp {tmp_path / "pcsc.policy"} /usr/share/polkit-1/actions/org.debian.pcsc-lite.policy
        {copies}
        dbus=$(dbus-daemon --system --fork --print-pid)
        {POLKITD} --no-debug >{tmp_path / "polkitd.log"} 2>&1 & polkitd=$!
        setpriv --reuid={UID} --regid={UID} --clear-groups sleep 60 & cardcore_pid=$!
        setpriv --reuid=65534 --regid=65534 --clear-groups sleep 60 & nobody_pid=$!
        trap 'kill $cardcore_pid $nobody_pid $polkitd $dbus' EXIT
        i=0
        until busctl --system status org.freedesktop.PolicyKit1 >/dev/null 2>&1; do
            i=$((i+1)); [ $i -lt 100 ] || exit 9; sleep 0.1
        done
        {lines}
        """),
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    codes = {}
    for line in done.stdout.splitlines():
        action, user, code = line.split()
        codes[f"{action} {user}"] = int(code)
    return codes


def test_polkit_lets_the_service_user_and_nobody_else_use_pcscd(tmp_path: Path) -> None:
    need(
        POLKITD.exists() and shutil.which("pkcheck") and shutil.which("dbus-daemon"),
        "polkitd, pkcheck or dbus-daemon is not installed (polkitd, dbus-daemon)",
    )
    need(can_unshare(), "a mount namespace needs root")
    assert _pkcheck(tmp_path, [POLKIT_RULE]) == {
        "access_pcsc cardcore": 0,
        "access_card cardcore": 0,
        "access_pcsc nobody": 1,  # pkcheck: 1 = not authorized
        "access_card nobody": 1,
    }
    # Without the rule the policy's defaults refuse the service user too.
    assert set(_pkcheck(tmp_path, []).values()) == {1}
