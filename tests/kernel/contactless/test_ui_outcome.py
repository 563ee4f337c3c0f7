"""UI requests (Book A 9.2, 'DF8116') and outcome parameter sets (Book A 6.2, 'DF8129')."""

from __future__ import annotations

import pytest

from kernel.contactless import (
    AlternateInterface,
    OutcomeCvm,
    OutcomeKind,
    OutcomeParameters,
    Start,
    UiRequest,
    UiStatus,
    ValueQualifier,
)
from kernel.services import MessageId
from tests.kernel.contactless.helpers import H


def test_ui_request_encoding_and_display_fields() -> None:
    ui = UiRequest(
        MessageId.APPROVED,
        UiStatus.NOT_READY,
        hold_time=13,
        language="ruen",
        value_qualifier=ValueQualifier.AMOUNT,
        value=150_000,
        currency=643,
    )
    assert ui.encode() == H("03000000137275656E00000000100000001500000643")
    assert len(ui.encode()) == 22
    assert ui.display_fields() == {
        "code": "03",
        "language": "ruen",
        "status": "00",
        "hold-time": "000013",
        "value-qualifier": "10",
        "value": "000000150000",
        "currency": "643",
    }
    # the value observed in a real Kernel 2 data record: clear display, card read OK
    card_read = UiRequest(MessageId.CLEAR_DISPLAY, UiStatus.CARD_READ_SUCCESSFULLY, language="enfr")
    assert card_read.encode() == H("1E04000000656E667200000000000000000000000000")


@pytest.mark.parametrize(
    ("status", "lights", "tone"),
    [
        (UiStatus.NOT_READY, (False, False, False, False), None),
        (UiStatus.READY_TO_READ, (True, False, False, False), None),
        (UiStatus.PROCESSING, (True, True, False, False), None),
        (UiStatus.CARD_READ_SUCCESSFULLY, (True, True, True, True), "success"),
        (UiStatus.PROCESSING_ERROR, (False, False, False, False), "alert"),
    ],
)
def test_lights_per_status(
    status: UiStatus, lights: tuple[bool, bool, bool, bool], tone: str | None
) -> None:
    got = UiRequest(MessageId.PRESENT_CARD, status).lights
    assert got is not None
    assert (got.lights, got.tone) == (lights, tone)
    assert UiRequest(MessageId.PRESENT_CARD, UiStatus.NOT_APPLICABLE).lights is None
    idle = UiRequest(MessageId.WELCOME, UiStatus.IDLE).lights
    assert idle is not None and idle.blinking


def test_outcome_parameter_set_encoding() -> None:
    # a value seen in a Kernel 2 data record: online request, no CVM, UI + data record
    online = OutcomeParameters(
        OutcomeKind.ONLINE_REQUEST,
        cvm=OutcomeCvm.NO_CVM,
        ui_on_outcome=UiRequest(MessageId.AUTHORISING_PLEASE_WAIT, UiStatus.NOT_READY),
        data_record=True,
        discretionary_data=True,
    )
    assert online.encode() == H("30F0F000B0F0FF00")
    see_phone = OutcomeParameters(
        OutcomeKind.END_APPLICATION,
        start=Start.B,
        ui_on_outcome=UiRequest(MessageId.SEE_PHONE, UiStatus.NOT_READY, hold_time=13),
        ui_on_restart=UiRequest(MessageId.PRESENT_CARD_AGAIN, UiStatus.READY_TO_READ),
        field_off_hold_time=13,
    )
    assert see_phone.encode() == H("4010F0F0C0F00D00")
    other = OutcomeParameters(
        OutcomeKind.TRY_ANOTHER_INTERFACE,
        alternate_interface=AlternateInterface.CONTACT_CHIP,
        receipt=True,
    )
    assert other.encode() == H("60F0F0F00810FF00")
