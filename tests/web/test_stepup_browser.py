"""The key form's step-up in a real browser (Debian's chromium via playwright) against a demo
server: the password field appears once "Withdraw" is ticked, a key that can withdraw is refused
in words without it and made with it, and a key's new secret asks for it too. Screenshots go to
``test-artifacts/stepup-*.png``; no page may log a script or CSP error (the refusal's 401 is logged, and expected)."""

from __future__ import annotations

import re

import pytest

from tests.support.browser import ARTIFACTS, chromium, sign_up, watch
from tests.web.conftest import Demo
from tests.web.test_console import PASSWORD

FORM = "#create-key"
WITHDRAW = f'{FORM} input[name=permissions][value="SPOT_WITHDRAW_WRITE"]'


@pytest.mark.slow
def test_a_key_that_can_withdraw_asks_for_the_password(demo: Demo) -> None:
    base = demo.url
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with chromium() as browser:
        page = watch(browser.new_page(viewport={"width": 1100, "height": 800}), errors)
        sign_up(page, base, "dora")
        page.click("nav >> text=API keys")
        page.wait_for_url(base + "/account/keys")
        password = page.locator(f"{FORM} input[name=password]")
        assert not password.is_visible()  # a key that cannot withdraw needs no password
        page.fill(f"{FORM} input[name=label]", "payout bot")
        page.check(WITHDRAW)
        assert password.is_visible()
        assert "Confirm it is you" in page.inner_text("#key-confirm legend")
        page.screenshot(path=str(ARTIFACTS / "stepup-key-form.png"), full_page=True)

        # without the password: refused in words, nothing made, the form as it was
        with page.expect_navigation():
            page.click(f'{FORM} button:has-text("Create key")')
        alert = page.wait_for_selector("p.error[role=alert]")
        assert alert is not None  # it asks for the password, not "wrong": none was typed
        assert alert.inner_text().startswith("Type your log-in password to confirm it is you")
        assert page.locator("#new-key").count() == 0 and page.locator("#keys").count() == 0
        assert page.is_checked(WITHDRAW)
        assert page.input_value(f"{FORM} input[name=label]") == "payout bot"
        page.screenshot(path=str(ARTIFACTS / "stepup-key-refused.png"), full_page=True)
        assert errors == [  # the browser logs the refusal's status, nothing else
            "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
        ]
        errors.clear()

        # with it: the key, its secret once, and it can withdraw
        password.fill(PASSWORD)
        with page.expect_navigation():
            page.click(f'{FORM} button:has-text("Create key")')
        api_key = page.wait_for_selector("#new-key").inner_text()  # type: ignore[union-attr]
        assert re.fullmatch(r"[0-9a-f]{32}", page.inner_text("#new-secret"))
        row = page.locator(f'tr[data-key="{api_key}"]')
        assert "SPOT_WITHDRAW_WRITE" in row.inner_text()
        stored = demo.platform.apikeys.lookup(api_key)
        assert stored is not None and "SPOT_WITHDRAW_WRITE" in stored.permissions
        page.screenshot(path=str(ARTIFACTS / "stepup-key-created.png"), full_page=True)

        # a new secret for it: the row's form asks for the password first
        row.locator("summary").click()
        row.locator("input[name=password]").fill(PASSWORD)
        page.screenshot(path=str(ARTIFACTS / "stepup-new-secret.png"), full_page=True)
        with page.expect_navigation():
            row.locator('button:has-text("New secret")').click()
        assert "The old secret no longer works" in page.inner_text("#created")
        secret = page.inner_text("#new-secret")
        demo.platform.apikeys.forget(api_key)
        rotated = demo.platform.apikeys.lookup(api_key)
        assert rotated is not None and rotated.secret == secret != stored.secret
    assert not errors, errors
