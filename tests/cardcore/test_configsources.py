"""`cardcore config show`'s data: every key's effective value and its source,
defaults < local file < management server."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardcore.config import ConfigError
from cardcore.configsources import Setting, config_sources, effective_config
from cardcore.provisioning.store import ProvisioningStore


def test_the_server_wins_over_the_file_and_the_file_over_the_defaults() -> None:
    local = {"terminal": {"tid": "11111111", "header-lines": ["SHOP"]},
             "acquirer": {"bank-name": "LOCAL BANK"}}  # fmt: skip
    server = {"terminal": {"tid": "00000001"}, "interfaces": {"mifare": True}}
    settings = config_sources(local, server)
    assert settings["terminal.tid"] == Setting("00000001", "server")
    assert settings["interfaces.mifare"] == Setting(True, "server")
    assert settings["terminal.header-lines"] == Setting(["SHOP"], "file")
    assert settings["acquirer.bank-name"] == Setting("LOCAL BANK", "file")
    assert settings["server.port"] == Setting(4433, "default")
    assert settings["sbp"] == Setting(None, "default")
    assert settings["emv.aids"].source == "default" and len(settings["emv.aids"].value) == 4
    # Every key of the model is listed once.
    assert "acquirer.main" in settings and "device.serial-number" in settings


def test_a_clash_between_the_layers_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="retry-max"):
        config_sources({"acquirer": {"retry-max": 10}}, {"acquirer": {"retry-initial": 20}})


def test_effective_config_reads_the_file_and_the_provisioned_overlay(tmp_path: Path) -> None:
    config = tmp_path / "cardcore.toml"
    config.write_text('[terminal]\ntid = "22222222"\nmid = "LOCAL"\n')
    data_dir = tmp_path / "data"
    # Never provisioned (no data dir at all): no server layer, nothing created.
    assert effective_config(config, data_dir)["terminal.mid"] == Setting("LOCAL", "file")
    assert not data_dir.exists()
    store = ProvisioningStore(data_dir)
    store.open()
    with store.stage() as staging:
        staging.set_overlay({"terminal": {"mid": "SERVER"}})
        store.publish(staging)
    settings = effective_config(config, data_dir, {"server.port": 0})
    assert settings["terminal.mid"] == Setting("SERVER", "server")
    assert settings["terminal.tid"] == Setting("22222222", "file")
    assert settings["server.port"] == Setting(0, "file")
