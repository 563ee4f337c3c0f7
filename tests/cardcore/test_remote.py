"""Remote management through the configuration server's poll (real HTTPS with
mutual TLS on loopback): each command of the server runs and its result goes
back with the next poll; device operations wait for the device lock."""

from __future__ import annotations

import logging
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import msgspec
import trio

from cardcore.logs import LogRing
from cardcore.provisioning.remote import RemoteManagement, parse_answer
from simulators.tms.configsim import RemoteCommand
from tests.cardcore.test_provisioning import Env, environment


async def _ready(env: Env) -> str:
    token = await env.token()
    assert (await env.activate()).status == "ok"
    assert (await env.command("updateconfiguration", {"token": token})).status == "ok"
    return token


async def _round_trip(env: Env, remote: RemoteManagement, code: str) -> RemoteCommand:
    """The server issues ``code``; the terminal polls, runs it, reports."""
    command = env.sims.config_server.issue(code, env.sims.sn)
    received = await remote.poll()
    assert received is not None and (received.code, received.id) == (code, command.id)
    remote.result = await remote.execute(received)
    assert await remote.poll() is None
    assert command.state == "done"
    return command


def _payload(command: RemoteCommand) -> ET.Element:
    assert command.payload is not None
    return ET.fromstring(command.payload)


async def test_info_getlog_and_update_round_trip(tmp_path: Path) -> None:
    ring = LogRing(size=50)
    logging.getLogger().addHandler(ring)
    try:
        async with environment(tmp_path) as env:
            await _ready(env)
            remote = RemoteManagement(env.terminal, trio.Lock(), ring)

            info = await _round_trip(env, remote, "info")
            assert info.status == "ok"
            params = _payload(info).find("parameters")
            assert params is not None
            assert params.findtext("sn") == "000000000009"
            assert params.findtext("tid") == "00000001"
            assert params.findtext("econf") == "24-01-01.01"

            logging.getLogger("cardcore.test").warning("card 4111111111111111 seen")
            got = await _round_trip(env, remote, "getlog")
            lines = [el.text or "" for el in _payload(got).iter("line")]
            assert any("************1111 seen" in line for line in lines)
            assert not any("4111111111111111" in line for line in lines)

            env.sims.update(
                {"interfaces": {"mifare": True}, "transaction": {"data-exchange": True}}
            )
            assert not env.terminal.config.interfaces.mifare
            update = await _round_trip(env, remote, "update")
            assert update.status == "ok", update.payload
            assert [el.text for el in _payload(update).iter("part")] == ["cconf"]
            assert env.terminal.config.interfaces.mifare
            assert env.terminal.config.transaction.data_exchange

            keys = await _round_trip(env, remote, "loadkeys")
            assert keys.status == "ok", keys.payload
            assert _payload(keys).findtext("receipt/pkcv")
            assert "tmk-pin" in env.terminal.provisioned_keys
    finally:
        logging.getLogger().removeHandler(ring)


async def test_a_remote_update_waits_for_the_device(tmp_path: Path) -> None:
    async with environment(tmp_path) as env:
        await _ready(env)
        lock = trio.Lock()
        remote = RemoteManagement(env.terminal, lock, LogRing())
        env.sims.update({"acquirer": {"bank-name": "REMOTE BANK"}})
        command = env.sims.config_server.issue("update", env.sims.sn)
        received = await remote.poll()
        assert received is not None
        async with trio.open_nursery() as nursery:
            await lock.acquire()  # a transaction runs
            nursery.start_soon(remote.execute, received)
            await trio.sleep(0.3)
            assert env.terminal.config.acquirer.bank_name != "REMOTE BANK"
            lock.release()
        assert env.terminal.config.acquirer.bank_name == "REMOTE BANK"
        assert command.state == "sent"  # reported with the next poll


async def test_updatesoftware_needs_the_configured_command(tmp_path: Path) -> None:
    async with environment(tmp_path) as env:
        await _ready(env)
        remote = RemoteManagement(env.terminal, trio.Lock(), LogRing())
        refused = await _round_trip(env, remote, "updatesoftware")
        assert refused.status == "notimplemented"
        assert "software-update-command" in (_payload(refused).findtext("message") or "")
        # The program gets the server's <appmap> on its standard input.
        check = (
            "import sys; sys.exit(0 if b'<name>cardcore</name>' in sys.stdin.buffer.read() else 3)"
        )
        config = env.terminal.config
        provisioning = msgspec.structs.replace(
            config.provisioning, software_update_command=[sys.executable, "-c", check]
        )
        env.terminal.reconfigure(msgspec.structs.replace(config, provisioning=provisioning))
        done = await _round_trip(env, remote, "updatesoftware")
        assert done.status == "ok", done.payload


async def test_the_poll_loop_reports_at_once_and_survives_a_server_outage(
    tmp_path: Path,
) -> None:
    async with environment(tmp_path) as env:
        await _ready(env)
        config = env.terminal.config
        provisioning = msgspec.structs.replace(config.provisioning, poll_interval=0.05)
        env.terminal.reconfigure(msgspec.structs.replace(config, provisioning=provisioning))
        env.terminal.ready.set()
        remote = RemoteManagement(env.terminal, trio.Lock(), LogRing())
        server = env.sims.config_server
        async with trio.open_nursery() as nursery:
            await nursery.start(remote.run)
            server.down = True
            command = server.issue("info", env.sims.sn)
            await trio.sleep(0.3)
            assert command.state == "pending"
            server.down = False
            with trio.fail_after(10):
                while True:
                    if command.state == "done":
                        break
                    await trio.sleep(0.02)
            assert command.status == "ok"
            nursery.cancel_scope.cancel()


def test_the_servers_answer_in_both_forms() -> None:
    older = parse_answer(b"<tm><cmd><code>info</code></cmd><id>7</id></tm>")
    newer = parse_answer(b"<tm><cmd>info</cmd><id>7</id></tm>")
    assert older is not None and newer is not None
    assert (older.code, older.id) == (newer.code, newer.id) == ("info", "7")
    assert parse_answer(b"<tm/>") is None


async def test_a_defect_in_a_command_is_reported_not_raised(tmp_path: Path) -> None:
    async with environment(tmp_path) as env:
        remote = RemoteManagement(env.terminal, trio.Lock(), LogRing())

        async def broken(command: object) -> tuple[str, dict[str, str]]:
            raise RuntimeError("a defect")

        remote._info = broken  # type: ignore[method-assign]
        info = parse_answer(b"<tm><cmd>info</cmd><id>9</id></tm>")
        reboot = parse_answer(b"<tm><cmd>reboot</cmd><id>10</id></tm>")
        assert info is not None and reboot is not None
        result = await remote.execute(info)
        assert (result.id, result.status) == ("9", "systemerror")
        assert (await remote.execute(reboot)).status == "notimplemented"
