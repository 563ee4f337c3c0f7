"""The terminal's keys as a person presses them: the simulated PIN pad and
keypad wait for them while someone is at the terminal, and answer on their
own otherwise; the PIN pad shows how many digits were typed, never which."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from base.crypto.des import tdes_ecb_decrypt
from base.crypto.pinblock import decode_iso0, decode_iso2
from kernel.errors import PinEntryBypassed, PinPadError
from simulators.devices.changes import Changes
from simulators.devices.display import SimDisplay
from simulators.devices.indicators import SimIndicators
from simulators.devices.keypad import SimKeypad
from simulators.devices.keys import KEYS, TerminalKeys
from simulators.devices.pinpad import SimPinPad

TPK = bytes.fromhex("0123456789ABCDEFFEDCBA98765432100123456789ABCDEF")
PAN = "4761739001010010"


def pad(keys: TerminalKeys) -> SimPinPad:
    return SimPinPad(lambda: "1234", lambda: TPK, keys=keys)


async def until_waiting(keys: TerminalKeys, what: str) -> None:
    while keys.waiting != what:
        await keys.changes.wait(keys.changes.count)


async def press_when_waiting(keys: TerminalKeys, presses: str | list[str], what: str) -> None:
    await until_waiting(keys, what)
    for key in presses:
        assert keys.press(key), key
        await trio.sleep(0.01)


def test_a_key_pressed_while_nothing_waits_is_dropped() -> None:
    keys = TerminalKeys()
    assert keys.press("5") is False
    with pytest.raises(ValueError, match="no key"):
        keys.press("#")
    assert set(KEYS) == {*"0123456789", "cancel", "clear", "ok"}


async def test_unattended_the_simulated_cardholder_types_at_once() -> None:
    keys = TerminalKeys()
    block = await pad(keys).offline_pin(100, 643, 3, timeout=60)
    assert decode_iso2(block) == "1234"
    assert keys.waiting is None


async def test_attended_offline_pin_is_what_the_person_types(nursery: trio.Nursery) -> None:
    keys = TerminalKeys()
    pinpad = pad(keys)
    typed: list[int | None] = []

    async def person() -> None:
        await press_when_waiting(keys, ["9", "8", "7", "clear", "6", "5"], "pin")
        typed.append(pinpad.typed)
        await press_when_waiting(keys, ["ok"], "pin")

    with keys.person():
        nursery.start_soon(person)
        block = await pinpad.offline_pin(100, 643, 3, timeout=60)
    assert decode_iso2(block) == "9865"
    assert typed == [4]
    assert pinpad.typed is None and keys.waiting is None


async def test_attended_online_pin_is_enciphered_under_the_tpk(nursery: trio.Nursery) -> None:
    keys = TerminalKeys()
    with keys.person():
        nursery.start_soon(press_when_waiting, keys, ["2", "4", "6", "8", "0", "ok"], "pin")
        block = await pad(keys).online_pin(PAN, 100, 643, timeout=60)
    assert decode_iso0(tdes_ecb_decrypt(TPK, block), PAN) == "24680"


async def test_ok_needs_four_digits_and_twelve_is_the_most(nursery: trio.Nursery) -> None:
    keys = TerminalKeys()
    presses = ["1", "2", "3", "ok", *"4567890123456", "ok"]  # OK at 3 digits is ignored
    with keys.person():
        nursery.start_soon(press_when_waiting, keys, presses, "pin")
        block = await pad(keys).offline_pin(100, 643, None, timeout=60)
    assert decode_iso2(block) == "123456789012"


@pytest.mark.parametrize("presses", [["ok"], ["1", "cancel"], ["cancel"]])
async def test_cancel_or_ok_without_digits_ends_entry(
    nursery: trio.Nursery, presses: list[str]
) -> None:
    keys = TerminalKeys()
    with keys.person(), pytest.raises(PinEntryBypassed):
        nursery.start_soon(press_when_waiting, keys, presses, "pin")
        await pad(keys).offline_pin(100, 643, 3, timeout=60)
    assert keys.waiting is None


async def test_nobody_typing_in_time_is_a_pad_failure(autojump_clock: trio.abc.Clock) -> None:
    keys = TerminalKeys()
    with keys.person(), pytest.raises(PinPadError, match="in time"):
        await pad(keys).offline_pin(100, 643, 3, timeout=30)
    assert keys.waiting is None
    assert keys.press("1") is False  # nothing waits any more


async def test_keys_pressed_before_the_pad_asks_are_not_typed(nursery: trio.Nursery) -> None:
    keys = TerminalKeys()
    assert keys.press("1") is False
    with keys.person():
        nursery.start_soon(press_when_waiting, keys, ["5", "5", "5", "5", "ok"], "pin")
        assert decode_iso2(await pad(keys).offline_pin(1, 643, 3, timeout=60)) == "5555"


@pytest.mark.parametrize(("key", "answer"), [("ok", True), ("cancel", False)])
async def test_attended_keypad_waits_for_ok_or_cancel(
    nursery: trio.Nursery, key: str, answer: bool
) -> None:
    keys = TerminalKeys()
    keypad = SimKeypad(answer=not answer, keys=keys)
    with keys.person():
        nursery.start_soon(press_when_waiting, keys, ["5", key], "confirm")
        assert await keypad.confirm("Reset?", timeout=30) is answer
    assert keypad.prompt is None and keypad.prompts == ["Reset?"]


async def test_attended_keypad_refuses_when_nobody_confirms(autojump_clock: trio.abc.Clock) -> None:
    keys = TerminalKeys()
    keypad = SimKeypad(answer=True, keys=keys)
    prompts: list[str | None] = []

    async def look() -> None:
        await until_waiting(keys, "confirm")
        prompts.append(keypad.prompt)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(look)
        with keys.person():
            assert await keypad.confirm("Reset?", timeout=30) is False
    assert prompts == ["Reset?"]


async def test_unattended_keypad_answers_its_preset() -> None:
    keys = TerminalKeys()
    assert await SimKeypad(answer=False, keys=keys).confirm("Reset?", 30) is False
    assert await SimKeypad(keys=keys).confirm("Reset?", 30) is True


async def test_every_change_a_person_sees_is_counted() -> None:
    changes = Changes()
    display, lights = SimDisplay(changes=changes), SimIndicators(changes)
    keys = TerminalKeys(changes)
    seen = changes.count
    await display.show(0x03, "ОДОБРЕНО", 15000, "643", "ru")
    await display.show_qr("https://qr.nspk.ru/X")
    await lights.show((True, True, False, False), "success")
    with keys.person():
        pass
    assert changes.count == seen + 5
    assert display.current is not None and display.current.language == "ru"
    with trio.move_on_after(0.05):
        await changes.wait(changes.count)
        pytest.fail("nothing changed, yet the wait returned")
    assert await changes.wait(seen) == changes.count
