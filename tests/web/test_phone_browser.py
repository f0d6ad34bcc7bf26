"""The console on a phone (390 CSS pixels wide, in Debian's chromium via playwright): no page
scrolls sideways, its wide tables included (a user's keys bound to a broker, order and trade
history, a broker's bound keys and rebates), and the header stays one strip (its links scroll
sideways inside it) instead of wrapping into rows that push every page down; the trade page's
order form comes before the book. Screenshots go to ``test-artifacts/phone-*.png``."""

from __future__ import annotations

import re

import httpx

from tests.support.browser import ARTIFACTS, chromium, watch
from tests.web.conftest import Demo
from tests.web.test_broker import _apply, _market_buy, _trader_bound_to, _uid, _wait_for_record
from tests.web.test_console import _csrf, _signup

PHONE = {"width": 390, "height": 844}
ANONYMOUS = ["/", "/docs", "/trade/BTCUSDT", "/login", "/signup"]
TRADER = ["/", "/account", "/account/keys", "/account/deposit", "/account/withdraw",
          "/account/transfers", "/account/security", "/account/2fa", "/account/apps",
          "/trade/BTCUSDT", "/broker"]  # fmt: skip
BROKER = ["/broker", "/broker/keys", "/broker/rebates"]
INDEPENDENT = ["/broker/subaccounts", "/broker/subaccounts/phonewallet01"]
OAUTH = ["/broker/app"]
#: the header's height on a phone: one strip (the "Sign up" button is its tallest item); ten
#: links wrapped beside the brand made it four rows, about 150 px
HEADER_MAX_PX = 72
#: the rows of the header's links: their boxes' vertical middles, to the nearest 8 px
NAV_ROWS = """() => new Set([...document.querySelectorAll("header.top nav > *")].map(e => {
    const r = e.getBoundingClientRect(); return Math.round((r.top + r.bottom) / 16); })).size"""


def _oauth_broker(demo: Demo) -> httpx.Client:
    """A new user who is an approved OAuth broker."""
    http = _signup(demo)
    r = http.post("/broker/apply", data={
        "csrf_token": _csrf(http.get("/broker").text), "broker_type": "OAUTH",
        "name": "Copy Trader", "callback_url": "https://app.example.com/callback"})  # fmt: skip
    assert r.status_code == 303, r.text
    m = re.search(r"<code>(\d+)</code>", http.get("/broker").text)
    assert m
    demo.platform.brokers.registry.approve(int(m.group(1)))
    return http


def _independent_broker(demo: Demo) -> httpx.Client:
    """A new user who is an approved independent broker with one sub-account."""
    http = _signup(demo)
    _apply(demo, http, "INDEPENDENT")
    csrf = _csrf(http.get("/broker/subaccounts").text)
    r = http.post("/broker/subaccounts", data={
        "csrf_token": csrf, "name": "phonewallet01", "note": "a wallet user"})  # fmt: skip
    assert r.status_code == 303, r.text
    return http


def test_no_page_scrolls_sideways_at_phone_width(demo: Demo) -> None:
    base = demo.url
    broker = _signup(demo)
    broker_id = _apply(demo, broker, "API")
    trader = _trader_bound_to(demo, broker_id)  # a key bound: the keys table at its widest
    _market_buy(demo, trader, "120")  # order and trade history, a rebate for the broker
    _wait_for_record(broker, _uid(trader.http))
    independent, oauth = _independent_broker(demo), _oauth_broker(demo)
    wide: dict[str, int] = {}
    tall: dict[str, tuple[float, int]] = {}
    with chromium() as browser:
        for who, http, paths in (("anonymous", None, ANONYMOUS), ("trader", trader.http, TRADER),
                                 ("broker", broker, BROKER),
                                 ("independent", independent, INDEPENDENT),
                                 ("oauth", oauth, OAUTH)):  # fmt: skip
            errors: list[str] = []
            page = watch(browser.new_page(viewport=PHONE), errors)
            if isinstance(http, httpx.Client):
                sid = http.cookies["bourse_session"]
                page.context.add_cookies([{"name": "bourse_session", "value": sid, "url": base}])
            for path in paths:
                page.goto(base + path)
                assert page.url == base + path, page.url  # the page itself, not the log-in
                over = page.evaluate(
                    "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
                )
                name = f"phone-{who}-{path.strip('/').replace('/', '-') or 'home'}.png"
                page.screenshot(path=str(ARTIFACTS / name), full_page=True)
                if over > 0:
                    wide[f"{who} {path}"] = over
                header = page.locator("header.top").bounding_box()
                rows = page.evaluate(NAV_ROWS)
                assert header is not None
                if header["height"] > HEADER_MAX_PX or rows > 1:
                    tall[f"{who} {path}"] = (header["height"], rows)
            page.close()
            assert not errors, errors
    assert not wide, f"pages wider than the phone (CSS pixels too wide): {wide}"
    assert not tall, f"headers taller than one strip (height px, rows of links): {tall}"


def test_the_order_form_comes_before_the_book(demo: Demo) -> None:
    """On a phone the form is the first thing under the pair's name; on a laptop screen
    (1280x800) it is in view without scrolling, above the book of 20 rows and 20 trades."""
    http = _signup(demo)
    sid = http.cookies["bourse_session"]
    with chromium() as browser:
        for viewport in (PHONE, {"width": 1280, "height": 800}):
            errors: list[str] = []
            page = watch(browser.new_page(viewport=viewport), errors)
            page.context.add_cookies([{"name": "bourse_session", "value": sid, "url": demo.url}])
            page.goto(demo.url + "/trade/BTCUSDT")
            form = page.locator("#order-form").bounding_box()
            book = page.locator("#book").bounding_box()
            chart = page.locator("#chart").bounding_box()
            assert form and book and chart
            assert form["y"] + form["height"] <= viewport["height"], (viewport, form)
            assert form["y"] < chart["y"] < book["y"], (form, chart, book)
            page.screenshot(path=str(ARTIFACTS / f"trade-form-{viewport['width']}.png"))
            page.close()
            assert not errors, errors
