"""A real browser (Debian's chromium via playwright) against a real uvicorn server.

Sign up, log out, open an app's authorize link, log in, see the consent page, approve, land on
the app's own callback server with a code; exchange it with authlib's OAuth2Session using PKCE;
place an order on the OpenAPI with the Bearer token (``source`` = the app's broker); revoke the
app on the "Authorized apps" page; the next call is refused. Screenshots of the log-in, consent
and apps pages go to ``test-artifacts/``.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from starlette.applications import Starlette

from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.money import to_units
from bourse.engine import commands as c
from bourse.oauth import authenticate_bearer
from bourse.oauth import clients as cl
from bourse.oauth.server import OAuthConfig
from tests.support.browser import ARTIFACTS, chromium
from tests.support.server import Callback, free_port
from tests.support.server import ServerThread as Server


@pytest.fixture
def platform(db_url, tmp_path):  # type: ignore[no-untyped-def]
    p = open_platform(
        Config(database_url=db_url, key_dir=str(tmp_path), rate_limits=RateLimits.off())
    )
    try:
        yield p
    finally:
        p.close()


def _full_app(platform, config: OAuthConfig) -> Starlette:  # type: ignore[no-untyped-def]
    """The real application (``bourse.app.create_app``) with ``config.issuer`` as its URL."""
    from bourse.app import create_app

    platform.config.public_url = config.issuer
    return create_app(platform)


def test_browser_signup_consent_token_order_revoke(platform) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    with Callback() as cb:
        base = f"http://127.0.0.1:{port}"
        config = OAuthConfig(issuer=base)
        reg = cl.register_client(
            platform.oauth,
            name="Acme Copy Trading",
            redirect_uris=[cb.uri],
            broker_id=42,
            scopes="read trade",
        )
        with Server(_full_app(platform, config), port), chromium() as browser:
            _walk(browser, base, reg, cb, platform)


def _walk(browser, base: str, reg: cl.Registered, cb: Callback, platform) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1000, "height": 760})
    email = f"alice-{secrets.token_hex(3)}@example.com"
    password = "a long enough password"

    # sign up, then log out
    page.goto(base + "/signup?next=/account/apps")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/account/apps")
    assert "You have not authorised any app" in page.content()
    page.click("text=Log out")
    page.wait_for_url(base + "/login")

    # the app sends the user to the authorize link (authlib client, PKCE S256)
    app = OAuth2Session(
        reg.client.client_id,
        reg.client_secret,
        scope="read trade",
        redirect_uri=cb.uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    auth_url, state = app.create_authorization_url(
        base + "/oauth/authorize", code_verifier=verifier
    )
    page.goto(auth_url)
    page.wait_for_url(base + "/login?next=*")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.screenshot(path=str(ARTIFACTS / "oauth-login.png"), full_page=True)
    page.click("button[type=submit]")

    # the consent page
    page.wait_for_selector("#approve")
    assert page.url.startswith(base + "/oauth/authorize?")
    text = page.inner_text("main")
    assert "Acme Copy Trading wants to access your account" in text
    assert "Place and cancel spot orders" in text and "never" in text
    page.screenshot(path=str(ARTIFACTS / "oauth-consent.png"), full_page=True)
    page.click("#approve")

    # back on the app's callback with a code, state and iss
    page.wait_for_url(cb.uri + "?*")
    landed = page.url
    q = {k: v[0] for k, v in parse_qs(urlsplit(landed).query).items()}
    assert q["state"] == state and q["iss"] == base and q["code"]
    assert any(h.startswith("/callback?code=") for h in cb.hits)

    # the app exchanges the code with the real client library, PKCE verifier included
    token = app.fetch_token(
        base + "/oauth/token", authorization_response=landed, code_verifier=verifier
    )
    assert token["token_type"] == "Bearer" and token["scope"] == "read trade"
    access = token["access_token"]
    principal = authenticate_bearer(platform.oauth, access)

    # fund the user's exchange account, then trade on the OpenAPI with the token
    usdt = platform.engine.exchange.symbols["BTCUSDT"].quote
    platform.engine.execute(
        c.CreditDeposit(principal.account_id, "USDT", to_units("1000", usdt.scale), "tx-oauth-1")
    )
    hdr = {"Authorization": f"Bearer {access}", "source": "42"}
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.001",
        "price": "20000",
    }
    r = requests.post(base + "/api/v3/order", data=order, headers=hdr, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["symbol"] == "BTCUSDT" and r.json()["orderId"]
    r = requests.get(base + "/api/v3/account", headers=hdr, timeout=10)
    assert r.status_code == 200, r.text
    # another broker's source is refused with a clear message
    r = requests.post(
        base + "/api/v3/order", data=order, headers={**hdr, "source": "43"}, timeout=10
    )
    assert r.status_code == 403 and "does not match this token" in r.json()["msg"]
    # introspection agrees
    r = requests.post(
        base + "/oauth/introspect",
        data={"token": access},
        auth=(reg.client.client_id, reg.client_secret),
        timeout=10,
    )
    assert r.json()["active"] is True and r.json()["broker_id"] == 42

    # the user sees the app and revokes it
    page.goto(base + "/account/apps")
    row = page.locator(f"tr[data-client='{reg.client.client_id}']")
    assert "Acme Copy Trading" in row.inner_text() and "never" not in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "oauth-apps.png"), full_page=True)
    row.locator("button", has_text="Revoke").click()
    page.wait_for_selector("#confirm-yes")  # revoking asks once more
    page.click("#confirm-yes")
    page.wait_for_url(base + "/account/apps?revoked=*")
    assert "no longer work" in page.content()
    page.screenshot(path=str(ARTIFACTS / "oauth-apps-revoked.png"), full_page=True)

    # the very next call is refused, and so is a refresh
    r = requests.post(base + "/api/v3/order", data=order, headers=hdr, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == 10072, r.text
    assert r.headers["www-authenticate"].startswith('Bearer realm="bourse", error="invalid_token"')
    r = requests.post(
        base + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(reg.client.client_id, reg.client_secret),
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
