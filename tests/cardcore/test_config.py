"""The configuration model's ranges: every numeric setting has one on its type,
and a value outside it stops the start-up with one line naming the key, the
value and the range."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from acquirers.sbp.config import SbpConfig
from cardcore.config import Config, ConfigError, ConfigRangeError, build_config
from cardcore.provisioning.errors import ProvisioningFormatError
from cardcore.terminal import Devices, Terminal
from hal.interfaces import DeviceInfo, NoKeypad

SBP = {"agent-url": "http://127.0.0.1:1", "terminal-id": "T1", "merchant-id": "M1"}
AID = {"aid": "A0000000031010"}


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            {"admin": {"lockout-initial": -5}},
            "configuration key 'admin.lockout-initial' is -5; allowed: 1 to 86400",
        ),
        (
            {"admin": {"lockout-initial": 60, "lockout-max": 30}},
            "configuration key 'admin.lockout-max' is 30;"
            " allowed: admin.lockout-initial (60) to 86400",
        ),
        (
            {"admin": {"scrypt-n": 16}},
            "configuration key 'admin.scrypt-n' is 16; allowed: 1024 to 1048576",
        ),
        (
            {"admin": {"scrypt-n": 3000}},
            "configuration key 'admin.scrypt-n' is 3000;"
            " allowed: a power of two from 1024 to 1048576",
        ),
        (
            {"admin": {"token-idle-timeout": -1}},
            "configuration key 'admin.token-idle-timeout' is -1; allowed: 0 to 86400",
        ),
        (
            {"acquirer": {"response-timeout": -1.5}},
            "configuration key 'acquirer.response-timeout' is -1.5; allowed: 0.1 to 600",
        ),
        (
            {"acquirer": {"connect-timeout": float("nan")}},
            "configuration key 'acquirer.connect-timeout' is nan; allowed: 0.1 to 600",
        ),
        (
            {"acquirer": {"retry-initial": 10, "retry-max": 5}},
            "configuration key 'acquirer.retry-max' is 5;"
            " allowed: acquirer.retry-initial (10) to 86400",
        ),
        (
            {"acquirer": {"mirror": {"host": "10.0.0.6", "port": 0}}},
            "configuration key 'acquirer.mirror.port' is 0; allowed: 1 to 65535",
        ),
        (
            {"server": {"port": 65536}},
            "configuration key 'server.port' is 65536; allowed: 0 to 65535",
        ),
        (
            {"server": {"max-packet": 0}},
            "configuration key 'server.max-packet' is 0; allowed: 4096 to 16777216",
        ),
        (
            {"server": {"max-connections": 0}},
            "configuration key 'server.max-connections' is 0; allowed: 1 to 65536",
        ),
        (
            {"server": {"secure-keys": -1}},
            "configuration key 'server.secure-keys' is -1; allowed: 1 to 1024",
        ),
        (
            {"terminal": {"currency": "RUB"}},
            "configuration key 'terminal.currency' is 'RUB';"
            " allowed: a 3-digit ISO 4217 numeric currency code",
        ),
        (
            {"terminal": {"currency": "6430"}},
            "configuration key 'terminal.currency' is '6430';"
            " allowed: a 3-digit ISO 4217 numeric currency code",
        ),
        (
            {"emv": {"terminal-type": 0x99}},
            "configuration key 'emv.terminal-type' is 0x99; allowed: 0x11 to 0x36",
        ),
        (
            {"emv": {"aids": [AID, AID | {"random-selection-target-percent": 100}]}},
            "configuration key 'emv.aids[1].random-selection-target-percent' is 100;"
            " allowed: 0 to 99",
        ),
        (
            {
                "emv": {
                    "aids": [
                        AID
                        | {
                            "random-selection-target-percent": 50,
                            "random-selection-max-percent": 20,
                        }
                    ]
                }
            },
            "configuration key 'emv.aids[0].random-selection-max-percent' is 20;"
            " allowed: emv.aids[0].random-selection-target-percent (50) to 99",
        ),
        (
            {"emv": {"aids": [AID | {"ctls-cvm-limit": -1}]}},
            "configuration key 'emv.aids[0].ctls-cvm-limit' is -1; allowed: 0 to 999999999999",
        ),
        (
            {"pinpad": {"vendor-id": 0x10000}},
            "configuration key 'pinpad.vendor-id' is 0x10000; allowed: 0x0000 to 0xFFFF",
        ),
        (
            {"sam": {"host-key": [{"name": "k", "entry": 128}]}},
            "configuration key 'sam.host-key[0].entry' is 128; allowed: 0 to 127",
        ),
        (
            {"readers": {"poll": 0}},
            "configuration key 'readers.poll' is 0; allowed: 0.1 to 60",
        ),
        (
            {"provisioning": {"max-document": 10}},
            "configuration key 'provisioning.max-document' is 10; allowed: 4096 to 67108864",
        ),
        (
            {"readers": {"driver": "usb"}},
            "configuration key 'readers.driver' is 'usb'; allowed: 'auto', 'none', 'pcsc' or 'sim'",
        ),
        (
            {"sbp": SBP | {"poll-interval": -1}},
            "configuration key 'sbp.poll-interval' is -1; allowed: 0.1 to 60",
        ),
    ],
)
def test_a_value_out_of_range_is_one_line(data: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigRangeError) as caught:
        build_config(data)
    assert caught.value.message == line


def test_the_wrong_type_still_names_the_type() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"server": {"port": "4433"}})
    assert caught.value.message == "configuration key 'server.port': Expected `int`, got `str`"
    assert not isinstance(caught.value, ConfigRangeError)


def test_values_at_the_bounds_are_accepted() -> None:
    config = build_config(
        {
            "server": {"port": 0, "max-packet": 4096, "max-connections": 1},
            "admin": {"scrypt-n": 2**20, "lockout-initial": 1, "lockout-max": 1},
            "acquirer": {"main": {"host": "h", "port": 65535}, "retry-initial": 7, "retry-max": 7},
            "terminal": {"currency": "978", "mcc": "5999"},
            "emv": {"terminal-type": 0x36, "aids": [AID | {"priority": 15}]},
        }
    )
    assert config.admin.scrypt_n == 2**20 and config.acquirer.retry_max == 7


def _numbers(t: mi.Type, path: str) -> list[tuple[str, mi.Type]]:
    """Every int and float setting under ``t``, with its dotted path."""
    if isinstance(t, mi.Metadata):
        return _numbers(t.type, path)
    if isinstance(t, mi.UnionType):
        return [n for u in t.types for n in _numbers(u, path)]
    if isinstance(t, mi.ListType):
        return _numbers(t.item_type, f"{path}[]")
    if isinstance(t, mi.StructType):
        return [n for f in t.fields for n in _numbers(f.type, f"{path}.{f.encode_name}")]
    if isinstance(t, mi.IntType | mi.FloatType):
        return [(path.lstrip("."), t)]
    return []


def test_every_numeric_setting_has_a_range() -> None:
    numbers = _numbers(mi.type_info(Config), "")
    paths = {path for path, _ in numbers}
    # The walk reaches the nested sections, the list items and the SBP section.
    assert {"acquirer.main.port", "emv.aids[].priority", "sam.host-key[].entry"} <= paths
    assert {"sbp.poll-interval", "admin.scrypt-n", "server.max-packet"} <= paths
    unbounded = [
        path
        for path, t in numbers
        if None in ((t.ge if t.ge is not None else t.gt), (t.le if t.le is not None else t.lt))
    ]
    assert unbounded == []


def test_the_defaults_are_in_range() -> None:
    defaults = Config(sbp=SbpConfig.from_mapping(SBP))
    assert build_config(msgspec.to_builtins(defaults)) == defaults


def test_the_management_servers_overlay_is_checked_too(tmp_path: Path) -> None:
    info = DeviceInfo("1", "M", "none", "none", "none", "none")
    terminal = Terminal(build_config({}), tmp_path, Devices(info=info, keypad=NoKeypad()))
    overlay = {"acquirer": {"main": {"host": "10.0.0.5", "port": 70000}}}
    with pytest.raises(ProvisioningFormatError) as caught:
        terminal.provisioned_config(overlay)
    assert caught.value.message == (
        "provisioned configuration refused:"
        " configuration key 'acquirer.main.port' is 70000; allowed: 1 to 65535"
    )


def test_kernel2_limits_with_and_without_on_device_cvm(tmp_path: Path) -> None:
    """DF8124 and DF8125 reach Kernel 2; Entry Point lets through what either allows."""
    aid = {"aid": "A0000000041010", "kernel-id": "02", "ctls-transaction-limit": 5000,
           "ctls-transaction-limit-cdcvm": 50000}  # fmt: skip
    info = DeviceInfo("1", "M", "x", "x", "x", "x")
    terminal = Terminal(build_config({"emv": {"aids": [aid]}}), tmp_path, Devices(info, NoKeypad()))
    (combination,) = terminal.contactless_config().combinations
    assert combination.transaction_limit == 50000
    assert combination.kernel2 is not None
    assert combination.kernel2.transaction_limit_no_on_device_cvm == 5000
    assert combination.kernel2.transaction_limit_on_device_cvm == 50000
    del aid["ctls-transaction-limit-cdcvm"]
    terminal.config = build_config({"emv": {"aids": [aid]}})
    (combination,) = terminal.contactless_config().combinations
    assert combination.transaction_limit == 5000 and combination.kernel2 is None
