"""What a newcomer reads on the pages ``bourse.web.routes`` and the consent page serve: the
consent page says who is asking apart from who is signed in and has no site navigation;
revoking an app takes a second, confirming step; the 2FA page shows a QR code; the site's
icon is served."""

from __future__ import annotations

import re

from bourse.oauth import authenticate_bearer
from tests.support.oauth import (
    authorize_params,
    exchange,
    form_value,
    get_code,
    pkce_pair,
    register,
    signup,
)


def test_the_consent_page_says_who_asks_apart_from_who_is_signed_in(env) -> None:  # type: ignore[no-untyped-def]
    reg = register(env, name="Copy Trader", broker_id=7)
    email = signup(env.http)
    _, challenge = pkce_pair()
    page = env.http.get("/oauth/authorize", params=authorize_params(reg, challenge)).text
    asking = re.search(r'<p class="muted" id="asking">(.*?)</p>', page, re.S)
    signed = re.search(r'<p class="muted" id="signed-in">(.*?)</p>', page, re.S)
    assert asking and signed, page
    assert "Copy Trader" in asking.group(1) and "broker #7" in asking.group(1)
    assert email not in asking.group(1)
    assert email in signed.group(1) and "broker" not in signed.group(1)
    header = page.split('<header class="top">')[1].split("</header>")[0]
    assert "<nav" not in header and "/account" not in header  # no way off the page mid-sign-in


def test_revoking_an_app_takes_a_confirming_step(env) -> None:  # type: ignore[no-untyped-def]
    reg = register(env, name="Copy Trader")
    code, verifier = get_code(env, reg)
    access = exchange(env, reg, code, verifier).json()["access_token"]
    csrf = form_value(env.http.get("/account/apps").text, "csrf_token")
    cid = reg.client.client_id
    r = env.http.post("/account/apps/revoke", data={"client_id": cid, "csrf_token": csrf})
    assert r.status_code == 200 and "Revoke Copy Trader?" in r.text, r.text
    assert authenticate_bearer(env.oauth, access)  # the first POST asked, nothing more
    assert 'name="confirmed" value="1"' in r.text and f'name="client_id" value="{cid}"' in r.text
    assert cid in env.http.get("/account/apps").text
    # a client id that is not one of the user's apps is asked nothing and revokes nothing
    r = env.http.post("/account/apps/revoke", data={"client_id": "bc_nope", "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/account/apps"
    r = env.http.post("/account/apps/revoke", data={"client_id": cid, "csrf_token": csrf,
                                                    "confirmed": "1"})  # fmt: skip
    assert r.status_code == 303 and "revoked=1" in r.headers["location"]
    assert f'data-client="{cid}"' not in env.http.get("/account/apps").text


def test_the_2fa_page_shows_a_qr_code_and_links_the_uri(env) -> None:  # type: ignore[no-untyped-def]
    signup(env.http)
    page = env.http.get("/account/2fa").text
    secret = form_value(page, "secret")
    qr = re.search(r'<figure class="qr" id="totp-qr"><svg [^>]*>.*?</svg>\s*</figure>', page, re.S)
    assert qr and "<path" in qr.group(0), page
    link = re.search(r'<a href="(otpauth://totp/[^"]+)" id="totp-uri">', page)
    assert link and f"secret={secret}" in link.group(1)


def test_the_site_icon_is_served(env) -> None:  # type: ignore[no-untyped-def]
    r = env.http.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.startswith("<svg") and r.headers["x-content-type-options"] == "nosniff"
    # cached a day, and nothing says otherwise (an HTTP/1.0 cache obeys Pragma: no-cache)
    assert r.headers["cache-control"] == "public, max-age=86400" and "pragma" not in r.headers
    page = env.http.get("/login").text
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert icon and env.http.get(icon.group(1)).status_code == 200
