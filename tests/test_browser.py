"""A real browser (headless Chromium + selenium) drives the app on the embedded model.

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install_browser.sh``, run by
``make test``); skips with the reason where they are missing. Screenshots go to
``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from lab_fixtures import ARTIFACTS, record_timing, serve

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = ARTIFACTS / "screenshots"
DILEMMA = (
    "Your task is to take an unambiguous moral stance on this dilemma: You find a wallet with "
    "500 euros and the owner's address in it. Nobody saw you. Should you return it?"
)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            return (
                f"{path} is missing: install Debian's {package} (run scripts/install_browser.sh "
                "as root, which `make test` does) to run the browser test"
            )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    return None


@pytest.fixture(scope="module")
def app_url(embedded_lm):
    demo, url = serve(embedded_lm)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--no-first-run",
        "--disable-sync",
        "--window-size=1440,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    try:
        drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as exc:  # noqa: BLE001 - e.g. a broken Chromium install
        pytest.skip(f"Chromium could not be started: {str(exc).splitlines()[0]}")
    drv.set_page_load_timeout(120)
    yield drv
    drv.quit()


def _wait(drv, condition, timeout: float = 30, what: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, timeout, poll_frequency=0.05).until(
        lambda d: condition(d), message=f"timed out waiting for {what}"
    )


def _value(drv, css: str) -> str:
    from selenium.webdriver.common.by import By

    return drv.find_element(By.CSS_SELECTOR, css).get_attribute("value") or ""


def _full_page_shot(drv, path: Path, width: int = 1440) -> None:
    height = drv.execute_script("return document.documentElement.scrollHeight")
    drv.set_window_size(width, min(int(height) + 40, 6000))
    time.sleep(0.8)
    drv.save_screenshot(str(path))
    drv.set_window_size(width, 1000)


def _requested_urls(drv) -> set[str]:
    urls = set(
        drv.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    )
    urls.add(drv.execute_script("return location.href"))
    for entry in drv.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.add(message["params"]["url"])
    return urls


def _external(urls: set[str]) -> list[str]:
    out = []
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname not in {
            h.strip("[]") for h in LOCAL_HOSTS
        }:
            out.append(url)
    return sorted(out)


def test_a_person_compares_three_answers_in_the_browser(driver, app_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.get(app_url)
    _wait(driver, lambda d: d.find_element(By.ID, "compare-btn").is_enabled(), 300, "the model")
    status = driver.find_element(By.ID, "model-status").text
    assert "embedded:smollm2-135m-instruct" in status and "30 blocks" in status

    # type a dilemma
    box = driver.find_element(By.CSS_SELECTOR, "#dilemma textarea")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(DILEMMA)
    assert _value(driver, "#dilemma textarea") == DILEMMA

    # pick the Kantian stance preset: it fills attract and repel
    stance = driver.find_element(By.CSS_SELECTOR, "#stance input")
    stance.click()
    option = _wait(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, "li[role=option][aria-label^='kantian']"),
        what="the stance list",
    )[0]
    option.click()
    _wait(
        driver,
        lambda d: _value(d, "#attract textarea").startswith("Only moral duties matter"),
        what="the preset to fill attract",
    )
    assert _value(driver, "#repel textarea").startswith("Only consequences matter")
    driver.save_screenshot(str(SHOTS / "app_before_run.png"))

    # one button; three answers stream in side by side
    driver.find_element(By.ID, "compare-btn").click()
    start = time.perf_counter()
    _wait(driver, lambda d: _value(d, "#answer-original textarea").strip(), 120, "a first token")
    first = time.perf_counter() - start
    _wait(
        driver,
        lambda d: "Done in" in d.find_element(By.ID, "run-status").text,
        timeout=600,
        what="the three answers",
    )
    full = time.perf_counter() - start
    names = ("original", "sara", "actadd", "prompted")  # the 4th: the stance in the prompt
    answers = [_value(driver, f"#answer-{n} textarea") for n in names]
    assert all(a.strip() for a in answers), answers
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#heatmap img"), 60, "the heatmap")
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#similarity img"), what="3x3 plot")
    heat = driver.find_element(By.CSS_SELECTOR, "#heatmap img")
    assert heat.size["width"] > 600  # readable, not a thumbnail
    assert "boosted" in driver.find_element(By.ID, "top-units").text
    record_timing(
        "browser_default_80_tokens",
        {
            "first_token_s": first,
            "full_answers_s": full,
            "status": driver.find_element(By.ID, "run-status").text,
        },
    )
    driver.execute_script("document.getElementById('compare-btn').scrollIntoView({block: 'start'})")
    time.sleep(0.5)
    driver.save_screenshot(str(SHOTS / "app_answers.png"))  # what a projector shows
    _full_page_shot(driver, SHOTS / "app_steer_full.png")

    # the layer sweep: which layers matter
    tab = next(
        b
        for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]")
        if b.text.strip() == "Layer sweep"
    )
    tab.click()
    run_sweep = _wait(
        driver,
        lambda d: [
            b
            for b in d.find_elements(By.TAG_NAME, "button")
            if b.text.strip() == "Run the layer sweep" and b.is_displayed()
        ],
        what="the sweep button",
    )[0]
    run_sweep.click()
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#sweep-plot img"), 120, "sweep")
    assert "rescales the prompt most" in driver.find_element(By.TAG_NAME, "body").text
    _full_page_shot(driver, SHOTS / "app_sweep.png")

    # the About tab teaches the method with a figure
    tab = next(
        b
        for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]")
        if b.text.strip() == "About SARA"
    )
    tab.click()
    _wait(
        driver,
        lambda d: "What SARA does" in d.find_element(By.TAG_NAME, "body").text,
        what="the About tab",
    )
    _full_page_shot(driver, SHOTS / "app_about.png")

    # nothing was fetched from anywhere but this app
    urls = _requested_urls(driver)
    assert any(app_url.rstrip("/") in u for u in urls)
    assert _external(urls) == []


def test_bad_input_in_the_browser_shows_an_error_and_the_page_keeps_working(driver, app_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(app_url)
    _wait(driver, lambda d: d.find_element(By.ID, "compare-btn").is_enabled(), 300, "the model")
    repel = _value(driver, "#repel textarea")  # the default stance's
    assert repel.strip()
    box = driver.find_element(By.CSS_SELECTOR, "#attract textarea")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    driver.find_element(By.ID, "compare-btn").click()
    _wait(
        driver,
        lambda d: "attract prompt is empty" in d.find_element(By.TAG_NAME, "body").text,
        timeout=60,
        what="the error message",
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / "app_error.png"))
    # the page still works: swapping moves the repel text into the empty box
    swap = next(b for b in driver.find_elements(By.TAG_NAME, "button") if "Swap" in b.text)
    swap.click()
    _wait(driver, lambda d: _value(d, "#repel textarea") == "", what="the swap")
    assert _value(driver, "#attract textarea") == repel


def _tab(drv, name: str):
    from selenium.webdriver.common.by import By

    return next(
        b for b in drv.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.text.strip() == name
    )


def test_a_person_finds_a_setting_and_loads_it_into_the_steer_tab(driver, app_url):
    """The Steer tab says whether the model can show a stance; the search runs (SARA only,
    stopped after its first chunk of points, to stay short on a CPU) and one click loads the
    chosen block and strength into the Steer tab."""
    from selenium.webdriver.common.by import By

    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.get(app_url)
    _wait(driver, lambda d: d.find_element(By.ID, "compare-btn").is_enabled(), 300, "the model")
    _wait(
        driver,
        lambda d: "does not take a moral stance" in d.find_element(By.ID, "validity-line").text,
        60,
        "the validity line",
    )
    assert "135M model" in driver.find_element(By.ID, "validity-line").text
    assert driver.find_element(By.ID, "answer-prompted").is_displayed()
    driver.execute_script("document.getElementById('compare-btn').scrollIntoView({block: 'start'})")
    time.sleep(0.5)
    driver.save_screenshot(str(SHOTS / "app_steer_validity.png"))

    _tab(driver, "Find a setting").click()
    actadd = _wait(
        driver,
        lambda d: [
            label
            for label in d.find_elements(By.CSS_SELECTOR, "#tune-methods label")
            if label.text.strip() == "ActAdd" and label.is_displayed()
        ],
        what="the methods",
    )[0]
    actadd.click()  # SARA only: half the points
    driver.find_element(By.ID, "tune-run").click()
    _wait(
        driver,
        lambda d: "Searching: step 2 of" in d.find_element(By.ID, "tune-summary").text,
        600,
        "the first chunk of points",
    )
    driver.find_element(By.ID, "tune-stop").click()
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#tune-plot img"), 300, "the figure")
    summary = driver.find_element(By.ID, "tune-summary").text
    assert "Stopped after" in summary and "points" in summary, summary
    assert "SARA (chosen)" in driver.find_element(By.ID, "tune-table").text
    chosen = _wait(
        driver,
        lambda d: [
            label.text
            for label in d.find_elements(By.CSS_SELECTOR, "#tune-pick label")
            if label.text.startswith("SARA: block")
        ],
        30,
        "a chosen setting",
    )[0]
    _full_page_shot(driver, SHOTS / "app_tune.png")
    block = int(chosen.split("block ")[1].split(",")[0])
    strength = float(chosen.split("λ ")[1])
    driver.find_element(By.ID, "tune-use").click()
    _wait(driver, lambda d: d.find_element(By.ID, "compare-btn").is_displayed(), what="Steer")
    _wait(
        driver,
        lambda d: _value(d, "#layer input[type=number]") == str(block),
        what="the block in the layer slider",
    )
    assert float(_value(driver, "#sara-coeff input[type=number]")) == strength
