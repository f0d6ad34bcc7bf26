"""The money pages in a real browser (Debian's chromium) against a demo server: a new user
gets test funds on the deposit page and sees the deposit address, withdraws some to a Tron
address (the sandbox chain sends and confirms it), moves some to the FUTURES account, and opens the
security page, going from page to page by the keyboard. Screenshots go to
``test-artifacts/console-{deposit,withdraw,transfers,security}.png``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.support.browser import chromium_page, sign_up
from tests.web.conftest import Demo
from tests.web.test_console_browser import ARTIFACTS
from tests.web.test_wallet_pages import TRON_ADDRESS

PASSWORD = "a long enough password"
#: blocks the sandbox chain mines to send and confirm a withdrawal (TRX: 3 confirmations)
CHAIN_BLOCKS = 6


def _by_keyboard(page: Page, label: str) -> None:
    """Go to a nav link by Tab alone, see its focus ring, and follow it with Enter."""
    page.keyboard.press("Tab")  # the skip link first
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == label:
            break
    else:
        raise AssertionError(f"Tab never reached {label!r}")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "the focused link shows no focus ring"
    page.keyboard.press("Enter")


@pytest.mark.slow
def test_deposit_withdraw_transfer_security(demo: Demo) -> None:
    base = demo.url
    with chromium_page() as page:
        sign_up(page, base, "dora")

        # deposit: the address of the chosen coin and network; test funds from here
        _by_keyboard(page, "Deposit")
        page.wait_for_url(base + "/account/deposit")
        assert page.get_attribute('nav a[href="/account/deposit"]', "aria-current") == "page"
        page.select_option("#pick select[name=coin]", "USDT")
        page.select_option("#pick select[name=network]", "TRX")
        page.click('button:has-text("Show address")')
        page.wait_for_url(lambda url: "network=TRX" in url)
        address = page.inner_text("#deposit-address")
        assert re.fullmatch(r"T[1-9A-HJ-NP-Za-km-z]{33}", address), address
        page.fill("input[name=amount]", "500")
        page.click('button:has-text("Get test funds")')
        page.wait_for_url(lambda url: "/account/deposit?funded=" in url)
        assert "500 USDT of test funds credited" in page.content()
        page.screenshot(path=str(ARTIFACTS / "console-deposit.png"), full_page=True)

        # withdraw 25 USDT (fee 1 included) with the password
        _by_keyboard(page, "Withdraw")
        page.wait_for_url(base + "/account/withdraw")
        assert page.inner_text("#available") == "500 USDT"
        page.select_option("#withdraw select[name=network]", "TRX")
        page.fill("#withdraw input[name=address]", TRON_ADDRESS)
        page.fill("#withdraw input[name=amount]", "25")
        page.fill("#withdraw input[name=password]", PASSWORD)
        page.click('#withdraw button:has-text("Withdraw")')
        page.wait_for_url(lambda url: "done=" in url)
        assert "requested" in page.inner_text("p.ok")
        assert page.inner_text("#available") == "475 USDT"
        row = page.locator("#withdrawals tbody tr").first
        assert "25" in row.inner_text() and TRON_ADDRESS in row.inner_text()
        assert row.locator("td.status").inner_text() == "Apply"
        # the sandbox chain mines blocks: it sends the withdrawal and confirms it
        chain: Any = demo.platform.chain
        for _ in range(CHAIN_BLOCKS):
            chain.advance(1)
        page.reload()
        row = page.locator("#withdrawals tbody tr").first
        assert row.locator("td.status").inner_text() == "Success"
        assert "tx " in row.inner_text() and not row.locator("button").count()
        page.screenshot(path=str(ARTIFACTS / "console-withdraw.png"), full_page=True)

        # 100 USDT to the FUTURES account
        _by_keyboard(page, "Transfers")
        page.wait_for_url(base + "/account/transfers")
        form = page.locator("#transfer")
        form.locator("select[name=from]").select_option("SPOT")
        form.locator("select[name=to]").select_option("FUTURES")
        form.locator("select[name=asset]").select_option("USDT")
        form.locator("input[name=amount]").fill("100")
        form.locator('button:has-text("Transfer")').click()
        page.wait_for_url(lambda url: "/account/transfers?done=" in url)
        futures = page.locator('#balances-futures tr[data-asset="USDT"] td').first
        assert futures.inner_text() == "100"
        spot = page.locator('#balances-spot tr[data-asset="USDT"] td').first
        assert spot.inner_text() == "375"
        assert "SPOT → FUTURES" in page.inner_text("#transfers")
        page.screenshot(path=str(ARTIFACTS / "console-transfers.png"), full_page=True)

        # security: 2FA off, this log-in listed
        _by_keyboard(page, "Security")
        page.wait_for_url(base + "/account/security")
        assert "Turn it on" in page.inner_text("#totp-status")
        assert "this one" in page.inner_text("#log-ins")
        page.screenshot(path=str(ARTIFACTS / "console-security.png"), full_page=True)
