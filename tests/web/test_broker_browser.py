"""The broker console's journeys in a real browser (Debian's chromium via playwright) against a
demo server. Screenshots go to ``test-artifacts/console-broker-*.png``; no page may log a
script or CSP error (but the status of a refusal the journey asks for)."""

from __future__ import annotations

import html
import re
import time

from playwright.sync_api import Page

from bourse.oauth.management import ClientManager
from tests.support.browser import chromium, chromium_page, sign_up, watch
from tests.web.conftest import Demo
from tests.web.test_broker import _market_buy, _trader_bound_to, _uid
from tests.web.test_console import PASSWORD
from tests.web.test_console_browser import ARTIFACTS

CALLBACK = "https://app.example.com/callback"
OTHER_URI = "https://app.example.com/other"


def _apply(page: Page, base: str, kind: str, name: str) -> int:
    """Apply from the Broker page with the keyboard's help; the new broker's id."""
    page.click("nav >> text=Broker")
    page.wait_for_url(base + "/broker")
    page.check(f'input[name=broker_type][value="{kind}"]')
    page.fill("input[name=name]", name)
    page.press("input[name=name]", "Enter")
    page.wait_for_url(base + "/broker?applied=1")
    assert page.inner_text("#broker-status") == "PENDING"
    m = re.search(r"<code>(\d+)</code>", page.content())
    assert m
    return int(m.group(1))


def test_an_api_broker_sees_the_rebate_of_a_user_who_bound_a_key(demo: Demo) -> None:
    base = demo.url
    with chromium_page() as page:
        sign_up(page, base, "broker")
        broker_id = _apply(page, base, "API", "Grid Bots Ltd")
        page.screenshot(path=str(ARTIFACTS / "console-broker-applied.png"), full_page=True)
        demo.platform.brokers.registry.approve(broker_id)  # the operator's decision
        page.reload()
        assert page.inner_text("#broker-status") == "APPROVED"
        assert page.inner_text("#rebate-rate") == "30%"

        # a user binds a pair-limited key to the broker and trades through the REST API
        trader = _trader_bound_to(demo, broker_id)
        _market_buy(demo, trader, "120")
        uid = _uid(trader.http)

        page.click("nav[aria-label=Broker] >> text=Bound keys")
        row = page.locator(f'tr[data-key="{trader.api_key}"]')
        assert uid in row.inner_text() and "BTCUSDT" in row.inner_text()
        page.screenshot(path=str(ARTIFACTS / "console-broker-keys.png"), full_page=True)

        page.click("nav[aria-label=Broker] >> text=Rebates")
        deadline = time.monotonic() + 10
        while page.locator("#records tr[data-trade]").count() == 0:
            assert time.monotonic() < deadline, "the rebate never appeared"
            time.sleep(0.2)
            page.reload()
        record = page.locator("#records tr[data-trade]").first
        text = record.inner_text()
        assert uid in text and "BTCUSDT buy" in text and "pending" in text
        rebate = re.search(r"([0-9.]+) BTC\s+pending", text)
        assert rebate and float(rebate.group(1)) > 0
        today = time.strftime("%Y-%m-%d", time.gmtime())
        daily = page.locator(f'#daily tr[data-day="{today}"][data-asset="BTC"] td.num')
        assert daily.inner_text() == rebate.group(1)
        # the chart of daily totals is drawn on a canvas
        page.wait_for_selector('.rebate-chart[data-asset="BTC"][data-drawn="1"] canvas')
        page.screenshot(path=str(ARTIFACTS / "console-broker-rebates.png"), full_page=True)


def test_an_independent_broker_creates_and_funds_a_sub_account(demo: Demo) -> None:
    base = demo.url
    with chromium_page() as page:
        sign_up(page, base, "broker")
        broker_id = _apply(page, base, "INDEPENDENT", "Wallet Co")
        demo.platform.brokers.registry.approve(broker_id)  # the operator's decision

        # test funds into the master account (the dashboard's faucet, demo mode)
        page.click("nav >> text=Dashboard")
        page.select_option("select[name=asset]", "USDT")
        page.fill("input[name=amount]", "1000")
        page.click('button:has-text("Get test funds")')
        page.wait_for_url(lambda url: "/account?funded=" in url)

        # a sub-account for one of the broker's users
        page.click("nav >> text=Broker")
        page.click("nav[aria-label=Broker] >> text=Sub-accounts")
        page.wait_for_url(base + "/broker/subaccounts")
        master = page.locator('#master-balances tr[data-asset="USDT"] td').first
        assert master.inner_text() == "1000"
        page.fill("#create-sub input[name=name]", "carolwallet01")
        page.fill("#create-sub input[name=note]", "Carol, wallet user")
        page.press("#create-sub input[name=note]", "Enter")
        page.wait_for_url(base + "/broker/subaccounts/carolwallet01?done=created")
        assert page.inner_text("#sub-status") == "active"
        assert "Nothing here yet" in page.inner_text("#sub-balances")
        page.screenshot(path=str(ARTIFACTS / "console-broker-sub-created.png"), full_page=True)

        # fund it from the master: 250.75 USDT, exactly
        page.select_option("#transfer select[name=direction]", "in")
        page.select_option("#transfer select[name=asset]", "USDT")
        page.fill("#transfer input[name=amount]", "250.75")
        page.click('#transfer button:has-text("Transfer")')
        page.wait_for_url(base + "/broker/subaccounts/carolwallet01?done=moved-in")
        row = page.locator('#sub-balances tr[data-asset="USDT"] td')
        assert row.first.inner_text() == "250.75"
        assert page.inner_text("#sub-total") == "250.75 USDT"
        page.screenshot(path=str(ARTIFACTS / "console-broker-sub-funded.png"), full_page=True)

        page.click("text=All sub-accounts")
        assert "749.25" in page.inner_text("#master-balances")
        assert "carolwallet01" in page.inner_text("#subaccounts")
        page.screenshot(path=str(ARTIFACTS / "console-broker-subs.png"), full_page=True)


def test_an_oauth_broker_changes_its_app_with_the_password(demo: Demo) -> None:
    """Registering the app, a new secret and a new redirect URI ask for the log-in password (a
    wrong one is refused in words, the form as it was); removing a redirect URI does not."""
    base = demo.url
    manager = ClientManager.of(demo.platform)
    errors: list[str] = []
    with chromium() as browser:
        page = watch(browser.new_page(viewport={"width": 1100, "height": 900}), errors)
        sign_up(page, base, "oauthbroker")
        page.click("nav >> text=Broker")
        page.check('input[name=broker_type][value="OAUTH"]')
        page.fill("#apply input[name=name]", "Copy Trader")
        page.fill("#apply input[name=callback_url]", CALLBACK)
        page.press("#apply input[name=name]", "Enter")
        page.wait_for_url(base + "/broker?applied=1")
        m = re.search(r"<code>(\d+)</code>", page.content())
        assert m
        broker_id = int(m.group(1))
        demo.platform.brokers.registry.approve(broker_id)  # the operator's decision
        page.reload()
        page.click("nav[aria-label=Broker] >> text=OAuth app")
        page.wait_for_url(base + "/broker/app")

        # register: the browser does not send the form without the password
        form = page.locator("#register-app")
        form.locator("input[name=name]").fill("Copy Trader app")
        assert form.locator("input[name=redirect_uri]").input_value() == CALLBACK
        form.locator('button:has-text("Register app")').click()
        assert page.url == base + "/broker/app"
        assert form.locator("input[name=password]").evaluate("e => e.validity.valueMissing")
        # a wrong one: refused in words, nothing registered, the form as it was
        form.locator("input[name=password]").fill("not the password")
        with page.expect_navigation():
            form.locator('button:has-text("Register app")').click()
        alert = html.unescape(page.inner_text("p.error[role=alert]"))
        assert alert.startswith("The password is wrong: a new app, a new client secret"), alert
        assert form.locator("input[name=name]").input_value() == "Copy Trader app"
        assert manager.clients(broker_id) == []
        page.screenshot(path=str(ARTIFACTS / "console-broker-app-refused.png"), full_page=True)
        assert errors == [
            "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
        ]
        errors.clear()
        form.locator("input[name=password]").fill(PASSWORD)
        with page.expect_navigation():
            form.locator('button:has-text("Register app")').click()
        client_id = page.inner_text("#client-id")
        secret = page.inner_text("#client-secret")
        assert manager.client(broker_id, client_id).check_client_secret(secret)

        # a new secret (the old one stops now), with the password
        section = page.locator(f'section[data-client="{client_id}"]')
        rotate = section.locator('form[action="/broker/app/rotate"]')
        rotate.locator("select[name=grace]").select_option("0")
        rotate.locator("input[name=password]").fill(PASSWORD)
        page.screenshot(path=str(ARTIFACTS / "console-broker-app-rotate.png"), full_page=True)
        with page.expect_navigation():
            rotate.locator('button:has-text("New secret")').click()
        assert "The old secret stopped working." in page.inner_text("#secret")
        client = manager.client(broker_id, client_id)
        assert client.check_client_secret(page.inner_text("#client-secret"))
        assert not client.check_client_secret(secret)

        # a new redirect URI, with the password; removing one needs the session only
        section = page.locator(f'section[data-client="{client_id}"]')
        add = section.locator('form[action="/broker/app/redirect-uris"]')
        add.locator("input[name=redirect_uri]").fill(OTHER_URI)
        add.locator("input[name=password]").fill(PASSWORD)
        with page.expect_navigation():
            add.locator('button:has-text("Add URI")').click()
        assert page.inner_text("p.ok[role=status]") == "Redirect URI added."
        with page.expect_navigation():
            page.click(f'button[aria-label="Remove {CALLBACK}"]')
        assert page.inner_text("p.ok[role=status]") == "Redirect URI removed."
        assert manager.client(broker_id, client_id).redirect_uris == (OTHER_URI,)
        page.screenshot(path=str(ARTIFACTS / "console-broker-app-uris.png"), full_page=True)
    assert not errors, errors
