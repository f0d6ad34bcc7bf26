"""The console on a phone (390 CSS pixels wide, in Debian's chromium via playwright): no page
scrolls sideways, its wide tables included (a user's keys bound to a broker, order and trade
history, a broker's bound keys and rebates). Screenshots go to ``test-artifacts/phone-*.png``."""

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
            page.close()
            assert not errors, errors
    assert not wide, f"pages wider than the phone (CSS pixels too wide): {wide}"
