# Strategy: the HAL drivers a terminal runs with, chosen by configuration
# ([readers], [pinpad], [sam]; DESIGN.md: cardcore wires everything). `auto`
# means the simulated driver with --simulator and the real one otherwise; a
# driver named explicitly is used in both modes, so `cardcore serve
# --simulator` with `[readers] driver = "pcsc"` runs the simulated hosts with
# real readers (bench testing). Real drivers are imported only when chosen:
# pyscard and pyusb are optional extras.
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from cardcore.config import Config, ReadersConfig
from hal.interfaces import CardInterface, CardReader

__all__ = ["Monitors", "apply_configured_drivers", "pcsc_readers", "reader_driver"]

log = logging.getLogger(__name__)

Monitor = Callable[..., Awaitable[None]]


@dataclass
class Monitors:
    """Background tasks of the drivers (hot-plug logging), for the root nursery."""

    tasks: list[Monitor] = field(default_factory=list)

    async def start(self, nursery: trio.Nursery) -> None:
        for task in self.tasks:
            await nursery.start(task)


def reader_driver(config: ReadersConfig, simulator: bool) -> str:
    if config.driver == "auto":
        return "sim" if simulator else "pcsc"
    return config.driver


def pcsc_readers(config: ReadersConfig) -> tuple[dict[CardInterface, CardReader], Monitor]:
    """The PC/SC readers of both interfaces and the stack's monitor task."""
    from hal.pcsc import PcscStack

    stack = PcscStack(poll=config.poll, settle=config.settle)
    try:
        atqa_sak = bytes.fromhex(config.atqa_sak_apdu) if config.atqa_sak_apdu else None
    except ValueError:
        from cardcore.config import ConfigError

        raise ConfigError("configuration key 'readers.atqa-sak-apdu' is not hex") from None
    readers: dict[CardInterface, CardReader] = {
        CardInterface.CONTACT: stack.reader(
            CardInterface.CONTACT,
            config.contact,
            exclude=[*config.contactless, *config.exclude],
        ),
        CardInterface.CONTACTLESS: stack.reader(
            CardInterface.CONTACTLESS,
            config.contactless,
            exclude=config.exclude,
            atqa_sak_apdu=atqa_sak,
        ),
    }
    return readers, stack.monitor


def apply_configured_drivers(
    readers: dict[CardInterface, CardReader], config: Config, simulator: bool
) -> Monitors:
    """Replace the simulated readers by the configured real ones where the
    configuration asks for them; returns the monitors to start."""
    monitors = Monitors()
    driver = reader_driver(config.readers, simulator)
    if driver == "pcsc":
        pcsc, monitor = pcsc_readers(config.readers)
        readers.clear()
        readers.update(pcsc)
        monitors.tasks.append(monitor)
        log.info(
            "card readers: PC/SC, contact %s, contactless %s",
            config.readers.contact,
            config.readers.contactless,
        )
    elif driver == "none":
        readers.clear()
        log.info("card readers: none configured")
    return monitors
