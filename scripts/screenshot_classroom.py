"""Several visitors at once: N headless Chromium windows press Compare together on a running app;
each is captured mid-stream and the captures are put side by side in one PNG.

Shows the cross-request batching of the app (issue: a classroom at once): every visitor's
answers grow at the same time instead of one visitor after another. Needs Debian's chromium and
chromium-driver (scripts/install_browser.sh) and a running app, e.g. ``make demo``:

    .venv/bin/python scripts/screenshot_classroom.py --url http://127.0.0.1:7860 --visitors 3
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def _driver() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1500"):
        options.add_argument(arg)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def _answer(drv: webdriver.Chrome, name: str) -> str:
    box = drv.find_element(By.CSS_SELECTOR, f"#answer-{name} textarea")
    return box.get_attribute("value") or ""


def _ready(drv: webdriver.Chrome, url: str, timeout: float) -> None:
    drv.get(url)
    WebDriverWait(drv, timeout).until(
        lambda d: d.find_element(By.ID, "compare-btn").is_enabled(), "the model never got ready"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:7860")
    ap.add_argument("--visitors", type=int, default=3, choices=range(2, 7))
    ap.add_argument("--words", type=int, default=8, help="capture once every answer has this many")
    ap.add_argument("--out", default="artifacts/screenshots/classroom.png")
    args = ap.parse_args(argv)

    drivers = [_driver() for _ in range(args.visitors)]
    try:
        with ThreadPoolExecutor(len(drivers)) as pool:
            list(pool.map(lambda d: _ready(d, args.url, 300), drivers))
        buttons = [drv.find_element(By.ID, "compare-btn") for drv in drivers]
        start = time.perf_counter()
        with ThreadPoolExecutor(len(buttons)) as pool:  # everyone presses at the same moment
            list(pool.map(lambda b: b.click(), buttons))

        def growing(drv: webdriver.Chrome) -> bool:
            return all(len(_answer(drv, n).split()) >= args.words for n in ("original", "sara"))

        WebDriverWait(drivers[0], 300, poll_frequency=0.1).until(
            lambda _: all(growing(d) for d in drivers), "the answers never grew"
        )
        shots = []
        for i, drv in enumerate(drivers):
            path = Path(args.out).with_name(f"visitor{i + 1}.png")
            path.parent.mkdir(parents=True, exist_ok=True)
            drv.execute_script(
                "document.querySelector('#answer-original').scrollIntoView({block: 'start'})"
            )
            drv.save_screenshot(str(path))
            shots.append(Image.open(path))
        took = time.perf_counter() - start
        statuses = [drv.find_element(By.ID, "run-status").text for drv in drivers]
    finally:
        for drv in drivers:
            drv.quit()
    width = sum(s.width for s in shots)
    sheet = Image.new("RGB", (width, max(s.height for s in shots)), "white")
    x = 0
    for shot in shots:
        sheet.paste(shot, (x, 0))
        x += shot.width
    sheet.save(args.out)
    print(f"{args.visitors} visitors captured {took:.1f} s after pressing Compare: {args.out}")
    for i, status in enumerate(statuses, 1):
        print(f"  visitor {i}: {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
