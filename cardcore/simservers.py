# Strategy: simulator mode's management servers (docs/architecture.md,
# issue 8): the configuration server and the key-loading server run
# in-process as real HTTPS servers with mutual TLS on loopback, under a TEST
# ONLY PKI generated on first use in <data-dir>/sim/pki. Their URLs are
# written to <data-dir>/sim/tms.url and keyserver.url so the activator
# (python -m tools.activator --simulator-data-dir DIR) can hand the terminal
# confdata for this configuration server, and the configuration server's
# common part points the terminal at this key server. With these, a
# zero-configuration `cardcore serve --simulator` runs the whole provisioning
# life cycle: runreset with the activator, updateconfiguration, loadmasterkeys.
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import trio

from acquirers.http import ServerConfig, serve, server_ssl_context
from acquirers.tms.configsim import ConfigServerSimulator, TerminalProfile
from acquirers.tms.keysim import KeyServerSimulator
from acquirers.tms.testpki import TestPki
from cardcore.storage import atomic_write, ensure_private_dir
from cardcore.terminal import Terminal

__all__ = ["ProvisioningSimulators", "run_provisioning_simulators"]

log = logging.getLogger(__name__)


@dataclass
class ProvisioningSimulators:
    pki: TestPki
    config_server: ConfigServerSimulator
    key_server: KeyServerSimulator
    tms_url: str
    key_url: str


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
        acquirer = terminal.config.acquirer
        config_sim.install(
            TerminalProfile(
                sn=terminal.devices.info.serial_number,
                key_server=key_url,
                acquirer_main=(acquirer.main.host, acquirer.main.port) if acquirer.main else None,
                acquirer_mirror=(
                    (acquirer.mirror.host, acquirer.mirror.port) if acquirer.mirror else None
                ),
            )
        )
        tms_port = await nursery.start(
            partial(serve, config_sim.router, port=0, config=ServerConfig(ssl_context=tms_tls))
        )
        tms_url = f"https://127.0.0.1:{tms_port}"
        atomic_write(sim_dir / "tms.url", f"{tms_url}\n".encode())
        atomic_write(sim_dir / "keyserver.url", f"{key_url}\n".encode())
        log.info("simulated configuration server %s, key server %s", tms_url, key_url)
        task_status.started(ProvisioningSimulators(pki, config_sim, key_sim, tms_url, key_url))
