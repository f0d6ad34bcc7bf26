"""Debian's chromium for the browser tests, driven by playwright (never a browser it downloads):
``chromium()`` launches one headless and closes it after; ``watch(page, errors)`` collects the
page's script and CSP errors (a test asserts there are none) and sets the default wait."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: where the journeys' screenshots go, for a reviewer
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: milliseconds playwright waits for any one thing
WAIT_MS = 10_000


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watch(page: Page, errors: list[str]) -> Page:
    page.set_default_timeout(WAIT_MS)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page
