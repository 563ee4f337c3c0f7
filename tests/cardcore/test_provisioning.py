"""Activation, configuration updates and master-key loading through the ECR,
against the bundled activator and the configuration/key-server simulators
(real TCP and HTTPS with mutual TLS on loopback). Every failure path must
leave the data dir byte for byte and getparameters as they were."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from acquirers.tls import server_tls_context
from base.crypto.des import kcv_tdes
from cardcore.app import build_commands
from cardcore.config import HostConfig, build_config
from cardcore.keystore import FileMasterKeySource, KeyStore
from cardcore.protocol.xmlcodec import Message, decode_error_stack
from cardcore.server import EcrServer
from cardcore.terminal import Devices, Terminal
from hal.interfaces import DeviceInfo
from simulators.devices.keypad import SimKeypad
from simulators.servers import ProvisioningSimulators, run_provisioning_simulators
from simulators.testkeys import load_test_keys
from tests.acquirers.conftest import make_ledger, start_sim
from tests.cardcore.ecr import RawPeer
from tools.activator.core import ActivationResult, Faults, activate

INFO = DeviceInfo("000000000009", "M2100", "1.5.3", "2.0.1", "Linux test", "1.0.4")


@dataclass
class Env:
    terminal: Terminal
    sims: ProvisioningSimulators
    port: int

    async def peer(self) -> RawPeer:
        return RawPeer(await trio.open_tcp_stream("127.0.0.1", self.port))

    async def command(self, name: str, body: dict[str, Any] | None = None) -> Message:
        peer = await self.peer()
        async with peer.stream:
            return await peer.command(Message(name, body or {}))

    async def token(self) -> str:
        answer = await self.command("login", {"password": "12345678"})
        token = answer.body["token"]
        assert isinstance(token, str)
        return token

    async def parameters(self, token: str) -> dict[str, str]:
        answer = await self.command("getparameters", {"token": token})
        assert answer.status == "ok"
        params = answer.body["parameters"]
        assert isinstance(params, dict)
        return params

    def activator_port(self) -> int:
        addr = self.terminal.data_dir / "run" / "activator.addr"
        return int(addr.read_text().split()[1])

    async def activate(
        self, faults: Faults | None = None, token: str | None = None
    ) -> ActivationResult:
        with trio.fail_after(60):
            return await activate(
                "127.0.0.1",
                self.port,
                self.activator_port,
                self.sims.pki,
                self.sims.tms_url,
                faults=faults,
                token=token,
            )


@asynccontextmanager
async def environment(tmp_path: Path) -> AsyncIterator[Env]:
    config_data: dict[str, Any] = {
        "admin": {"scrypt-n": 1024},
        "server": {"listen": "127.0.0.1", "port": 0, "activator-port": 0},
        "acquirer": {"main": {"host": "127.0.0.1", "port": 9}},
    }
    config = build_config(config_data)
    data_dir = tmp_path / "data"
    (data_dir / "run").mkdir(parents=True)
    terminal = Terminal(
        config, data_dir, Devices(INFO, SimKeypad()), simulator=True, config_data=config_data
    )
    await terminal.start()
    terminal.start_host()
    server = EcrServer(config.server, build_commands(terminal), terminal.keyring)
    async with trio.open_nursery() as nursery:
        sims = await nursery.start(run_provisioning_simulators, terminal)
        listeners = await nursery.start(partial(server.serve, "127.0.0.1", 0))
        yield Env(terminal, sims, listeners[0].socket.getsockname()[1])
        nursery.cancel_scope.cancel()


def snapshot(data_dir: Path) -> dict[str, str]:
    """Every file's SHA-256 and every link's target under the data dir."""
    out: dict[str, str] = {}
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(data_dir))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


async def test_life_cycle_factory_to_master_keys(tmp_path: Path) -> None:
    async with environment(tmp_path) as env:
        token = await env.token()
        factory = await env.parameters(token)
        assert factory["tconf"] == "none" and factory["cccert"] == "none"
        assert not env.terminal.activated

        result = await env.activate()
        assert result.status == "ok", result
        assert result.reset_status == "ok"
        assert result.sn == INFO.serial_number
        assert result.keepalive_indicators[0] == "0"
        assert result.max_length_byte < 0x80  # signed-length reading never saw a negative byte
        generation = env.terminal.generation
        assert env.terminal.activated
        assert result.cert_pem is not None
        assert result.cert_pem.encode() == generation.read("keyloader-client.crt")
        key_file = generation.read("keyloader-client.key") or b""
        assert b"ENCRYPTED PRIVATE KEY" in key_file
        assert (generation.path / "keyloader-client.key").stat().st_mode & 0o077 == 0
        assert not (env.terminal.data_dir / "run" / "activator.addr").exists()

        # Activated: runreset needs the token now.
        refused = await env.command("runreset")
        assert refused.status == "notauthorized"

        answer = await env.command("updateconfiguration", {"token": token})
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        params = await env.parameters(token)
        assert params["tid"] == "00000001"
        assert params["mid"] == "000000000000001"
        assert (params["tconf"], params["ntconf"]) == ("24-01-01.01", "sim_terminal")
        assert (params["econf"], params["neconf"]) == ("24-01-01.01", "sim_emv")
        assert (params["kconf"], params["nkconf"]) == ("24-01-01.01", "sim_ca_keys")
        assert (params["cconf"], params["ncconf"]) == ("24-01-01.01", "sim_common")
        assert params["acqid"] == "simacq"
        assert params["cshost"] == "127.0.0.1" and params["kshost"] == "127.0.0.1"
        assert params["ashost"] == "127.0.0.1" and params["as-main-host"] == "127.0.0.1"
        for name in ("cccert", "ccert", "csca", "accert", "asca", "kccert", "ksca"):
            assert len(params[name].split(".")) == 3, name
        cfg = env.terminal.config
        assert cfg.terminal.mcc == "5411"
        assert cfg.terminal.merchant_name_location == "CARDCORE TEST SHOP MOSCOW"
        # The embedded applications, with their contactless parameters.
        assert [(a.aid, a.kernel_id) for a in cfg.emv.aids] == [
            ("A0000000031010", "03"),
            ("A0000000032010", "03"),
            ("A0000000041010", "02"),
            ("A0000006581010", "C10643"),
        ]
        assert cfg.emv.aids == build_config({}).emv.aids
        assert cfg.emv.ca_keys[0].index == "92"

        # Nothing changed on the server: nothing fetched beyond terminal + header, nothing written.
        before = snapshot(env.terminal.data_dir)
        env.sims.config_server.requests.clear()
        assert (await env.command("updateconfiguration", {"token": token})).status == "ok"
        assert len(env.sims.config_server.requests) == 2
        assert snapshot(env.terminal.data_dir) == before

        # A new EMV stage: only that part is fetched.
        docs = env.sims.config_server.documents
        for path in ("/common/header_sim", "/common/econf_sim"):
            docs[path] = docs[path].replace(b'stage="24-01-01.01"', b'stage="24-02-02.02"', 1)
        header = docs["/common/header_sim"].decode()
        docs["/common/header_sim"] = (
            header.replace(
                'name="sim_emv" stage="24-01-01.01"', 'name="sim_emv" stage="24-02-02.02"'
            )
            .replace(
                'name="sim_common" stage="24-02-02.02"', 'name="sim_common" stage="24-01-01.01"'
            )
            .encode()
        )
        env.sims.config_server.requests.clear()
        assert (await env.command("updateconfiguration", {"token": token})).status == "ok"
        assert "/common/econf_sim" in env.sims.config_server.requests
        assert "/common/kconf_sim" not in env.sims.config_server.requests
        assert (await env.parameters(token))["econf"] == "24-02-02.02"

        answer = await env.command("loadmasterkeys", {"token": token})
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        master = load_test_keys().master
        receipt = answer.body["receipt"]
        assert receipt["pkcv"] == kcv_tdes(master.pin).hex().upper()
        assert receipt["mkcv"] == kcv_tdes(master.mac).hex().upper()
        keys = receipt["keys"]["key"]
        assert {k["type"] for k in keys} == {"05", "03"}
        assert all(k["algorithm"] == "01" and k["result"] == "success" for k in keys)
        assert {k["kcv-method"] for k in keys} == {"tdes-encrypt-zeros"}
        assert env.terminal.provisioned_keys.get("tmk-pin") == master.pin
        assert env.terminal.provisioned_keys.get("tmk-mac") == master.mac
        keys_json = (env.terminal.generation.path / "keys.json").read_bytes()
        assert master.pin.hex().encode() not in keys_json.lower()


@pytest.mark.parametrize("mode", ["tr31", "rsa-pkcs1"])
async def test_master_keys_other_wrappings(tmp_path: Path, mode: str) -> None:
    async with environment(tmp_path) as env:
        token = await env.token()
        assert (await env.activate()).status == "ok"
        assert (await env.command("updateconfiguration", {"token": token})).status == "ok"
        env.sims.key_server.mode = mode
        answer = await env.command("loadmasterkeys", {"token": token})
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        assert env.terminal.provisioned_keys.get("tmk-pin") == load_test_keys().master.pin
        assert ("kbpk" in env.terminal.provisioned_keys) == (mode == "tr31")


async def test_master_keys_from_the_mirror_when_the_main_server_fails(tmp_path: Path) -> None:
    async with environment(tmp_path) as env:
        token = await env.token()
        assert (await env.activate()).status == "ok"
        url = env.sims.key_url
        # The main key server answers 404 (wrong path): an error answer, not
        # a connection failure; the mirror is asked next.
        env.sims.update(
            {
                "provisioning": {
                    "key-server-main": url.replace("/keyrequest", "/gone"),
                    "key-server-mirror": url,
                }
            }
        )
        assert (await env.command("updateconfiguration", {"token": token})).status == "ok"
        answer = await env.command("loadmasterkeys", {"token": token})
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        assert len(env.sims.key_server.requests) == 1
        assert env.terminal.provisioned_keys.get("tmk-pin") == load_test_keys().master.pin


@pytest.mark.parametrize("tls", [True, False])
async def test_acquirer_link_over_tls_with_the_activation_certificate(
    tmp_path: Path, tls: bool
) -> None:
    async with environment(tmp_path) as env, trio.open_nursery() as nursery:
        token = await env.token()
        assert (await env.activate()).status == "ok"
        pki = env.sims.pki
        server = pki.server_pair("acquirer-ca", "acquirer-host")
        # The host accepts only clients with a certificate of the acquirer CA.
        context = server_tls_context(
            server.cert_file, server.key_file, client_ca_file=pki.ca_file("acquirer-ca")
        )
        host, port = await start_sim(nursery, ssl_context=context, ledger=make_ledger())
        env.sims.update({"acquirer": {"main": {"host": "127.0.0.1", "port": port}, "tls": tls}})
        assert (await env.command("updateconfiguration", {"token": token})).status == "ok"
        assert env.terminal.config.acquirer.tls is tls
        answer = await env.command("testconnection", {"token": token})
        if tls:
            assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
            assert host.counts.get("0800", 0) >= 1
        else:  # a clear link to a TLS host fails
            assert answer.status == "communicationerror"
        nursery.cancel_scope.cancel()


async def test_acquirer_tls_auto_is_plain_before_activation_and_tls_after(
    tmp_path: Path,
) -> None:
    async with environment(tmp_path) as env, trio.open_nursery() as nursery:
        token = await env.token()
        pki = env.sims.pki
        server = pki.server_pair("acquirer-ca", "acquirer-host")
        context = server_tls_context(
            server.cert_file, server.key_file, client_ca_file=pki.ca_file("acquirer-ca")
        )
        host, port = await start_sim(nursery, ssl_context=context, ledger=make_ledger())
        config = env.terminal.config
        assert config.acquirer.tls == "auto"  # nobody set it: the default
        config = msgspec.structs.replace(
            config,
            acquirer=msgspec.structs.replace(
                config.acquirer, main=HostConfig(host="127.0.0.1", port=port)
            ),
            terminal=msgspec.structs.replace(config.terminal, tid="00000001", mid="1"),
        )
        env.terminal.reconfigure(config)
        link = env.terminal.host.link
        assert link is not None and link.config.tls is None  # no certificate yet: plain TCP
        assert (await env.activate()).status == "ok"  # the link is rebuilt: now TLS
        link = env.terminal.host.link
        assert link is not None and link.config.tls is not None
        answer = await env.command("testconnection", {"token": token})
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        assert host.counts.get("0800", 0) >= 1
        nursery.cancel_scope.cancel()


async def test_acquirer_tls_before_activation_says_why_there_is_no_link(tmp_path: Path) -> None:
    async with environment(tmp_path) as env:
        config = msgspec.structs.replace(
            env.terminal.config,
            acquirer=msgspec.structs.replace(env.terminal.config.acquirer, tls=True),
            terminal=msgspec.structs.replace(env.terminal.config.terminal, tid="1", mid="2"),
        )
        env.terminal.reconfigure(config)
        assert env.terminal.host.link is None
        assert "not activated" in (env.terminal.host.unavailable or "")


ACTIVATION_FAILURES = [
    ("bad confdata signature", Faults(bad_signature=True), "verificationfailed"),
    ("cert not matching the key", Faults(wrong_key_for="keyloader"), "verificationfailed"),
    (
        "activator disconnects",
        Faults(disconnect_after="signkeyloaderclientcertificate"),
        "communicationerror",
    ),
    ("keepalive cancelled", Faults(keepalive_status="cancelled"), "cancelled"),
]


@pytest.mark.parametrize(
    ("what", "faults", "status"), ACTIVATION_FAILURES, ids=[c[0] for c in ACTIVATION_FAILURES]
)
async def test_activation_failure_leaves_terminal_as_it_was(
    tmp_path: Path, what: str, faults: Faults, status: str
) -> None:
    async with environment(tmp_path) as env:
        token = await env.token()
        params, files = await env.parameters(token), snapshot(env.terminal.data_dir)
        result = await env.activate(faults)
        assert result.status == status, what
        assert result.errors["runreset"], what  # the activator can say why
        assert not env.terminal.activated
        assert snapshot(env.terminal.data_dir) == files
        assert await env.parameters(token) == params


async def test_reactivation_failure_keeps_the_activated_state(tmp_path: Path) -> None:
    async with environment(tmp_path) as env:
        token = await env.token()
        assert (await env.activate()).status == "ok"
        assert (await env.command("updateconfiguration", {"token": token})).status == "ok"
        assert (await env.command("loadmasterkeys", {"token": token})).status == "ok"
        params, files = await env.parameters(token), snapshot(env.terminal.data_dir)
        result = await env.activate(Faults(wrong_key_for="acquirer"), token=token)
        assert result.status == "verificationfailed"
        assert snapshot(env.terminal.data_dir) == files
        assert await env.parameters(token) == params
        assert env.terminal.provisioned_keys.get("tmk-pin") == load_test_keys().master.pin


async def test_reactivation_forgets_the_previous_working_keys(tmp_path: Path) -> None:
    async with environment(tmp_path) as env:
        token = await env.token()
        assert (await env.activate()).status == "ok"
        store = env.terminal.keystore
        store.put("tpk", bytes(range(16)), "tdes")
        store.put("tak", bytes(range(16, 32)), "tdes")
        store.put("sam-host:shop", bytes(16), "aes")
        dek = store.get("journal-dek")
        assert (await env.activate(token=token)).status == "ok"
        assert sorted(store.names()) == ["journal-dek", "journal-pan-hash"]
        assert store.get("journal-dek") == dek  # the journal stays readable
        assert env.terminal.host.working_keys() is None
        reopened = KeyStore(
            store.path, FileMasterKeySource(tmp_path / "data" / "device-master.key")
        )
        assert "tpk" not in reopened


def _break_econf(env: Env, body: bytes) -> None:
    docs = env.sims.config_server.documents
    docs["/common/econf_sim"] = body
    docs["/common/header_sim"] = docs["/common/header_sim"].replace(
        b'name="sim_emv" stage="24-01-01.01"', b'name="sim_emv" stage="24-09-09.09"'
    )


def _unsigned_ca_key(env: Env) -> None:
    """The CA key part without its Book 2 11.2.2 checksum."""
    docs = env.sims.config_server.documents
    docs["/common/kconf_sim"] = re.sub(
        rb' checksum="[0-9A-F]+"', b"", docs["/common/kconf_sim"]
    ).replace(b'stage="24-01-01.01"', b'stage="24-09-09.09"')
    docs["/common/header_sim"] = docs["/common/header_sim"].replace(
        b'name="sim_ca_keys" stage="24-01-01.01"', b'name="sim_ca_keys" stage="24-09-09.09"'
    )


CONFIG_FAILURES = [
    ("CA key without checksum", _unsigned_ca_key, "formaterror"),
    ("TMS down", lambda env: setattr(env.sims.config_server, "down", True), "communicationerror"),
    (
        "malformed include",
        lambda env: _break_econf(env, b'<econf name="sim_emv" stage="24-09-09.09"><application'),
        "formaterror",
    ),
    (
        "invalid AID in include",
        lambda env: _break_econf(
            env,
            b'<econf name="sim_emv" stage="24-09-09.09"><applications><application>'
            b'<tag name="9F06">A0</tag></application></applications></econf>',
        ),
        "formaterror",
    ),
    (
        "include stage differs from header",
        lambda env: _break_econf(
            env, b'<econf name="sim_emv" stage="other"><application aid="A0000000031010"/></econf>'
        ),
        "formaterror",
    ),
]


@pytest.mark.parametrize(
    ("what", "breaker", "status"), CONFIG_FAILURES, ids=[c[0] for c in CONFIG_FAILURES]
)
async def test_configuration_failure_leaves_terminal_as_it_was(
    tmp_path: Path, what: str, breaker: Any, status: str
) -> None:
    async with environment(tmp_path) as env:
        token = await env.token()
        assert (await env.activate()).status == "ok"
        assert (await env.command("updateconfiguration", {"token": token})).status == "ok"
        params, files = await env.parameters(token), snapshot(env.terminal.data_dir)
        config = env.terminal.config
        breaker(env)
        answer = await env.command("updateconfiguration", {"token": token})
        assert answer.status == status, (what, decode_error_stack(answer.body.get("error-stack")))
        assert snapshot(env.terminal.data_dir) == files
        assert await env.parameters(token) == params
        assert env.terminal.config is config


@pytest.mark.parametrize(
    ("mode", "status"), [("bad-kcv", "verificationfailed"), ("refuse", "failed")]
)
async def test_key_loading_failure_leaves_terminal_as_it_was(
    tmp_path: Path, mode: str, status: str
) -> None:
    async with environment(tmp_path) as env:
        token = await env.token()
        assert (await env.activate()).status == "ok"
        assert (await env.command("updateconfiguration", {"token": token})).status == "ok"
        params, files = await env.parameters(token), snapshot(env.terminal.data_dir)
        env.sims.key_server.mode = mode
        answer = await env.command("loadmasterkeys", {"token": token})
        assert answer.status == status
        assert snapshot(env.terminal.data_dir) == files
        assert await env.parameters(token) == params
        assert "tmk-pin" not in env.terminal.provisioned_keys


async def test_commands_before_activation_are_refused(tmp_path: Path) -> None:
    async with environment(tmp_path) as env:
        token = await env.token()
        assert (await env.command("updateconfiguration", {"token": token})).status == "missingdata"
        assert (await env.command("loadmasterkeys", {"token": token})).status == "missingdata"
        assert (
            await env.command("updateconfiguration", {"token": "0" * 32})
        ).status == "notauthorized"
