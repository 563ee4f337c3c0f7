"""What the terminal tells the host about a transaction, through the ECR on the simulator
terminal: the 0220 of an offline approval, the void's 0400 and the batch upload's 0320 all
say the same of the original (its MTI, batch number, approval and response codes), in
every dialect, with the host simulator speaking the dialect the terminal is configured
with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from acquirers.iso8583.codec import IsoMessage
from acquirers.iso8583.messages import parse_original_data
from cardcore.config import ConfigError, build_config
from hal.interfaces import CardInterface
from tests.cardcore.harness import Harness, simulated_terminal

PASSWORD = "12345678"
SMALL = {"type": "purchase", "amount": "000000001500"}  # under the contactless floor limit


def sent(h: Harness, mti: str) -> list[IsoMessage]:
    assert h.sim.host is not None
    return [m for m in h.sim.host.requests if m.mti == mti]


async def approve(h: Harness, **params: str) -> dict[str, Any]:
    answer = await h.transaction(**params)
    assert answer.status == "ok", answer.body
    receipt: dict[str, Any] = answer.body["receipt"]
    assert receipt["tstatus"] == "approved", receipt
    return receipt


@pytest.mark.parametrize("dialect", ["generic87", "iso87-binary", "iso87-ascii"])
async def test_offline_approval_void_and_upload_name_the_advice(
    tmp_path: Path, dialect: str
) -> None:
    async with simulated_terminal(tmp_path, {"acquirer": {"dialect": dialect}}) as h:
        assert h.sim.host is not None
        h.sim.slot.present("visa-qvsdc", CardInterface.CONTACTLESS)
        offline = await approve(h, **SMALL)
        await h.settle_pending()
        assert h.sim.host.dialect.name == dialect
        _, batch = await h.terminal.journal.open_batch()
        (advice,) = sent(h, "0220")
        assert advice.fields[39] == "Y1" and advice.fields[38] == "Y1    "
        assert advice.fields[60] == f"{batch:06d}"

        h.sim.slot.present("default", CardInterface.CONTACT)
        online = await approve(h, type="purchase", amount="000000010000")
        # A void of a receipt number is made with the original's card.
        h.sim.slot.present("visa-qvsdc", CardInterface.CONTACTLESS)
        await approve(h, type="void", number=offline["seq"])
        h.sim.slot.present("default", CardInterface.CONTACT)
        await approve(h, type="void", number=online["seq"], amount="000000001000")
        await h.settle_pending()
        void_offline, void_online = sent(h, "0400")
        (purchase,) = sent(h, "0200")
        for void, original in ((void_offline, advice), (void_online, purchase)):
            assert void.fields[60] == f"{batch:06d}"
            assert parse_original_data(void.text(90)) == (
                original.mti,
                original.text(11),
                original.text(7),
            )
        assert void_online.fields[38] == online["auth-number"].ljust(6)

        h.sim.host.control.reconciliation_mismatch = True
        answer = await h.connect().command("settlement", {"password": PASSWORD})
        assert answer.status == "ok", answer.body
        uploads = {parse_original_data(u.text(90))[0]: u for u in sent(h, "0320")}
        assert sorted(uploads) == ["0200", "0220"]
        assert (uploads["0220"].fields[39], uploads["0220"].fields[38]) == ("Y1", "Y1    ")
        assert uploads["0220"].fields[11] != advice.fields[11]  # the upload's own STAN
        assert parse_original_data(uploads["0220"].text(90))[1] == advice.fields[11]
        assert uploads["0200"].fields[39] == "00"


def test_the_configured_dialect_must_be_known() -> None:
    with pytest.raises(ConfigError, match="'tieto' is not one of generic87, iso87-ascii"):
        build_config({"acquirer": {"dialect": "tieto"}})
    config = build_config({"acquirer": {"dialect": "iso87-binary"}})
    assert config.acquirer.dialect == "iso87-binary"
