# Strategy: simulator mode's management servers (docs/architecture.md,
# issue 8): the configuration server and the key-loading server run
# in-process as real HTTPS servers with mutual TLS on loopback, under a TEST
# ONLY PKI generated on first use in <data-dir>/sim/pki. Their URLs are
# written to <data-dir>/sim/tms.url and keyserver.url so the activator
# (cardcore-activator --simulator-data-dir DIR) can hand the terminal
# confdata for this configuration server, and the configuration server's
# common part points the terminal at this key server. With these, a
# zero-configuration `cardcore serve --simulator` runs the whole provisioning
# life cycle: runreset with the activator, updateconfiguration,
# loadmasterkeys, and the first sale.
# What the server provisions is a Config overlay (`sim_overlay`: the
# merchant, the simulated acquirer host and key server, the embedded EMV
# applications with their contactless parameters, a CA key), written into
# documents by the same table the terminal reads them with
# (cardcore.provisioning.documents.build). `ProvisioningSimulators.update`
# changes it as an operator would: the parts that change get a new stage.
# `cardcore sim tms set|command|status` drives it (`tms_control`).
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import msgspec
import trio

from acquirers.http import ServerConfig, serve, server_ssl_context
from cardcore.config import EmvConfig, merge_config_data
from cardcore.provisioning import documents
from cardcore.storage import atomic_write, ensure_private_dir
from cardcore.terminal import Terminal
from simulators.control import ControlError
from simulators.tms.configsim import ConfigServerSimulator
from simulators.tms.keysim import KEY_TYPES, KeyServerSimulator
from simulators.tms.testpki import TestPki

__all__ = ["ProvisioningSimulators", "run_provisioning_simulators", "sim_overlay", "tms_control"]

log = logging.getLogger(__name__)

PACK = "sim"
FIRST_STAGE = "24-01-01.01"

# A CA public key entry in the EMV Book 2 11.2 layout (test data; the checksum
# is computed, so the terminal's checksum rule is exercised).
_TEST_CAPK = (
    "A000000003",
    "92",
    "996AF56F569187D09293C14810450ED8EE3357397B18A2458EFAA92DA3B6DF6514EC060195318FD43BE9B8F0CC669E3F844057CBDDF8BDA191BB64473BC8DC9A730DB8F6B4EDE3924186FFD9B8C7735789C23A36BA0B8AF65372EB57EA5D89E7D14E9C7B6B557460F10885DA16AC923F15AF3758F0F03EBD3C5C2C949CBA306DB44E6A2C076C5F67E281D7EF56785DC4D75945E491F01918800A9E2DC66F60080566CE0DAF8D17EAD46AD8E30A247C9F",
    "03",
)


def _test_ca_key() -> dict[str, str]:
    rid, index, modulus, exponent = _TEST_CAPK
    checksum = hashlib.sha1(bytes.fromhex(rid + index + modulus + exponent)).hexdigest()  # noqa: S324
    return {"rid": rid, "index": index, "modulus": modulus, "exponent": exponent,
            "checksum": checksum.upper()}  # fmt: skip


def sim_overlay(terminal: Terminal, key_url: str) -> dict[str, Any]:
    """What the simulated server provisions the simulated terminal with."""
    acquirer = terminal.config.acquirer
    emv: dict[str, Any] = msgspec.to_builtins(EmvConfig())
    for local in ("simulator-ca-keys", "data-exchange-tags"):
        emv.pop(local)
    emv["ca-keys"] = [_test_ca_key()]
    hosts = {
        role: {"host": host.host, "port": host.port}
        for role, host in (("main", acquirer.main), ("mirror", acquirer.mirror))
        if host is not None
    }
    return {
        "terminal": {
            "tid": "00000001",
            "mid": "000000000000001",
            "mcc": "5411",
            "merchant-name-location": "CARDCORE TEST SHOP MOSCOW",
            "acquirer-id": "simacq",
        },
        "acquirer": {"dialect": "generic87", "tls": False, **hosts},
        "provisioning": {"key-server-main": key_url},
        "emv": emv,
    }


def _next_stage(stage: str) -> str:
    head, _, counter = stage.rpartition(".")
    return f"{head}.{int(counter) + 1:02d}" if counter.isdigit() else f"{stage}.01"


@dataclass
class ProvisioningSimulators:
    pki: TestPki
    config_server: ConfigServerSimulator
    key_server: KeyServerSimulator
    tms_url: str
    key_url: str
    sn: str = ""
    overlay: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, str] = field(default_factory=dict)

    def serve_overlay(self, overlay: dict[str, Any]) -> list[str]:
        """Serve ``overlay`` from now on; the parts that change get a new
        stage (the terminal fetches only those). The parts that changed."""
        old = self.config_server.documents
        fresh = documents.build(overlay, sn=self.sn, pack=PACK, stages=self.stages)
        changed = []
        for path, body in fresh.items():
            part = "terminal" if path.startswith("/terminals/") else path.rpartition("/")[2]
            part = part.removesuffix(f"_{PACK}")
            if part in (*documents.KNOWN_ROOTS, "terminal") and old.get(path) != body:
                if path in old:
                    self.stages[part] = _next_stage(self.stages.get(part, FIRST_STAGE))
                changed.append(part)
        self.overlay = overlay
        self.config_server.documents.update(
            documents.build(overlay, sn=self.sn, pack=PACK, stages=self.stages)
        )
        return changed

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Lay ``changes`` (an overlay) over what is served."""
        return self.serve_overlay(merge_config_data(self.overlay, changes))


async def run_provisioning_simulators(
    terminal: Terminal,
    *,
    task_status: trio.TaskStatus[ProvisioningSimulators] = trio.TASK_STATUS_IGNORED,
) -> None:
    sim_dir = ensure_private_dir(terminal.data_dir / "sim")
    pki = await trio.to_thread.run_sync(TestPki, sim_dir / "pki")
    key_pair = await trio.to_thread.run_sync(pki.server_pair, "keyloader-ca", "keyserver")
    tms_pair = await trio.to_thread.run_sync(pki.server_pair, "tms-root", "tms")
    key_sim = KeyServerSimulator()
    config_sim = ConfigServerSimulator()
    key_tls = server_ssl_context(
        key_pair.cert_file, key_pair.key_file, client_ca_file=pki.ca_file("keyloader-ca")
    )
    tms_tls = server_ssl_context(
        tms_pair.cert_file, tms_pair.key_file, client_ca_file=pki.ca_file("config-client-ca")
    )
    async with trio.open_nursery() as nursery:
        key_port = await nursery.start(
            partial(serve, key_sim.router, port=0, config=ServerConfig(ssl_context=key_tls))
        )
        key_url = f"https://127.0.0.1:{key_port}/keyrequest"
        tms_port = await nursery.start(
            partial(serve, config_sim.router, port=0, config=ServerConfig(ssl_context=tms_tls))
        )
        tms_url = f"https://127.0.0.1:{tms_port}"
        sims = ProvisioningSimulators(
            pki, config_sim, key_sim, tms_url, key_url, sn=terminal.devices.info.serial_number,
            stages=dict.fromkeys(("terminal", *documents.KNOWN_ROOTS), FIRST_STAGE),
        )  # fmt: skip
        sims.serve_overlay(sim_overlay(terminal, key_url))
        atomic_write(sim_dir / "tms.url", f"{tms_url}\n".encode())
        atomic_write(sim_dir / "keyserver.url", f"{key_url}\n".encode())
        log.info("simulated configuration server %s, key server %s", tms_url, key_url)
        task_status.started(sims)


def _assignment(text: str) -> dict[str, Any]:
    """KEY=VALUE as an overlay; VALUE is JSON (true, 5, ["9F02"]) or else text."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ControlError(f"'{text}' is not KEY=VALUE")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    overlay: dict[str, Any] = {}
    target = overlay
    *sections, name = key.split(".")
    for section in sections:
        target = target.setdefault(section, {})
    target[name] = value
    return overlay


def tms_control(terminal: Terminal) -> Any:
    """The `cardcore sim tms` handler: `set KEY=VALUE...` changes what the
    server provisions, `command CODE` issues a remote-management command for
    the terminal's next poll, `status` shows the commands and their results."""

    async def handler(request: dict[str, Any]) -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        sims: ProvisioningSimulators | None = terminal.simulators
        if sims is None:
            raise ControlError("the simulated management servers are not running (yet)")
        action, args = request.get("action"), [str(a) for a in request.get("args") or []]
        server = sims.config_server
        if action == "set":
            changes: dict[str, Any] = {}
            for text in args:
                changes = merge_config_data(changes, _assignment(text))
            try:
                changed = sims.update(changes)
            except ValueError as exc:
                raise ControlError(str(exc)) from None
            return {"changed": changed, "stages": dict(sims.stages)}
        if action == "command":
            if len(args) != 1:
                raise ControlError("tms command takes one command code")
            try:
                command = server.issue(args[0], sims.sn)
            except ValueError as exc:
                raise ControlError(str(exc)) from None
            return command.as_dict()
        if action == "status":
            return {"commands": [c.as_dict() for c in server.commands], "polls": server.polls,
                    "stages": dict(sims.stages)}  # fmt: skip
        if action == "keys":
            return _key_server_keys(sims.key_server, args)
        raise ControlError("tms action must be set, command, status or keys")

    return handler


def _key_server_keys(server: KeyServerSimulator, args: list[str]) -> dict[str, Any]:
    """`tms keys`: TYPE=HEX[/NAME] adds or replaces a key of one of the
    manual's types (a name goes in its <name>: the SAM host key, type 0A),
    bad-kcv=TYPE,... announces a wrong KCV for those types (empty: none).
    Every argument is checked before any takes effect."""
    keys: dict[str, bytes] = {}
    names: dict[str, str] = {}
    bad_kcv: set[str] | None = None
    for text in args:
        tag, sep, value = text.partition("=")
        if not sep:
            raise ControlError(f"tms keys: '{text}' is not TYPE=HEX[/NAME] or bad-kcv=TYPE,...")
        if tag == "bad-kcv":
            bad_kcv = {_key_type(t) for t in value.split(",") if t.strip()}
            continue
        code = _key_type(tag)
        material, _, name = value.partition("/")
        try:
            keys[code] = bytes.fromhex(material)
        except ValueError:
            raise ControlError(f"tms keys: the key of type {tag} is not hex") from None
        if name:
            names[code] = name
    server.keys.update(keys)
    server.names.update(names)
    if bad_kcv is not None:
        server.bad_kcv = bad_kcv
    return {"keys": sorted(server.keys), "bad-kcv": sorted(server.bad_kcv)}


def _key_type(text: str) -> str:
    """A key type code of the manual, upper-case; anything else is refused."""
    code = text.strip().upper()
    if code not in KEY_TYPES:
        known = ", ".join(KEY_TYPES)
        raise ControlError(f"tms keys: unknown key type '{text}'; the manual's types: {known}")
    return code
