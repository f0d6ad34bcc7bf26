"""The operator's journey in a real browser (Debian's chromium via playwright): a user applies
to be a broker on the Broker page, the operator signs in to the console with the operator
credential, approves the application with the keyboard, and the user's page shows the broker
approved; the audit log shows the approval. Screenshots go to
``test-artifacts/console-operator-*.png``; no page may log a script or CSP error."""

from __future__ import annotations

import secrets

from bourse.domain.brokers import BrokerStatus
from tests.support.browser import ARTIFACTS, chromium, watch
from tests.web.operator_server import PASSWORD, Operated


def test_operator_approves_a_broker(operated: Operated) -> None:
    o, base = operated, operated.url
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with chromium() as browser:
        viewport = {"width": 1200, "height": 800}
        # a user applies to be an API broker
        user = watch(browser.new_context(viewport=viewport).new_page(), errors)  # type: ignore[arg-type]
        user.goto(base + "/signup")
        user.fill("input[name=email]", f"applicant-{secrets.token_hex(3)}@example.com")
        user.fill("input[name=password]", PASSWORD)
        user.keyboard.press("Enter")
        user.wait_for_url(base + "/account")
        user.click("nav >> text=Broker")
        user.wait_for_url(base + "/broker")
        user.check('input[name=broker_type][value="API"]')
        user.fill("input[name=name]", "Copy Trading Co")
        user.press("input[name=name]", "Enter")
        user.wait_for_url(base + "/broker?applied=1")
        assert user.inner_text("#broker-status") == "PENDING"
        broker_id = int(user.locator("#broker code").first.inner_text())
        user.screenshot(path=str(ARTIFACTS / "console-operator-applied.png"), full_page=True)

        # the operator: no session, the sign-in page; a wrong credential is refused in words
        op = watch(browser.new_context(viewport=viewport).new_page(), errors)  # type: ignore[arg-type]
        op.goto(base + "/operator/brokers")
        op.wait_for_url(base + "/operator/login")
        op.fill("input[name=token]", "bop_not-the-token")
        op.keyboard.press("Enter")
        assert "not the operator credential" in op.inner_text("p.error")
        assert errors == [  # the browser logs the refusal's status, nothing else
            "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
        ]
        errors.clear()
        op.fill("input[name=token]", o.token)
        op.keyboard.press("Enter")
        op.wait_for_url(base + "/operator")
        op.screenshot(path=str(ARTIFACTS / "console-operator-users.png"), full_page=True)

        # approve with the keyboard: focus the row's Approve button, press Enter
        op.click("nav >> text=Brokers")
        op.wait_for_url(base + "/operator/brokers")
        row = op.locator(f'tr[data-broker="{broker_id}"]')
        assert "PENDING" in row.locator("td.status").inner_text()
        op.screenshot(path=str(ARTIFACTS / "console-operator-pending.png"), full_page=True)
        row.locator('button:has-text("Approve")').focus()
        op.keyboard.press("Enter")
        op.wait_for_url(base + "/operator/brokers?done=brokers.approve")
        assert "The broker is approved." in op.inner_text("p.ok")
        row = op.locator(f'tr[data-broker="{broker_id}"]')
        assert row.locator("td.status").inner_text() == "APPROVED"
        op.screenshot(path=str(ARTIFACTS / "console-operator-approved.png"), full_page=True)

        # the approval is in the audit log; the health page refreshes itself (htmx)
        op.click("nav >> text=Audit log")
        first = op.locator("#audit tbody tr").first
        assert "brokers.approve" in first.inner_text() and "operator (web)" in first.inner_text()
        op.screenshot(path=str(ARTIFACTS / "console-operator-audit.png"), full_page=True)
        op.click("nav >> text=Health")
        with op.expect_response(lambda r: r.url == base + "/operator/health"):
            pass  # htmx polls every 2 s
        op.screenshot(path=str(ARTIFACTS / "console-operator-health.png"), full_page=True)

        # the user sees the decision
        user.reload()
        assert user.inner_text("#broker-status") == "APPROVED"
        user.screenshot(
            path=str(ARTIFACTS / "console-operator-broker-approved.png"), full_page=True
        )

        # signed out, the console asks for the credential again
        op.click('button:has-text("Sign out")')
        op.wait_for_url(base + "/operator/login")
        op.goto(base + "/operator/brokers")
        op.wait_for_url(base + "/operator/login")
    assert not errors, errors
    assert o.platform.brokers.registry.get(broker_id).status is BrokerStatus.APPROVED
