"""A chromium page for the console's journeys (Debian's chromium via playwright, never a
downloaded browser) that fails the test on any script or CSP error the page logs."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page, sync_playwright

from tests.web.test_console_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, WAIT_MS


@contextmanager
def chromium_page() -> Iterator[Page]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page
            assert not errors, errors
        finally:
            browser.close()


def sign_up(page: Page, base: str, who: str) -> None:
    """Sign a new user up from ``/signup`` with the keyboard; ends on the dashboard."""
    page.goto(base + "/signup")
    page.fill("input[name=email]", f"{who}-{secrets.token_hex(3)}@example.com")
    page.fill("input[name=password]", "a long enough password")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/account")
