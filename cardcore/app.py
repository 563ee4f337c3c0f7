# Strategy: process start-up for `cardcore serve` (docs/architecture.md): one
# root nursery owns the ECR listener, the simulator
# control socket, the host-link background work, device monitors and the
# remote-management poll of the configuration server. The bound
# address is written to <data-dir>/run/ecr.addr once the listener is up, so
# scripts and tests can start the server on port 0 and find it; with a
# virtual terminal page (--ui-port) its address goes to run/ui.addr the same
# way, before ecr.addr, so whoever waits for ecr.addr finds both. Whatever
# stops the start-up is raised as one StartupError in the words of the
# meaningful leaf of trio's exception groups (docs/conventions.md: one line, exit 2);
# only an unexpected exception's traceback goes to the log. What leaves the
# terminal open on the network (card data over plain TCP, the factory
# administrator password on a reachable listener) is a warning at start-up.
from __future__ import annotations

import ipaddress
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from base.errors import CardcoreError
from cardcore.auth import DEFAULT_PASSWORD
from cardcore.commands import admin, endofday, provisioning, sam, transaction
from cardcore.config import Config
from cardcore.connection import Command
from cardcore.datalock import DataDirLock, lock_data_dir
from cardcore.devices import apply_configured_drivers
from cardcore.errors import StartupError
from cardcore.provisioning.credentials import holds_identity
from cardcore.sdnotify import Notifier
from cardcore.server import EcrServer
from cardcore.storage import atomic_write, ensure_private_dir, make_private_tree
from cardcore.terminal import Devices, Terminal, os_version
from hal.interfaces import DeviceInfo, NoKeypad

__all__ = [
    "ServeOptions",
    "build_commands",
    "build_terminal",
    "describe_failure",
    "serve",
    "startup_warnings",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    config: Config
    data_dir: Path
    simulator: bool
    # The local configuration before validation (file + command line); the
    # provisioned overlay is laid over it. None: taken from `config`.
    config_data: dict[str, Any] | None = None
    # The journal is lost for good: start a new one (cardcore.terminal).
    new_journal: bool = False
    # The virtual terminal page (simulator mode): its port (0: a free one),
    # None: no page; its address, None: the ECR listener's.
    ui_port: int | None = None
    ui_listen: str | None = None


def _devices(config: Config, simulator: bool) -> Devices:
    info = DeviceInfo(
        serial_number=config.device.serial_number,
        model=config.device.model,
        firmware_mcu=config.device.firmware_mcu,
        firmware_boot=config.device.firmware_boot,
        os=os_version(),
        sdk=config.device.sdk,
    )
    if simulator:
        from simulators.devices.keypad import SimKeypad

        return Devices(info=info, keypad=SimKeypad())
    return Devices(info=info, keypad=NoKeypad())


def build_terminal(options: ServeOptions) -> Terminal:
    # The journal, keys and password hash: the service user's alone, even in a
    # data dir made or copied by hand with looser modes.
    opened = make_private_tree(options.data_dir)
    if opened:
        names = ", ".join(str(p.relative_to(options.data_dir)) for p in opened[:5])
        more = f" and {len(opened) - 5} more" if len(opened) > 5 else ""
        log.warning(
            "data dir %s was open to other users; restricted to the service user: %s%s",
            options.data_dir, names or ".", more,
        )  # fmt: skip
    ensure_private_dir(options.data_dir / "run")
    from simulators.devices.pki import load_ca_keys

    return Terminal(
        config=options.config,
        data_dir=options.data_dir,
        devices=_devices(options.config, options.simulator),
        simulator=options.simulator,
        config_data=options.config_data,
        accept_new_journal=options.new_journal,
        test_ca_keys=load_ca_keys,
    )


def build_commands(terminal: Terminal) -> dict[str, Command]:
    table: dict[str, Command] = {}
    table.update(admin.commands(terminal))
    table.update(transaction.commands(terminal))
    table.update(sam.commands(terminal))
    table.update(provisioning.commands(terminal))
    table.update(endofday.commands(terminal))
    return table


async def _stop_on_signals(scope: trio.CancelScope, notifier: Notifier) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("signal %s: shutting down", signal.Signals(signum).name)
            notifier.stopping()
            scope.cancel()
            return


async def serve(
    options: ServeOptions, notifier: Notifier | None = None, held: DataDirLock | None = None
) -> None:
    """Run the terminal until SIGTERM or SIGINT; a failure before it is up
    (run/ecr.addr written) is raised as StartupError. The data dir is locked
    first (unless the caller ``held`` its lock already): a second terminal on
    it stops here, touching nothing (DataDirBusy). ``notifier`` tells the
    service manager (default: as the environment says)."""
    notifier = Notifier() if notifier is None else notifier
    with held or lock_data_dir(options.data_dir):
        up = trio.Event()
        try:
            await _serve(options, up, notifier)
        except Exception as exc:
            if up.is_set():
                raise
            raise StartupError(describe_failure(exc, "cannot start")) from None
        finally:
            notifier.stopping()


def describe_failure(exc: BaseException, what: str) -> str:
    """One line for ``exc``: the first of the leaves of trio's exception
    groups that says something (our own errors, then the OS's). An unexpected
    exception is logged as ``what`` with its traceback; the line says so."""
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, CardcoreError):
            return leaf.message
    for leaf in leaves:
        if isinstance(leaf, OSError):
            reason = leaf.strerror or str(leaf)
            return f"{leaf.filename}: {reason}" if leaf.filename else reason
    leaf = leaves[0]
    text = f"unexpected {type(leaf).__name__}: {leaf}"
    log.error("%s: %s", what, text, exc_info=leaf)
    return f"{text} (details in the log)"


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def _serve(options: ServeOptions, up: trio.Event, notifier: Notifier) -> None:
    terminal = build_terminal(options)
    await terminal.start()
    server = EcrServer(options.config.server, build_commands(terminal), terminal.keyring)
    addr_file = options.data_dir / "run" / "ecr.addr"
    ui_addr_file = options.data_dir / "run" / "ui.addr"
    try:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_stop_on_signals, scope, notifier)
                # From the loop itself: a loop that hangs stops the WATCHDOG=1s.
                nursery.start_soon(notifier.run_watchdog)
                where = await _run(terminal, server, nursery, options, addr_file)
                up.set()
                notifier.ready(f"listening on {where}")
    finally:
        addr_file.unlink(missing_ok=True)
        ui_addr_file.unlink(missing_ok=True)
        terminal.close()


async def _run(
    terminal: Terminal,
    server: EcrServer,
    nursery: trio.Nursery,
    options: ServeOptions,
    addr_file: Path,
) -> str:
    """Start everything; returns "HOST:PORT", the address written to addr_file."""
    # The listener opens first; the host link, the simulated parties and crash
    # recovery follow, and device operations wait for them (terminal.ready).
    server.ready = terminal.ready
    listeners = await nursery.start(server.serve)
    host, port = listeners[0].socket.getsockname()[:2]
    mode = "simulator" if options.simulator else "terminal"
    terminal.start_host()
    if options.simulator:
        from simulators.simulator import Simulator, simulator_config

        sim = terminal.sim = Simulator()
        sim.seed_keys(terminal)
        sim.install_devices(terminal)
        sim_port = await sim.start_host(nursery, terminal, durable=True)
        sbp_port = await sim.start_sbp(nursery)
        terminal.reconfigure(simulator_config(terminal.config, sim_port, sbp_port))
        await sim.serve_control(terminal, nursery)
        # The management servers (and their test PKI, generated on first use)
        # come up in the background: only activation and configuration need them.
        nursery.start_soon(_provisioning_simulators, terminal)
    monitors = apply_configured_drivers(terminal, options.simulator)
    await monitors.start(nursery)
    from cardcore.engine.recovery import recover, register_senders

    register_senders(terminal)
    await recover(terminal)
    await nursery.start(terminal.host.run)
    from cardcore.provisioning.remote import RemoteManagement

    # The configuration server's remote commands; device operations share the ECR's lock.
    terminal.remote = RemoteManagement(terminal, server.device_lock)
    await nursery.start(terminal.remote.run)
    for warning in startup_warnings(terminal):
        log.warning("%s", warning)
    terminal.ready.set()
    if options.simulator and options.ui_port is not None:
        await _start_ui(terminal, nursery, options)
    # Scripts and tests wait for this file: everything is up when it appears.
    atomic_write(addr_file, f"{host} {port}\n".encode())
    log.info("cardcore %s (%s mode) listening on %s:%d", terminal.app_version, mode, host, port)
    return f"{host}:{port}"


async def _start_ui(terminal: Terminal, nursery: trio.Nursery, options: ServeOptions) -> None:
    """The virtual terminal page; its address goes to run/ui.addr ("HOST PORT")."""
    from simulators.ui import UiOptions, serve_ui

    listen = options.ui_listen or terminal.config.server.listen
    ui = UiOptions(host=listen, port=options.ui_port or 0, open_to_network=bool(options.ui_listen))
    host, port = await nursery.start(serve_ui, terminal, terminal.sim, ui)
    atomic_write(options.data_dir / "run" / "ui.addr", f"{host} {port}\n".encode())
    if not _loopback(listen) and not options.ui_listen:
        log.warning(
            "the virtual terminal page on %s:%d is read-only from other machines"
            " (--ui-listen ADDRESS lets them act on it)", host, port,
        )  # fmt: skip


def startup_warnings(terminal: Terminal) -> list[str]:
    """What leaves the terminal open to the network as configured."""
    config = terminal.config
    warnings = []
    listen = config.server.listen
    if terminal.auth.factory_password and not _loopback(listen):
        warnings.append(
            f"the administrator password is the factory default {DEFAULT_PASSWORD} and the"
            f" ECR listener {listen} is reachable from the network: change it"
            " (cardcore client changepassword)"
        )
    acquirer = config.acquirer
    if not terminal.acquirer_tls_on(config):
        # The simulator's own host speaks plain TCP on loopback, activated or not.
        held = holds_identity(terminal.generation, "acquirer") and not terminal.simulator
        if acquirer.tls is False and held:
            warnings.append(
                "acquirer.tls = false although activation gave the terminal an acquirer client"
                " certificate: the acquirer link runs plain TCP"
            )
        hosts = (acquirer.main, acquirer.mirror)
        remote = [f"{h.host}:{h.port}" for h in hosts if h is not None and not _loopback(h.host)]
        if remote:
            why = " until the terminal is activated" if acquirer.tls == "auto" else " (tls = false)"
            warnings.append(
                f"the acquirer link to {', '.join(remote)} is plain TCP{why}: card numbers and"
                " track 2 cross the network unencrypted"
            )
    return warnings


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may well resolve to another machine


async def _provisioning_simulators(terminal: Terminal) -> None:
    """The simulated management servers; only activation and configuration
    need them, so their failure (a full disk while their test PKI is made,
    say) is logged and the terminal serves on without them."""
    from simulators.servers import run_provisioning_simulators

    try:
        async with trio.open_nursery() as nursery:
            terminal.simulators = await nursery.start(run_provisioning_simulators, terminal)
    except* (OSError, CardcoreError) as group:
        log.error(
            "simulated management servers stopped; activation and configuration updates are "
            "unavailable: %s",
            "; ".join(str(exc) for exc in group.exceptions),
        )
