"""The chat app in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium) at 1400x1000,
as a person uses it: a first message, a thumbs up on card 2 by its own button, "no horror", the For you tab, "why
the second?", and removing a like from the profile panel by keyboard. It asserts what is visible (each
explanation inside its card's box, unclipped and above the fold; title cards' text at 14 px or more from computed
style; labelled buttons and alt text) and saves a screenshot of every step under runs/screenshots/."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from app.session import ChatService
from recommender.api import Recommender
from tests.test_app import free_port

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "runs" / "screenshots"
WIDTH, HEIGHT = 1400, 1000

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ChatService]]:
    from app.ui import launch

    rec = Recommender.open(built_store)
    service = ChatService(rec, explainer="template", media_dir=tmp_path_factory.mktemp("cards"))
    port = free_port()
    demo = launch(service, port=port, block=False, eval_root=tmp_path_factory.mktemp("no-reports"))
    try:
        yield f"http://127.0.0.1:{port}/", service
    finally:
        demo.close()
        rec.close()


def chromium(width: int = WIDTH, height: int = HEIGHT) -> Any:
    """Headless Chromium whose viewport is ``width`` x ``height`` CSS pixels."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # the closed network refuses Chromium's background connections; these flags stop it from making them
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(width + (width - inner[0]), height + (height - inner[1]))  # the viewport, not the window
    return driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed: `make test` installs them "
                    "(apt-get install chromium chromium-driver)")
    driver = chromium()
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
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


#: every card on the page as the browser lays it out: boxes, the visible texts, and computed font sizes
CARDS_JS = """
const box = (e) => { if (!e) return null; const r = e.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height}; };
const px = (e) => e ? parseFloat(getComputedStyle(e).fontSize) : null;
return [...document.querySelectorAll(arguments[0])].map((c) => {
  const why = c.querySelector('.cf-why, .cf-line'); const tc = c.querySelector('.cf-titlecard');
  const img = c.querySelector('img');
  return {movie: Number(c.dataset.movie), reason: c.dataset.reason || '', label: c.getAttribute('aria-label'),
    card: box(c), why: box(why),
    why_text: why ? why.innerText : '', why_clipped: why ? (why.scrollHeight > why.clientHeight + 1
      || why.scrollWidth > why.clientWidth + 1) : null,
    title: (c.querySelector('.cf-title') || {}).innerText || '',
    titlecard: tc ? {label: tc.getAttribute('aria-label'), text: tc.innerText,
      px: [...tc.children].map(px), box: box(tc)} : null,
    img_alt: img ? img.getAttribute('alt') : null, img_ok: img ? img.complete && img.naturalWidth > 0 : null,
    buttons: [...c.querySelectorAll('button')].map((b) => b.getAttribute('aria-label'))};
});
"""


def cards(driver: Any, where: str = "#picks li.cf-card") -> list[dict[str, Any]]:
    return list(driver.execute_script(CARDS_JS, where))


def chat_turns(driver: Any) -> list[tuple[str, str]]:
    """(role, text) of every chat bubble, in order."""
    js = """return [...document.querySelectorAll('#chat .message-row')].map((r) =>
      [r.classList.contains('user-row') ? 'user' : 'assistant', r.innerText.trim()]);"""
    return [(role, text) for role, text in driver.execute_script(js)]


def assert_readable(page: list[dict[str, Any]], viewport_height: int) -> None:
    """Each card shows its explanation whole, inside its own box and above the fold; title cards' title, year
    and genres are text of 14 px or more; every button is labelled and every poster has alt text."""
    assert page, "no cards"
    for c in page:
        why, box = c["why"], c["card"]
        assert why and c["why_text"].strip(), f"{c['label']}: no explanation shown"
        assert box["top"] - 0.5 <= why["top"] and why["bottom"] <= box["bottom"] + 0.5, f"{c['label']}: outside"
        assert box["left"] - 0.5 <= why["left"] and why["right"] <= box["right"] + 0.5, f"{c['label']}: outside"
        assert not c["why_clipped"], f"{c['label']}: explanation clipped"
        assert why["bottom"] <= viewport_height, f"{c['label']}: explanation below the fold ({why['bottom']:.0f}px)"
        assert c["buttons"] == [f"More like {c['title_full']}", f"Less like {c['title_full']}"], c["buttons"]
        if c["titlecard"]:
            tc = c["titlecard"]
            assert min(tc["px"]) >= 14, f"{c['label']}: title card text at {tc['px']} px"
            assert tc["label"].startswith(f"Title card: {c['title_full']}")
        else:
            assert c["img_alt"] == f"Poster of {c['title_full']}" and c["img_ok"], c


def with_titles(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for c in page:
        c["title_full"] = c["label"].split(". ", 1)[1]
    return page


def loaded(driver: Any) -> list[dict[str, Any]]:
    """The page's cards once every poster has loaded."""
    return list(wait_for(lambda: (p := with_titles(cards(driver))) and all(c["img_ok"] is not False for c in p) and p,
                         what="the posters to load"))


SETTLED_JS = """
const busy = [...document.querySelectorAll('.pending, .generating')].filter((e) => e.offsetParent !== null);
const shown = [...document.images].filter((i) => { const r = i.getBoundingClientRect();
  return r.width > 0 && r.bottom > 0 && r.top < innerHeight; });
return busy.length === 0 && shown.every((i) => i.complete && i.naturalWidth > 0);
"""


def shoot(driver: Any, folder: Path, name: str) -> Path:
    """A screenshot once the page has settled: nothing loading, every visible picture drawn."""
    wait_for(lambda: driver.execute_script(SETTLED_JS), timeout=30, what="the page to settle")
    time.sleep(0.4)  # the loading overlay fades out
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    return path


def click_tab(driver: Any, name: str) -> None:
    from selenium.webdriver.common.by import By

    [b for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.text.strip() == name][0].click()


def send(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, "#message textarea")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#send").click()


def walk(driver: Any, url: str, payloads: Mapping[int, Mapping[str, Any]], shots: Path,
         first: str = "I loved Heat and The Matrix, hated Jurassic Park",
         liked: tuple[str, ...] = ("Heat (1995)", "The Matrix (1999)")) -> dict[str, Any]:
    """The issue's walk through the app, asserting what a person sees at each step; returns what it saw."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def genres(movie: int) -> set[str]:
        return set(payloads[movie].get("genres") or [])

    seen: dict[str, Any] = {}
    driver.get(url)
    start = wait_for(lambda: (p := cards(driver)) and len(p) == 8 and p, what="the starting picks")
    assert all("people here" in c["why_text"] and "★" in c["why_text"] for c in start)  # counts, no superlative
    shoot(driver, shots, "0-start")

    send(driver, first)
    wait_for(lambda: any(t.startswith("Noted: you liked") for r, t in chat_turns(driver) if r == "assistant"),
             what="the first reply")
    page = wait_for(lambda: (p := with_titles(cards(driver))) and len(p) == 8
                    and all(c["reason"] != "popular" for c in p) and p, what="8 picks for this person")
    assert_readable(loaded(driver), HEIGHT)
    seen["title_cards"] = sum(bool(c["titlecard"]) for c in page)
    assert chat_turns(driver)[0] == ("user", first)
    profile = driver.find_element(By.ID, "profile").text
    assert all(t in profile for t in liked) and "Liked" in profile
    seen["first"] = [c["title_full"] for c in page]
    shoot(driver, shots, "1-first-message")

    second = page[1]
    driver.find_elements(By.CSS_SELECTOR, "#picks li.cf-card")[1].find_element(By.CSS_SELECTOR, "button.cf-up").click()
    wait_for(lambda: chat_turns(driver)[-2] == ("user", f"More like {second['title_full']}"),
             what="the thumbs up as the person's turn")
    reply = chat_turns(driver)[-1]
    assert reply[0] == "assistant" and reply[1].startswith(f"Noted: more like {second['title_full']}. "), reply
    page = wait_for(lambda: (p := with_titles(cards(driver))) and len(p) == 8
                    and second["movie"] not in {c["movie"] for c in p} and p, what="the page to re-rank")
    assert_readable(loaded(driver), HEIGHT)
    profile = driver.find_element(By.ID, "profile").text
    assert "More like" in profile and second["title_full"] in profile
    seen["after_thumbs"] = [c["title_full"] for c in page]
    shoot(driver, shots, "2-thumbs-up-card-2")

    send(driver, "no horror")
    wait_for(lambda: chat_turns(driver)[-1][1].startswith("Got it: no Horror."), what="the no-horror reply")
    page = wait_for(lambda: (p := with_titles(cards(driver))) and len(p) == 8 and p, what="the page")
    assert not any("Horror" in genres(c["movie"]) for c in page)
    assert "Horror" in driver.find_element(By.ID, "profile").text
    shoot(driver, shots, "3-no-horror")

    click_tab(driver, "For you")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#rows section.cf-row")) >= 3, what="the rows")
    rows = driver.execute_script("""return [...document.querySelectorAll('#rows section.cf-row')].map((s) =>
        [s.querySelector('.cf-row-name').innerText, [...s.querySelectorAll('li.cf-tile')].map((t) =>
          [Number(t.dataset.movie), (t.querySelector('.cf-line') || {}).innerText || '',
           (t.querySelector('.cf-title') || {}).innerText])]);""")
    shoot(driver, shots, "4-for-you")
    names = [name for name, _ in rows]
    movies = [m for _, tiles in rows for m, _, _ in tiles]
    assert names[0] == "Top picks for you" and "Trending now" in names, names
    assert len(movies) == len(set(movies)), "a movie in two rows"
    assert not [m for m in movies if "Horror" in genres(m)], "a Horror movie in the rows"
    because = [n.removeprefix("Because you liked ") for n in names if n.startswith("Because you liked")]
    assert because and set(because) <= set(liked), because  # never the thumbs-upped movie
    for name, tiles in rows:
        lines = [line for _, line, _ in tiles]
        assert all(lines) and len(set(lines)) == len(lines), f"{name}: a line repeated or missing"
    seen["rows"] = {name: [title for _, _, title in tiles] for name, tiles in rows}

    click_tab(driver, "Chat")
    page = with_titles(cards(driver))
    send(driver, "why the second?")
    wait_for(lambda: chat_turns(driver)[-1][1].startswith(f"Why {page[1]['title_full']}?"), what="the why reply")
    assert chat_turns(driver)[-1][1] == f"Why {page[1]['title_full']}? {page[1]['why_text']}"
    shoot(driver, shots, "5-why-the-second")

    remove = driver.find_element(By.CSS_SELECTOR, f'#profile button[aria-label="Remove {liked[0]} from Liked"]')
    remove.send_keys(Keys.ENTER)  # by keyboard: the chip's button takes focus and Enter like any button
    wait_for(lambda: chat_turns(driver)[-2] == ("user", f"Forget {liked[0]}"), what="the removal as a turn")
    assert chat_turns(driver)[-1][1].startswith(f"Removed {liked[0]} from your likes.")
    wait_for(lambda: liked[0] not in driver.find_element(By.ID, "profile").text, what="the chip to go")
    assert_readable(loaded(driver), HEIGHT)
    seen["chat"] = chat_turns(driver)
    shoot(driver, shots, "6-like-removed")
    return seen


def test_a_person_walks_through_the_app(browser: Any, served: tuple[str, ChatService]) -> None:
    url, service = served
    seen = walk(browser, url, service.rec.payloads, SCREENSHOTS / "subset")
    assert seen["title_cards"] > 0, "the subset's first page has movies without posters: their title cards are checked"
    (SCREENSHOTS / "subset" / "walk.json").write_text(json.dumps(seen, indent=2))


def test_the_evaluation_tab_offers_a_quick_run_when_no_report_exists(browser: Any,
                                                                    served: tuple[str, ChatService]) -> None:
    from selenium.webdriver.common.by import By

    url, _ = served
    browser.get(url)
    wait_for(lambda: cards(browser), what="the page")
    click_tab(browser, "Evaluation")
    button = wait_for(lambda: (b := browser.find_element(By.ID, "run-eval")) and b.is_displayed() and b,
                      what="the run button")
    assert "No evaluation report yet" in browser.find_element(By.ID, "eval-note").text
    assert button.text == "Run a quick evaluation"
