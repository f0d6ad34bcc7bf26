"""The console's first journey in a real browser (Debian's chromium via playwright) against a
demo server: open the home page (markets refreshed by htmx), sign up, get test funds, create a
key limited to one trading pair, bind it to the demo broker, then place a limit order on the
trade page, see it top the book, and cancel it (the book live over ``/ws``). Screenshots of
each step go to ``test-artifacts/console-*.png``; no page may log a script or CSP error."""

from __future__ import annotations

import re
import secrets

import pytest

from tests.support.browser import ARTIFACTS, chromium_page
from tests.web.conftest import Demo


@pytest.mark.slow
def test_signup_fund_key_bind_trade(demo: Demo) -> None:
    base = demo.url
    with chromium_page() as page:
        # the home page: markets with prices, refreshed in place by htmx
        page.goto(base + "/")
        btc = page.locator('tr[data-symbol="BTCUSDT"] td').first
        assert re.fullmatch(r"[0-9.]+", btc.inner_text())
        with page.expect_request(lambda r: r.url == base + "/markets"):
            pass  # htmx polls every 5 s
        page.screenshot(path=str(ARTIFACTS / "console-home.png"), full_page=True)

        # sign up from the home page's link; the dashboard is empty
        page.click("text=Create an account")
        page.fill("input[name=email]", f"carol-{secrets.token_hex(3)}@example.com")
        page.fill("input[name=password]", "a long enough password")
        page.keyboard.press("Enter")  # the keyboard submits as a click does
        page.wait_for_url(base + "/account")
        assert "Nothing here yet" in page.content()

        # test funds (demo mode)
        page.select_option("select[name=asset]", "USDT")
        page.fill("input[name=amount]", "2500")
        page.click('button:has-text("Get test funds")')
        page.wait_for_url(lambda url: "/account?funded=" in url)
        assert "2500 USDT of test funds credited" in page.content()
        assert page.locator('tr[data-asset="USDT"] td').first.inner_text() == "2500"
        assert page.inner_text("#total") == "2500.00 USDT"
        page.screenshot(path=str(ARTIFACTS / "console-dashboard.png"), full_page=True)

        # a key for BTCUSDT only; its secret shown once
        page.click("nav >> text=API keys")
        page.wait_for_url(base + "/account/keys")
        page.fill("input[name=label]", "grid bot")
        page.check('input[name=symbols][value="BTCUSDT"]')
        page.click('button:has-text("Create key")')
        api_key = page.inner_text("#new-key")
        assert re.fullmatch(r"[0-9a-f]{32}", page.inner_text("#new-secret"))
        page.screenshot(path=str(ARTIFACTS / "console-key-created.png"), full_page=True)
        row = page.locator(f'tr[data-key="{api_key}"]')
        assert "Pairs: BTCUSDT" in row.inner_text()

        # bind it to the demo broker
        row.locator("select[name=broker_id]").select_option(str(demo.broker_id))
        row.locator('button:has-text("Bind")').click()
        assert "cannot be undone" in page.inner_text("#cannot-undo")  # bound once, ever
        page.click("#confirm-yes")
        page.wait_for_url(base + "/account/keys?done=bound")
        assert "Demo API Broker" in page.locator(f'tr[data-key="{api_key}"]').inner_text()
        assert "Release" in page.locator(f'tr[data-key="{api_key}"]').inner_text()
        page.reload()
        assert "#new-secret" not in page.content() and "new-secret" not in page.content()
        page.screenshot(path=str(ARTIFACTS / "console-key-bound.png"), full_page=True)

        # the trade page: a bid inside the spread tops the book, then is cancelled
        price = demo.quiet_bid("BTCUSDT")
        page.click("nav >> text=Markets")
        page.click('tr[data-symbol="BTCUSDT"] >> text=BTC')
        page.wait_for_url(base + "/trade/BTCUSDT")
        # the price chart: candles from the klines endpoint, drawn on a canvas
        page.wait_for_selector("#chart[data-candles]:not([data-candles='0']) canvas")
        page.fill("input[name=price]", price)
        page.fill("input[name=quantity]", "0.0123")
        page.click('button:has-text("Place order")')
        page.wait_for_url(lambda url: "/trade/BTCUSDT?placed=" in url)
        order = page.locator("#open-orders tbody tr")
        assert order.count() == 1 and price in order.inner_text()
        top_bid = page.locator("tbody.bids tr").first
        assert top_bid.inner_text().split() == [price, "0.0123"]
        page.screenshot(path=str(ARTIFACTS / "console-trade-placed.png"), full_page=True)
        order.locator('button:has-text("Cancel")').click()
        page.wait_for_url(lambda url: "/trade/BTCUSDT?cancelled=" in url)
        assert "You have no open orders" in page.content()
        page.wait_for_selector('[data-live-book][data-live="1"]')  # the book from /ws
        assert page.locator("tbody.bids tr").first.inner_text().split()[0] != price
        page.screenshot(path=str(ARTIFACTS / "console-trade-cancelled.png"), full_page=True)
    stored = demo.platform.apikeys.lookup(api_key)
    assert stored is not None and stored.symbols == ("BTCUSDT",)
    assert demo.platform.brokers.bindings.bound_broker(api_key) == demo.broker_id
