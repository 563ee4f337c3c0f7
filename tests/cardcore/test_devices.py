"""Driver selection by configuration ([readers]) and `cardcore sim vpcd`'s
command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cardcore.config import ConfigError, build_config
from cardcore.devices import apply_configured_drivers, reader_driver
from hal.interfaces import CardInterface, CardReader
from hal.sim.reader import SimCardReader, SimCardSlot

CONTACT, CONTACTLESS = CardInterface.CONTACT, CardInterface.CONTACTLESS


def sim_readers() -> dict[CardInterface, CardReader]:
    slot = SimCardSlot()
    return {i: SimCardReader(slot, i) for i in CardInterface}


@pytest.mark.parametrize(
    ("driver", "simulator", "expected"),
    [
        ("auto", True, "sim"),
        ("auto", False, "pcsc"),
        ("pcsc", True, "pcsc"),
        ("sim", False, "sim"),
        ("none", True, "none"),
    ],
)
def test_reader_driver(driver: str, simulator: bool, expected: str) -> None:
    config = build_config({"readers": {"driver": driver}})
    assert reader_driver(config.readers, simulator) == expected


def test_pcsc_readers_replace_the_simulated_ones() -> None:
    from hal.pcsc import PcscReader

    config = build_config(
        {
            "readers": {
                "driver": "pcsc",
                "contact": ["Gemalto*", "*"],
                "contactless": ["*PICC*"],
                "atqa-sak-apdu": "FFCAF00000",
                "poll": 0.5,
            }
        }
    )
    readers = sim_readers()
    monitors = apply_configured_drivers(readers, config, simulator=True)
    contact, contactless = readers[CONTACT], readers[CONTACTLESS]
    assert isinstance(contact, PcscReader) and isinstance(contactless, PcscReader)
    assert contact.selector.patterns == ("Gemalto*", "*")
    assert contact.selector.exclude == ("*PICC*", "*SAM*")
    assert contactless.selector.exclude == ("*SAM*",)
    assert contactless.atqa_sak_apdu == bytes.fromhex("FFCAF00000")
    assert contact.stack.poll == 0.5 and len(monitors.tasks) == 1
    names = ["ACS ACR1252 1S CL Reader [PICC] 00 00", "ACS ACR1252 1S CL Reader [SAM] 00 01"]
    assert contact.selector.choose(names) is None
    assert contactless.selector.choose(names) == names[0]


def test_simulated_and_no_readers() -> None:
    readers = sim_readers()
    assert not apply_configured_drivers(readers, build_config({}), simulator=True).tasks
    assert isinstance(readers[CONTACT], SimCardReader)
    apply_configured_drivers(readers, build_config({"readers": {"driver": "none"}}), True)
    assert readers == {}


def test_bad_atqa_sak_apdu() -> None:
    config = build_config({"readers": {"driver": "pcsc", "atqa-sak-apdu": "FFCAZZ"}})
    with pytest.raises(ConfigError, match="atqa-sak-apdu"):
        apply_configured_drivers(sim_readers(), config, simulator=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-card"], "unknown virtual card profile"),
        (["mifare-classic"], "contactless-only"),
        (["default", "--port", "70000"], "out of range"),
        (["default", "--interface", "mifare"], "invalid choice"),
    ],
)
def test_sim_vpcd_refuses_bad_arguments(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cardcore", "sim", "vpcd", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
