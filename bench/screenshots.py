"""Headless screenshots of pages at desktop (1440×900) and phone (390 wide) sizes.

    python bench/screenshots.py http://127.0.0.1:8050 /quality / --out docs/screenshots

Waits until the page shell is drawn (and any `[data-ready]` marker a page sets) before
each capture. Uses Debian's /usr/bin/chromium and /usr/bin/chromedriver.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


def driver() -> webdriver.Chrome:
    """Debian chromium through Debian chromedriver, headless."""
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def sign_in(browser: webdriver.Chrome, base: str, user: str, password: str) -> None:
    """Through the sign-in form, as a person would."""
    browser.get(base.rstrip("/") + "/login")
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "username")))
    browser.find_element(By.ID, "username").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "login-submit").click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".sb-page")))


def capture(
    base: str,
    paths: list[str],
    out: Path,
    full: bool = True,
    user: str | None = None,
    password: str | None = None,
) -> list[Path]:
    """Screenshot every path at every size; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    browser = driver()
    try:
        if user and password:
            sign_in(browser, base, user, password)
        for size, (width, height) in SIZES.items():
            browser.set_window_size(width, height)
            for path in paths:
                browser.get(base.rstrip("/") + path)
                WebDriverWait(browser, 20).until(
                    ec.presence_of_element_located((By.CSS_SELECTOR, ".sb-page"))
                )
                # Every dcc.Graph drawn: Plotly loads lazily, so a graph's container exists
                # before its plot does (an empty list of plots is not "all drawn").
                WebDriverWait(browser, 60).until(
                    lambda b: b.execute_script(
                        "const graphs = document.querySelectorAll('.dash-graph');"
                        "return [...graphs].every(g => g.querySelector('.main-svg'))"
                    )
                )
                if full:
                    total = browser.execute_script("return document.body.scrollHeight")
                    browser.set_window_size(width, max(height, min(int(total) + 40, 4000)))
                slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
                file = out / f"{slug}-{size}.png"
                browser.save_screenshot(str(file))
                browser.set_window_size(width, height)
                written.append(file)
    finally:
        browser.quit()
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--user", help="sign in as this user first")
    parser.add_argument("--password", help="their password")
    args = parser.parse_args()
    for file in capture(args.base, args.paths, args.out, user=args.user, password=args.password):
        print(file)
