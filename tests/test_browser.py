"""The chat app in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium): type a
message, get a gallery, pick a card, thumbs it up, and see the gallery change. A screenshot is saved."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.session import ChatService
from recommender.api import Recommender
from tests.test_app import free_port

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "runs" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from app.ui import launch

    rec = Recommender.open(built_store)
    service = ChatService(rec, explainer="template", media_dir=tmp_path_factory.mktemp("cards"))
    port = free_port()
    demo = launch(service, port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        rec.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed: `make test` installs them "
                    "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # the closed network refuses Chromium's background connections; these flags stop it from making them
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - the page is still rendering
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def captions(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.get_attribute("textContent").strip()
            for e in driver.find_elements(By.CSS_SELECTOR, "#picks .thumbnail-item .caption-label")]


def listed(driver: Any) -> list[str]:
    """The titles in the numbered list of explanations under the gallery."""
    from selenium.webdriver.common.by import By

    return [e.text.split(" — ", 1)[0].strip() for e in driver.find_elements(By.CSS_SELECTOR, "#explanations li")]


def test_chat_thumbs_up_changes_the_gallery(browser: Any, app_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(app_url)
    box = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#message textarea"), what="the chat box")
    box.send_keys("I loved Heat and The Matrix, hated Jurassic Park")
    browser.find_element(By.CSS_SELECTOR, "#send").click()
    first = wait_for(lambda: (c := captions(browser)) and len(c) == 8 and all(": " in x for x in c) and c,
                     what="8 explained cards")
    assert all("Heat" in c or "Matrix" in c for c in first), first
    assert "Noted: you liked Heat (1995) and The Matrix (1999)" in browser.find_element(By.ID, "chat").text

    browser.find_elements(By.CSS_SELECTOR, "#picks .thumbnail-item")[1].click()
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#card input").get_attribute("value") == "2",
             what="card 2 to be selected")
    liked = listed(browser)[1]
    assert first[1].startswith(f"{liked}: ")
    browser.find_element(By.CSS_SELECTOR, "#thumbs-up").click()
    after = wait_for(lambda: (c := captions(browser)) and len(c) == 8 and c != first and all(": " in x for x in c)
                     and c, what="the gallery to re-rank")
    assert liked not in wait_for(lambda: (t := listed(browser)) and len(t) == 8 and t, what="the new listing")
    wait_for(lambda: f"More like {liked}" in browser.find_element(By.ID, "chat").text, what="the thumbs reply")
    profile = browser.find_element(By.ID, "profile").text
    assert liked in profile and "Jurassic Park (1993)" in profile

    shot = tmp_path / "chat.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / "chat.png")
    (SCREENSHOTS / "chat.json").write_text(json.dumps({"before": first, "after": after}, indent=2))
