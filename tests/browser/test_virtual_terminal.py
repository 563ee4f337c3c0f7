"""A person at the virtual terminal, in chromium: they tap and insert cards
and type on the keypad, while the cash register (the `cardcore client`
command line) runs purchases; the display, lights, slip and journal on the
page follow. The SBP QR the page shows is read back by zbarimg from the
browser's own screenshot. A phone-sized window keeps every part in view."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from cardcore.engine.display import MESSAGES
from kernel.services import MessageId

from .conftest import DESKTOP, PHONE, Page

pytestmark = pytest.mark.browser


def _text(page: Page, message: MessageId) -> str:
    """The message in the language the display says it shows ("" when it
    shows none yet: that matches no message)."""
    language = page.find("display").get_attribute("lang")
    if language not in ("ru", "en"):
        return "\0"
    ru, en = MESSAGES[message]
    return ru if language == "ru" else en


def shows(page: Page, message: MessageId) -> bool:
    """The display's message (its first line) is ``message``."""
    lines = str(page.find("display").text).splitlines()
    return bool(lines) and lines[0] == _text(page, message)


@contextmanager
def register(page: Page, *args: str) -> Iterator[subprocess.Popen[str]]:
    """The cash register: one `cardcore client` command, running while the
    block acts on the page; it must have finished at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cardcore", "client", *args,
         "--data-dir", str(page.served.data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield process
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def purchase(page: Page, amount: str) -> AbstractContextManager[subprocess.Popen[str]]:
    return register(page, "transaction", "--type", "purchase", "--amount", amount)


def log_lines(page: Page) -> list[str]:
    """The display's last messages as the page lists them, spaces kept."""
    lines: list[str] = page.driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=\"display-log\"] li')]"
        ".map((item) => item.textContent)"
    )
    return lines


def click(page: Page, testid: str) -> None:
    page.find(testid).click()


def field(page: Page) -> str:
    return str(page.find("field").text)


def test_the_page_shows_the_idle_terminal(page: Page) -> None:
    assert page.driver.title == "cardcore virtual terminal"
    leds = page.find("leds").find_elements("css selector", ".led")
    assert len(leds) == 4
    for key in [*"0123456789", "cancel", "clear", "ok"]:
        assert page.find(f"keypad-{key}").is_enabled()
    assert page.find("card-default").is_displayed()
    assert field(page) == "default (contact)"
    assert page.driver.execute_script("return document.fonts.size") == 0  # no web fonts
    page.screenshot("idle.png")


def test_a_tapped_card_pays_and_the_slip_shows_the_amount(page: Page) -> None:
    click(page, "host-approve")
    click(page, "card-visa-qvsdc")
    page.wait(lambda: field(page) == "visa-qvsdc (contactless)", what="the card is tapped")
    with purchase(page, "000000001500") as cash_register:
        page.wait(lambda: shows(page, MessageId.APPROVED), what="the display shows approved")
    output = cash_register.stdout.read() if cash_register.stdout else ""
    assert cash_register.returncode == 0, output
    assert page.find("display").text.splitlines() == [_text(page, MessageId.APPROVED), "15.00 RUB"]
    page.wait(lambda: "15.00 RUB" in page.find("receipt").text, what="the slip shows the amount")
    slip = page.find("receipt").text
    assert "APPROVED" in slip and "************0018" in slip
    assert "4761739001030018" not in page.driver.page_source
    journal = page.find("journal").text
    assert "15.00 RUB" in journal and "*0018" in journal
    page.wait(lambda: page.find("tone").get_attribute("data-last") == "success",
              what="the success tone (Book A 9.5)")  # fmt: skip
    page.screenshot("tapped-approved.png")


def test_a_pin_card_takes_the_pin_from_the_keypad(page: Page) -> None:
    click(page, "card-default")
    page.wait(lambda: field(page) == "default (contact)", what="the card is inserted")
    with purchase(page, "000000015000") as cash_register:
        page.wait(lambda: page.find("pin").is_displayed(), what="the PIN pad asks")
        assert page.find("display").text.splitlines() == [
            _text(page, MessageId.ENTER_PIN),
            "150.00 RUB",
        ]
        for key in "1234":
            click(page, f"keypad-{key}")
        page.wait(lambda: page.find("pin").text.count("•") == 4, what="four digits typed")
        assert "1234" not in page.find("pin").text
        page.screenshot("pin-entry.png")
        click(page, "keypad-ok")
        approved = f"{_text(page, MessageId.APPROVED)}  150.00 RUB"
        page.wait(lambda: approved in log_lines(page),
                  what="the display went through approved")  # fmt: skip
    assert cash_register.returncode == 0
    page.wait(lambda: "150.00 RUB" in page.find("receipt").text, what="the slip")
    assert "PIN VERIFIED" in page.find("receipt").text
    assert page.find("display").text == _text(page, MessageId.REMOVE_CARD)
    page.screenshot("pin-approved.png")
    click(page, "remove-card")
    page.wait(lambda: field(page) == "none", what="the card is taken away")


def test_two_cards_at_once_collide_until_one_is_left(page: Page) -> None:
    click(page, "card-visa-qvsdc")
    click(page, "also-mc-contactless")
    page.wait(lambda: field(page) == "visa-qvsdc (contactless), mc-contactless (contactless)")
    with purchase(page, "000000001200") as cash_register:
        page.wait(lambda: shows(page, MessageId.PRESENT_ONE_CARD_ONLY), what="collision")
        click(page, "tap-mc-contactless")  # the other card leaves the field
        page.wait(lambda: shows(page, MessageId.APPROVED), what="approved")
    assert cash_register.returncode == 0
    page.wait(lambda: "12.00 RUB" in page.find("receipt").text)
    assert "MASTERCARD" in page.find("receipt").text


def test_a_declining_host_and_its_books(page: Page) -> None:
    click(page, "card-visa-qvsdc")
    click(page, "host-decline")
    page.wait(lambda: page.find("host-decline").get_attribute("aria-pressed") == "true")
    with purchase(page, "000000050000") as cash_register:
        declined = _text(page, MessageId.DECLINED)
        page.wait(lambda: any(line.startswith(declined) for line in log_lines(page)),
                  what="declined")  # fmt: skip
    assert cash_register.returncode == 3
    click(page, "host-approve")
    page.wait(lambda: "500.00 RUB" in page.find("receipt").text, what="the declined slip")
    assert "DECLINED" in page.find("receipt").text
    newest = page.find("journal").find_elements("css selector", "tbody tr")[0].text
    assert "500.00 RUB" in newest and "declined" in newest
    assert "500.00" not in page.find("ledger").text  # a declined request books nothing
    assert "15.00" in page.find("ledger").text  # the approved ones are there


def test_resetpassword_is_confirmed_on_the_keypad(page: Page) -> None:
    with register(page, "resetpassword") as cash_register:
        page.wait(lambda: page.find("prompt").is_displayed(), what="the terminal asks")
        assert "password" in page.find("prompt").text
        assert cash_register.poll() is None  # nothing confirms on its own
        click(page, "keypad-ok")
    assert cash_register.returncode == 0


def test_the_sbp_qr_is_scannable_and_paid_from_the_page(page: Page, tmp_path: Path) -> None:
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "zbarimg is needed (apt-get install zbar-tools)"
    click(page, "remove-card")
    click(page, "sbp-none")
    page.wait(lambda: field(page) == "none")
    with purchase(page, "000000020000") as cash_register:
        page.wait(lambda: page.find("qr").is_displayed(), what="the QR is shown")
        page.wait(lambda: page.driver.execute_script(
            "return document.getElementById('qr-image').naturalWidth") > 0)  # fmt: skip
        shot = tmp_path / "qr.png"
        assert page.find("qr").screenshot(str(shot))
        decoded = subprocess.run(
            [zbarimg, "--quiet", "--raw", str(shot)], capture_output=True, text=True, timeout=30
        )
        payload = page.driver.find_element("id", "qr-link").text
        assert decoded.returncode == 0, decoded.stderr
        assert decoded.stdout.strip() == payload and payload.startswith("https://")
        page.screenshot("sbp-qr.png")
        click(page, "sbp-pay")
    assert cash_register.returncode == 0
    click(page, "sbp-none")
    page.wait(lambda: "200.00 RUB" in page.find("receipt").text, what="the SBP slip")
    assert not page.find("qr").is_displayed()


def test_a_phone_sized_window_cuts_nothing_off(page: Page) -> None:
    try:
        page.viewport(*PHONE)
        page.load()
        width = page.driver.execute_script("return window.innerWidth")
        assert width == PHONE[0]
        assert page.driver.execute_script("return document.documentElement.scrollWidth") <= width
        outside = page.driver.execute_script(
            """
            const out = [];
            for (const el of document.querySelectorAll('[data-testid]')) {
              const box = el.getBoundingClientRect();
              if (box.width === 0 && box.height === 0) continue;  // not shown now
              if (box.left < 0 || box.right > innerWidth + 0.5) out.push(el.dataset.testid);
              const hides = getComputedStyle(el).overflowX === 'hidden';
              const cut = hides && el.scrollWidth > el.clientWidth + 1;
              if (cut) out.push(el.dataset.testid + ' cut');
            }
            return out;
            """
        )
        assert outside == []
        for key in [*"0123456789", "cancel", "clear", "ok"]:
            assert page.find(f"keypad-{key}").size["height"] >= 44  # a finger's target
        page.screenshot("phone.png")
        page.screenshot("phone-full.png", full=True)
    finally:
        page.viewport(*DESKTOP)
        page.load()
