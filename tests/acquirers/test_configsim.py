"""The configuration server simulator's documents carry any value intact."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from acquirers.tms.configsim import TerminalProfile, default_documents


def test_attribute_values_are_escaped() -> None:
    odd = "a&b<c>d\"e'f"
    profile = TerminalProfile(
        sn="1",
        acquirer_id=odd,
        acquirer_main=(odd, 1),
        key_server=f"https://k/{odd}",
        pack="p",
    )
    common = ET.fromstring(default_documents(profile)["/common/cconf_p"])
    acquirer = common.find("acquirer")
    assert acquirer is not None and acquirer.get("id") == odd
    host = acquirer.find("host")
    assert host is not None and host.get("address") == odd
    loader = common.find("keyloader/host")
    assert loader is not None and loader.get("url") == f"https://k/{odd}"
