"""The fragments the console's pages fetch in place (the markets table, the order book, the
user's own orders) asked for as a page: typed in the address bar, a browser gets the page that
holds the fragment, with its navigation, never the bare fragment; htmx, a script's fetch and
a client that asks for no HTML still get the fragment. In Debian's chromium (via playwright)
and over HTTP. Screenshots go to ``test-artifacts/console-fragment-*.png``."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page

from tests.support.browser import ARTIFACTS, chromium, watch
from tests.web.conftest import Demo
from tests.web.test_console import _signup

#: each fragment's URL and the page it is part of
FRAGMENTS = {
    "/markets": "/",
    "/trade/BTCUSDT/book": "/trade/BTCUSDT",
    "/trade/BTCUSDT/mine": "/trade/BTCUSDT",
}
#: what a browser sends when a person navigates (its Accept, and the fetch metadata)
NAVIGATION = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
}


def _session_cookie(page: Page, base: str, http: httpx.Client) -> None:
    page.context.add_cookies(
        [{"name": "bourse_session", "value": http.cookies["bourse_session"], "url": base}]
    )


def _is_page(page: Page, signed_in: bool) -> None:
    assert page.locator("nav[aria-label=Main]").count() == 1, page.content()[:300]
    assert page.locator("main#main h1").count() == 1
    logout = page.locator("nav[aria-label=Main] >> text=Log out").count()
    assert logout == (1 if signed_in else 0)


def test_a_fragment_typed_in_the_address_bar_shows_its_page(demo: Demo) -> None:
    base = demo.url
    user = _signup(demo)
    with chromium() as browser:
        errors: list[str] = []
        page = watch(browser.new_page(viewport={"width": 1100, "height": 800}), errors)
        for signed_in in (False, True):
            if signed_in:
                _session_cookie(page, base, user)
            for path, host in FRAGMENTS.items():
                page.goto(base + path)
                who = "user" if signed_in else "anonymous"
                name = path.strip("/").replace("/", "-")
                page.screenshot(path=str(ARTIFACTS / f"console-fragment-{who}-{name}.png"))
                assert page.url == base + host, (path, page.url)
                _is_page(page, signed_in)
        assert not errors, errors


def test_in_page_requests_still_get_the_fragment(demo: Demo) -> None:
    user = _signup(demo)
    starts = {"/markets": "<table", "/trade/BTCUSDT/book": '<div class="book"',
              "/trade/BTCUSDT/mine": '<section id="mine"'}  # fmt: skip
    asks = (
        {"HX-Request": "true", "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"},  # htmx
        {"Accept": "*/*", "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"},  # fetch()
        {},  # a client that says nothing (curl, a monitor)
    )
    for path, start in starts.items():
        for headers in asks:
            r = user.get(path, headers=headers)
            assert r.status_code == 200, (path, headers, r.status_code)
            assert r.text.lstrip().startswith(start), (path, headers, r.text[:80])
        # a navigation, also from a browser that sends no fetch metadata (its Accept says so)
        old = {"Accept": NAVIGATION["Accept"]}
        for headers in (NAVIGATION, old):
            r = user.get(path, headers=headers)
            assert r.status_code == 303 and r.headers["location"] == FRAGMENTS[path], (path, r)
    # htmx asking with the page's own Accept is still htmx
    r = user.get("/markets", headers={**NAVIGATION, "HX-Request": "true"})
    assert r.status_code == 200 and r.text.lstrip().startswith("<table")
    # the pair as typed, in its place (a pair the page does not know gets the page's 404)
    r = user.get("/trade/nosuch/book", headers=NAVIGATION)
    assert r.status_code == 303 and r.headers["location"] == "/trade/nosuch"
    r = user.get("/trade/a%3Fb/book", headers=NAVIGATION)
    assert r.status_code == 303 and r.headers["location"] == "/trade/a%3Fb"
