"""An OAuth broker's app page over HTTP on a running demo server: register (secret shown once),
rotate (grace or not), redirect URIs, scopes; another broker cannot reach the client; CSRF
refusal; a clear page for other brokers; render time."""

from __future__ import annotations

import re

import httpx
import pytest

from bourse.oauth.management import ClientManager
from tests.web.checks import assert_refused_without_csrf, assert_within_budget
from tests.web.conftest import Demo
from tests.web.test_broker import _apply
from tests.web.test_console import PASSWORD, _csrf, _signup

CALLBACK = "https://app.example.com/callback"


def _oauth_broker(demo: Demo) -> tuple[httpx.Client, int]:
    http = _signup(demo)
    csrf = _csrf(http.get("/broker").text)
    r = http.post("/broker/apply", data={"csrf_token": csrf, "broker_type": "OAUTH",
                                         "name": "Copy Trader", "callback_url": CALLBACK})  # fmt: skip
    assert r.status_code == 303, r.text
    m = re.search(r"<code>(\d+)</code>", http.get("/broker").text)
    assert m
    demo.platform.brokers.registry.approve(int(m.group(1)))
    return http, int(m.group(1))


def _register(http: httpx.Client) -> tuple[str, str]:
    page = http.get("/broker/app").text
    assert f'value="{CALLBACK}"' in page  # the application's callback, ready to register
    r = http.post("/broker/app/register", data={
        "csrf_token": _csrf(page), "name": "Copy Trader app", "redirect_uri": CALLBACK,
        "scopes": ["read", "trade"], "password": PASSWORD})  # fmt: skip
    assert r.status_code == 201, r.text
    cid = re.search(r'id="client-id">([^<]+)<', r.text)
    secret = re.search(r'id="client-secret">([^<]+)<', r.text)
    assert cid and secret
    return cid.group(1), secret.group(1)


def test_an_oauth_broker_manages_its_app(demo: Demo) -> None:
    http, broker_id = _oauth_broker(demo)
    cid, secret = _register(http)
    manager = ClientManager.of(demo.platform)
    client = manager.client(broker_id, cid)
    assert client.check_client_secret(secret) and client.scopes == "read trade"
    page = http.get("/broker/app").text
    assert cid in page and secret not in page and "client-secret" not in page
    csrf = _csrf(page)
    # the callback is registered: offered neither again on the app nor for a second app
    add = page.split('action="/broker/app/redirect-uris"')[1].split("</form>")[0]
    register = page.split('id="register-app"')[1].split("</form>")[0]
    assert f'value="{CALLBACK}"' not in add + register
    scopes = re.search(r'id="approved-scopes">(.*?)</p>', page, re.S)
    assert scopes and not scopes.group(1).rstrip().endswith(".")  # no stray full stop

    # a new secret; the old one keeps working for the grace period
    rotate = {"csrf_token": csrf, "client_id": cid, "password": PASSWORD}
    r = http.post("/broker/app/rotate", data={**rotate, "grace": ""})
    assert r.status_code == 201 and "keeps working until" in r.text
    second = re.search(r'id="client-secret">([^<]+)<', r.text)
    assert second and second.group(1) != secret
    client = manager.client(broker_id, cid)
    assert client.check_client_secret(secret) and client.check_client_secret(second.group(1))
    # a leaked one: it stops now
    r = http.post("/broker/app/rotate", data={**rotate, "grace": "0"})
    assert r.status_code == 201 and "The old secret stopped working." in r.text
    third = re.search(r'id="client-secret">([^<]+)<', r.text)
    assert third
    client = manager.client(broker_id, cid)
    assert client.check_client_secret(third.group(1))
    assert not client.check_client_secret(second.group(1))

    # redirect URIs: exact strings, validated; scopes within what the broker was approved for
    other = "https://app.example.com/other"
    for uri, status in ((other, 303), (other, 400), ("http://evil.example.com/x", 400)):
        r = http.post("/broker/app/redirect-uris", data={
            "csrf_token": csrf, "client_id": cid, "redirect_uri": uri, "password": PASSWORD})  # fmt: skip
        assert r.status_code == status, (uri, r.text)
        if status == 400:
            assert 'role="alert"' in r.text
    r = http.post("/broker/app/redirect-uris/del",
                  data={"csrf_token": csrf, "client_id": cid, "redirect_uri": CALLBACK})  # fmt: skip
    assert r.status_code == 303
    assert manager.client(broker_id, cid).redirect_uris == (other,)
    # the callback removed from the app: offered again where it is missing, on the app
    page = http.get("/broker/app").text
    add = page.split('action="/broker/app/redirect-uris"')[1].split("</form>")[0]
    register = page.split('id="register-app"')[1].split("</form>")[0]
    assert f'value="{CALLBACK}"' in add and f'value="{CALLBACK}"' not in register
    r = http.post("/broker/app/scopes", data={"csrf_token": csrf, "client_id": cid,
                                              "scopes": ["read"]})  # fmt: skip
    assert r.status_code == 303 and manager.client(broker_id, cid).scopes == "read"
    r = http.post("/broker/app/scopes", data={"csrf_token": csrf, "client_id": cid})
    assert r.status_code == 400 and "A client needs at least one scope." in r.text
    r = http.post("/broker/app/scopes", data={"csrf_token": csrf, "client_id": cid,
                                              "scopes": ["transfer"]})  # fmt: skip
    assert r.status_code == 400 and "beyond what the broker is approved for" in r.text
    assert manager.client(broker_id, cid).scopes == "read"


def test_another_broker_cannot_reach_the_app(demo: Demo) -> None:
    alice, a_id = _oauth_broker(demo)
    bob, _ = _oauth_broker(demo)
    cid, secret = _register(alice)
    assert cid not in bob.get("/broker/app").text
    csrf = _csrf(bob.get("/broker/app").text)
    for path, data in (
        ("/broker/app/rotate", {"client_id": cid, "grace": "0"}),
        ("/broker/app/redirect-uris", {"client_id": cid, "redirect_uri": CALLBACK + "2"}),
        ("/broker/app/redirect-uris/del", {"client_id": cid, "redirect_uri": CALLBACK}),
        ("/broker/app/scopes", {"client_id": cid, "scopes": ["read"]}),
    ):
        r = bob.post(path, data={**data, "csrf_token": csrf})
        assert r.status_code == 400 and "not found" in r.text, (path, r.text)
    client = ClientManager.of(demo.platform).client(a_id, cid)
    assert client.check_client_secret(secret) and client.redirect_uris == (CALLBACK,)
    assert client.scopes == "read trade"


def test_other_accounts_get_a_clear_page_and_forms_need_the_csrf_token(demo: Demo) -> None:
    api = _signup(demo)
    _apply(demo, api, "API")
    r = api.get("/broker/app")
    assert r.status_code == 403 and "Only an OAuth broker has an app. Your broker is API." in r.text
    r = _signup(demo).get("/broker/app")
    assert r.status_code == 403 and "Your account is not a broker" in r.text
    http, broker_id = _oauth_broker(demo)
    cid, _ = _register(http)
    forged = [
        ("/broker/app/register", {"name": "evil", "redirect_uri": CALLBACK}),
        ("/broker/app/rotate", {"client_id": cid, "grace": "0"}),
        ("/broker/app/redirect-uris/del", {"client_id": cid, "redirect_uri": CALLBACK}),
        ("/broker/app/scopes", {"client_id": cid, "scopes": ["read"]}),
    ]
    assert_refused_without_csrf(http, forged)
    clients = ClientManager.of(demo.platform).clients(broker_id)
    assert [c.client_id for c in clients] == [cid]
    assert clients[0].redirect_uris == (CALLBACK,) and clients[0].secret_rotated is None


@pytest.mark.alone
def test_app_page_renders_within_budget(demo: Demo) -> None:
    http, _ = _oauth_broker(demo)
    _register(http)
    assert_within_budget(http, ["/broker/app"])
