"""Debian's chromium for the browser tests, driven by playwright (never a browser it downloads):
``chromium()`` launches one headless and closes it after; ``watch(page, errors)`` collects the
page's script and CSP errors (a test asserts there are none) and sets the default wait;
``chromium_page()`` is both for a journey with one page, failing it on any such error, and
``sign_up`` starts a journey as a new user."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
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


@contextmanager
def chromium_page() -> Iterator[Page]:
    """One page in a fresh chromium; the test fails if the page logged a script error."""
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        errors: list[str] = []
        page = watch(browser.new_page(viewport={"width": 1100, "height": 800}), errors)
        yield page
        assert not errors, errors


def sign_up(page: Page, base: str, who: str) -> None:
    """Sign a new user up from ``/signup`` with the keyboard; ends on the dashboard."""
    page.goto(base + "/signup")
    page.fill("input[name=email]", f"{who}-{secrets.token_hex(3)}@example.com")
    page.fill("input[name=password]", "a long enough password")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/account")
