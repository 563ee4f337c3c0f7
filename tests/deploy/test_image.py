"""install.sh into a clean Debian 12 root file system made by debootstrap
(minbase with python3, libpcsclite1, and systemd, pcscd and vsmartcard's vpcd
for the second test: no pip, no ensurepip, no compiler), as an image build
does it: `install.sh --root ROOTFS --wheelhouse DIR`. Inside that root the
`cardcore` system user runs the installed terminal and a purchase through it.
Then the root boots its own systemd (PID 1 of a container made with unshare
and pivot_root), which runs the installed unit with its whole sandbox: READY
with its status, the log under its syslog tag, pcscd's readers, a purchase
with a virtual card through pcscd, a restart by the watchdog of a stopped
loop, and a clean stop."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.conftest import PCSC
from tests.deploy.helpers import INSTALL, MAX_EXPOSURE, can_unshare, exposure, need

pytestmark = [
    pytest.mark.slow,
    pytest.mark.image,  # several minutes of downloads: make image (which make test runs)
]
SUITE = "bookworm"  # Debian 12
# python3 without python3-venv; systemd and the readers for the boot test.
PACKAGES = ["python3", "libpcsclite1", "systemd", "pcscd", "vsmartcard-vpcd"]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    need(shutil.which("debootstrap"), "debootstrap is not installed (.ci/run installs it)")
    need(can_unshare(), "chroot and a mount namespace need root")
    root = tmp_path_factory.mktemp("rootfs")
    done = subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root)],
        capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    root.chmod(0o755)  # its "/": pytest makes its directories 0700
    yield root
    # Half a gigabyte: not kept among pytest's last three runs. Its mounts lived
    # in the namespaces of the processes that made them, all gone by now.
    shutil.rmtree(root)


def _in_root(root: Path, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``script`` under chroot, with /dev and /proc of a mount namespace of its own;
    a PID namespace, so that nothing it started outlives it."""
    (root / "tmp/script.sh").write_text(textwrap.dedent(script))
    return subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "sh", "-ec",
         f"mount --rbind /dev {root}/dev && mount -t proc proc {root}/proc && "
         f"exec chroot {root} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "
         "HOME=/root LANG=C.UTF-8 /bin/sh -eu /tmp/script.sh"],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_install_into_a_clean_debian_12_root(rootfs: Path, wheelhouse: Path) -> None:
    bare = _in_root(rootfs, "python3 -c 'import ensurepip' || echo no-ensurepip")
    assert "no-ensurepip" in bare.stdout  # the venv's pip comes from the wheelhouse
    done = subprocess.run(
        ["sh", str(INSTALL), "--root", str(rootfs), "--wheelhouse", str(wheelhouse),
         "--extras", "pcsc,usb" if PCSC else "usb", "--enable"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert not list((rootfs / "tmp").glob("cardcore-install.*"))  # its staging, removed

    user = _in_root(rootfs, "getent passwd cardcore")
    name, _, uid, gid, _, home, shell = user.stdout.strip().split(":")
    assert (name, home, shell) == ("cardcore", "/var/lib/cardcore", "/usr/sbin/nologin")
    assert int(uid) < 1000  # a system user
    state, conf = rootfs / "var/lib/cardcore", rootfs / "etc/cardcore"
    for path, mode, owner in [
        (state, 0o700, (int(uid), int(gid))),
        (conf, 0o750, (0, int(gid))),
        (conf / "cardcore.toml", 0o640, (0, int(gid))),
    ]:
        st = path.stat()
        assert (stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)) == (mode, owner), path
    unit = rootfs / "etc/systemd/system/cardcore.service"
    assert "ExecStart=/opt/cardcore/bin/cardcore serve --config /etc/cardcore/cardcore.toml" in (
        unit.read_text()
    )
    assert "StateDirectory=cardcore\n" in unit.read_text()
    if shutil.which("systemd-analyze"):
        score, line = exposure(unit)
        assert score <= MAX_EXPOSURE, line
    assert (rootfs / "etc/polkit-1/rules.d/60-cardcore-pcscd.rules").exists()
    assert (rootfs / "etc/udev/rules.d/60-cardcore-pinpad.rules").exists()
    assert (rootfs / "etc/sysusers.d/cardcore.conf").exists()

    # The service user runs the installed terminal and a purchase through it.
    (rootfs / "tmp/fast.toml").write_text("[admin]\nscrypt-n = 1024\n")
    os.chmod(rootfs / "tmp/fast.toml", 0o644)
    run = _in_root(
        rootfs,
        """
        as_cardcore="setpriv --reuid=cardcore --regid=cardcore --init-groups"
        # setpriv becomes cardcore (exec): $! is the terminal's PID.
        $as_cardcore /opt/cardcore/bin/cardcore serve --simulator --port 0 \\
            --data-dir /var/lib/cardcore --config /tmp/fast.toml --acons >/tmp/serve.log 2>&1 &
        serve=$!
        trap 'kill $serve 2>/dev/null || true' EXIT
        i=0
        while [ ! -e /var/lib/cardcore/run/ecr.addr ]; do
            i=$((i+1)); [ $i -lt 600 ] || { cat /tmp/serve.log; exit 9; }; sleep 0.1
        done
        code=0
        $as_cardcore /opt/cardcore/bin/cardcore client transaction --type purchase \\
            --amount 000000010000 --data-dir /var/lib/cardcore --json || code=$?
        echo "purchase exit $code"
        kill -TERM $serve
        code=0; wait $serve || code=$?
        echo "serve exit $code"
        ls -ln /var/lib/cardcore/journal.sqlite
        """,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"tstatus": "approved"' in run.stdout
    assert "purchase exit 0" in run.stdout and "serve exit 0" in run.stdout, run.stdout
    assert f"-rw------- 1 {uid} {gid} " in run.stdout  # the journal: the service user's alone
    if PCSC:  # pyscard, built elsewhere, loads against the root's libpcsclite
        scard = _in_root(rootfs, "/opt/cardcore/bin/python -c 'import smartcard.scard'")
        assert scard.returncode == 0, scard.stderr


# --- the root's own systemd ------------------------------------------------------
BOOT = """
set -e
mount --make-rprivate /
mount --bind {root} {root}
mount -t proc proc {root}/proc
mount --rbind /sys {root}/sys
mount --rbind /dev {root}/dev
mount -t tmpfs tmpfs {root}/run
mount -t tmpfs tmpfs {root}/tmp
mkdir -p {root}/oldroot
cd {root}
pivot_root . oldroot
umount -l /oldroot
exec /usr/bin/env -i container=cardcore-test /lib/systemd/systemd --system --log-target=console
"""
DROP_IN = """[Service]
ExecStart=
ExecStart=/opt/cardcore/bin/cardcore serve --simulator --port 0 --config /etc/cardcore/test.toml \\
    --data-dir /var/lib/cardcore
WatchdogSec=3
# a stopped process takes SIGABRT only when continued: SIGKILL after 3 s, not 30
TimeoutAbortSec=3
"""
TEST_CONFIG = """[admin]
scrypt-n = 1024
[readers]
driver = "pcsc"
[pinpad]
driver = "sim"
"""


class Container:
    """systemd as PID 1 of new PID, mount, UTS, IPC, network (systemd brings up
    its loopback) and cgroup namespaces over the root."""

    def __init__(self, root: Path, log: Path) -> None:
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "--cgroup",
             "sh", "-c", BOOT.format(root=root)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.pid1 = self._pid1()

    def _pid1(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = children.read_text().split() if children.exists() else []
            if found and Path(f"/proc/{found[0]}/exe").resolve().name == "systemd":
                return int(found[0])
            assert self.process.poll() is None, "the container did not start"
            time.sleep(0.1)
        raise AssertionError("systemd did not start in the container")

    def run(self, script: str, timeout: float = 120) -> str:
        done = subprocess.run(
            # every namespace of the container: its loopback too (-n)
            ["nsenter", "-t", str(self.pid1), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
             "sh", "-euc", script],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert done.returncode == 0, f"{script}\n{done.stdout}{done.stderr}"
        return done.stdout

    def show(self, *props: str) -> dict[str, str]:
        args = " ".join(f"-p {p}" for p in props)
        lines = self.run(f"systemctl show cardcore.service {args}").splitlines()
        return dict(line.split("=", 1) for line in lines)

    def close(self) -> None:
        # SIGKILL to the namespace's PID 1 ends every process in it.
        os.kill(self.pid1, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def container(rootfs: Path, tmp_path: Path) -> Iterator[Container]:
    need(shutil.which("nsenter"), "nsenter is not installed (util-linux)")
    assert (rootfs / "opt/cardcore/bin/cardcore").exists(), "install first (the test above)"
    drop_in = rootfs / "etc/systemd/system/cardcore.service.d/test.conf"
    drop_in.parent.mkdir(exist_ok=True)
    drop_in.write_text(DROP_IN)
    (rootfs / "etc/cardcore/test.toml").write_text(TEST_CONFIG)
    os.chmod(rootfs / "etc/cardcore/test.toml", 0o644)
    assert (rootfs / "etc/systemd/system/multi-user.target.wants/cardcore.service").is_symlink()
    box = Container(rootfs, tmp_path / "console.log")
    try:
        yield box
    finally:
        box.close()


def _wait_for(box: Container, what: str, ok: object, timeout: float = 90) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = box.show("ActiveState", "SubState", "StatusText", "MainPID", "NRestarts")
        except AssertionError as booting:  # systemctl before systemd's own bus is up
            state = {"error": str(booting)}
        if ok(state):  # type: ignore[operator]
            return state
        assert time.monotonic() < deadline, f"{what}: {state}"
        time.sleep(0.3)


def test_the_unit_under_the_root_s_own_systemd(container: Container) -> None:
    box = container
    # Type=notify: active only once READY=1 came, with the address as its status.
    up = _wait_for(box, "started", lambda s: s.get("StatusText", "").startswith("listening on "))
    assert (up["ActiveState"], up["SubState"]) == ("active", "running")
    host, port = box.run("cat /var/lib/cardcore/run/ecr.addr").split()
    assert up["StatusText"] == f"listening on {host}:{port}"
    assert box.run("stat -c %U /proc/$(systemctl show -p MainPID --value cardcore)") == (
        "cardcore\n"
    )
    # The log reaches journald through /dev/log under the syslog tag, with the PID.
    pid = up["MainPID"]
    log = box.run("journalctl --no-pager -o cat -t cardcore _PID=" + pid)
    assert "cardcore.sdnotify INFO service manager watchdog: every 1.5 s" in log
    # pcscd's socket through the sandbox: vpcd's readers, then a purchase with a
    # virtual card in one of them.
    deadline = time.monotonic() + 30
    while "PC/SC readers: Virtual PCD 00 00" not in log:
        assert time.monotonic() < deadline, log
        time.sleep(0.3)
        log = box.run("journalctl --no-pager -o cat -t cardcore _PID=" + pid)
    answer = box.run(
        """
        /opt/cardcore/bin/cardcore sim vpcd default >/tmp/vpcd.log 2>&1 & card=$!
        trap 'kill $card' EXIT
        sleep 2
        /opt/cardcore/bin/cardcore client transaction --type purchase --amount 000000010000 \\
            --data-dir /var/lib/cardcore --json
        """
    )
    assert '"tstatus": "approved"' in answer
    log = box.run("journalctl --no-pager -o cat -t cardcore _PID=" + pid)
    assert "card in Virtual PCD 00 00" in log
    # A loop that stops answering: the watchdog (3 s) kills it, systemd restarts it.
    box.run(f"kill -STOP {pid}")
    again = _wait_for(
        box, "restarted by the watchdog",
        lambda s: s.get("NRestarts") == "1" and s["StatusText"].startswith("listening on "),
    )  # fmt: skip
    assert again["MainPID"] != pid
    # A clean stop: STOPPING=1, exit code 0, run/ emptied.
    box.run("systemctl stop cardcore.service")
    stopped = box.show("ActiveState", "Result", "ExecMainStatus")
    assert stopped == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}
    assert box.run("ls /var/lib/cardcore/run") == ""
