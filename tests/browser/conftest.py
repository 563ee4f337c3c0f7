"""The virtual terminal page in a real browser: Debian's chromium driven by
its chromedriver through selenium, against a real `cardcore serve
--simulator --ui-port 0`. Every test here is marked `browser` (`make
browser`; `make test` runs them). CARDCORE_SCREENSHOTS=DIR keeps the
screenshots the tests take (else they go to a temporary directory)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import FAST, Served, start_server, stop_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# A closed network and root: no sandbox, no GPU, nothing that phones home.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
DESKTOP = (1400, 1000)
PHONE = (390, 844)


@dataclass
class Page:
    served: Served
    url: str
    driver: Any
    shots: Path

    def find(self, testid: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def wait(self, check: Any, timeout: float = 30, what: str = "") -> Any:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        # The page re-renders its lists as events come: an element found a
        # moment ago may be gone; the next poll finds the new one.
        waiting = WebDriverWait(
            self.driver, timeout, poll_frequency=0.05,
            ignored_exceptions=(StaleElementReferenceException,),
        )  # fmt: skip
        return waiting.until(lambda _: check(), message=what)

    def viewport(self, width: int, height: int) -> None:
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    def load(self) -> None:
        self.driver.get(self.url)
        self.wait(lambda: self.find("link").text == "live", what="the event stream is live")

    def screenshot(self, name: str, *, full: bool = False) -> Path:
        path = self.shots / name
        self.driver.execute_script("window.scrollTo(0, 0)")
        if full:  # the whole page: the viewport as tall as the document
            width = self.driver.execute_script("return window.innerWidth")
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.viewport(width, height)
        assert self.driver.save_screenshot(str(path)), path
        return path


def _driver(user_data: Path) -> Any:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium chromium-driver"
        )
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium looks nothing up
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data}")
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    root = tmp_path_factory.mktemp("browser")
    served = start_server(root / "data", "--ui-port", "0", config=FAST)
    host, port = (served.data_dir / "run" / "ui.addr").read_text().split()
    kept = os.environ.get("CARDCORE_SCREENSHOTS")
    shots = Path(kept) if kept else Path(tempfile.mkdtemp(prefix="screenshots-", dir=root))
    shots.mkdir(parents=True, exist_ok=True)
    driver = None
    try:
        driver = _driver(root / "chromium-profile")
        opened = Page(served, f"http://{host}:{port}/", driver, shots)
        opened.viewport(*DESKTOP)
        opened.load()
        yield opened
    finally:
        if driver is not None:
            driver.quit()
        code = stop_server(served)
        shutil.rmtree(root / "chromium-profile", ignore_errors=True)
        assert code == 0, served.log_text()
