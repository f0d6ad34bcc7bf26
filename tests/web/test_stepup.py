"""The step-up (the log-in password, and a current 2FA code when 2FA is on) on the console forms
that hand out the power to move money off an account, to act as an OAuth app, or take a
protection away, over HTTP on a running demo server (attack findings F5, F6): a key that can
withdraw (a user's and a sub-account's), a key's renewal or new secret, an OAuth broker's new
app, app secret and redirect URI, turning 2FA on and off. Each refusal changes nothing and says
what happened: nothing typed (which spends no attempt), or wrong (with 2FA on, one sentence for
either); every wrong password or code counts against the log-in throttle, also when many are
sent at once."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import httpx
import pyotp

from bourse.config import AuthLimits
from bourse.oauth.management import ClientManager
from tests.web.checks import post_at_once
from tests.web.conftest import Demo
from tests.web.test_broker_oauth import CALLBACK, _oauth_broker, _register
from tests.web.test_broker_subaccounts import _create_sub, _independent
from tests.web.test_console import PASSWORD, _account, _create_key, _csrf, _signup
from tests.web.test_wallet_pages import TRON_ADDRESS, _alert, _fund, _user_id, _withdraw_form

WITHDRAW_KEY = {"label": "payout", "permissions": ["SPOT_WITHDRAW_WRITE", "SPOT_ACCOUNT_READ"]}
#: what a refused step-up says: nothing typed (the password; with 2FA on, the code), or wrong
#: (without 2FA the password; with it, one sentence for either, as log-in)
ASK_PASSWORD = "Type your log-in password to confirm it is you"
ASK_CODE = "Type a current 2FA code to confirm it is you"
WRONG_PASSWORD = "The password is wrong"
WRONG_EITHER = "The password or 2FA code is wrong"
#: and why the key forms ask, on an account without 2FA (``them``, with it)
KEY_REFUSED = "a key that can withdraw, a renewal and a new secret ask for it, as a withdrawal does"
KEY_REFUSED_2FA = KEY_REFUSED.replace("for it", "for them")
#: why the OAuth app forms ask, on an account without 2FA
APP_REFUSED = (
    "a new app, a new client secret and a new redirect URI ask for it, as whoever holds an "
    "app's secret or one of its redirect URIs can act as the app"
)
APP_REFUSED_2FA = APP_REFUSED.replace("for it", "for them")
OTHER_URI = "https://app.example.com/other"
#: a budget window (ms) no test run crosses, so a budget is never split by a window's end
HUGE_WINDOW = 10**12
#: the per-IP budget of the concurrency tests, and how many wrong codes they send at once
BUDGET, SENT = 4, 16


def _with_2fa(http: httpx.Client) -> pyotp.TOTP:
    """Turn 2FA on for ``http``'s user on its page (the enabling step is spent)."""
    page = http.get("/account/2fa").text
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page)
    assert secret
    totp = pyotp.TOTP(secret.group(1))
    r = http.post("/account/2fa", data={"csrf_token": _csrf(page), "secret": totp.secret,
                                        "code": totp.now(), "password": PASSWORD})  # fmt: skip
    assert r.status_code == 303, _alert(r.text)
    return totp


def _not_a_code(totp: pyotp.TOTP) -> str:
    """Six digits that are no code of ``totp`` within the steps the server accepts."""
    now = time.time()
    taken = {totp.at(now + d) for d in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{i:06d}" for i in range(10)) if c not in taken)


def _tight(demo: Demo) -> None:
    """A per-IP budget of ``BUDGET`` wrong passwords or codes for the rest of the test."""
    demo.platform.users.throttle.limits = AuthLimits(
        per_ip=(BUDGET, HUGE_WINDOW), per_account=(100, HUGE_WINDOW)
    )


def test_a_key_that_can_withdraw_needs_the_password_and_2fa_code(demo: Demo) -> None:
    http = _signup(demo)
    account = _account(demo, http)
    page = http.get("/account/keys").text
    assert 'id="key-confirm"' in page and 'type="password" name="password"' in page
    for extra, said in (({}, ASK_PASSWORD), ({"password": "not the password"}, WRONG_PASSWORD)):
        r = http.post("/account/keys", data={"csrf_token": _csrf(page), **WITHDRAW_KEY, **extra})
        assert r.status_code == 401, r.text[-800:]
        assert _alert(r.text) == f"{said}: {KEY_REFUSED}. Nothing was changed."
        assert "new-secret" not in r.text and 'value="payout"' in r.text  # the form kept
    assert demo.platform.apikeys.list_keys(account) == []
    # a key that cannot withdraw needs the session alone
    trader = _create_key(http)
    r = http.post("/account/keys", data={"csrf_token": _csrf(page), **WITHDRAW_KEY,
                                         "password": PASSWORD})  # fmt: skip
    assert r.status_code == 201, _alert(r.text)
    made = re.search(r'id="new-key">([^<]+)<', r.text)
    assert made and made.group(1) != trader
    stored = demo.platform.apikeys.lookup(made.group(1))
    assert stored is not None and "SPOT_WITHDRAW_WRITE" in stored.permissions

    # with 2FA on, the password alone is not enough
    totp = _with_2fa(http)
    page = http.get("/account/keys").text
    assert re.search(r'id="key-confirm">.*name="totp"', page, re.S)
    r = http.post("/account/keys", data={"csrf_token": _csrf(page), **WITHDRAW_KEY,
                                         "password": PASSWORD})  # fmt: skip
    assert r.status_code == 401
    assert _alert(r.text) == f"{ASK_CODE}: {KEY_REFUSED_2FA}. Nothing was changed."
    good = totp.at(time.time() + 30)  # the enabling step is spent
    # a typo is refused before the code is looked at, so the code stays good
    r = http.post("/account/keys", data={"csrf_token": _csrf(page), **WITHDRAW_KEY,
                                         "password": PASSWORD, "totp": good, "ip": "not-an-ip"})  # fmt: skip
    assert r.status_code == 400 and "Invalid IP address" in _alert(r.text)
    r = http.post("/account/keys", data={"csrf_token": _csrf(page), **WITHDRAW_KEY,
                                         "password": PASSWORD, "totp": good})  # fmt: skip
    assert r.status_code == 201, _alert(r.text)
    assert len(demo.platform.apikeys.list_keys(account)) == 3


def test_renewal_and_new_secret_need_the_password(demo: Demo) -> None:
    http = _signup(demo)
    key = _create_key(http)
    before = demo.platform.apikeys.lookup(key)
    page = http.get("/account/keys").text
    row = re.search(rf'<tr data-key="{key}">(.*?)</tr>', page, re.S)
    assert row and 'type="password" name="password"' in row.group(1)
    csrf = _csrf(page)
    for rotate in ("", "1"):
        for extra, said in (({}, ASK_PASSWORD), ({"password": "not the password"}, WRONG_PASSWORD)):
            r = http.post("/account/keys/renew",
                          data={"csrf_token": csrf, "api_key": key, "rotate": rotate, **extra})  # fmt: skip
            assert r.status_code == 401 and _alert(r.text).startswith(said), (rotate, extra)
            assert KEY_REFUSED in _alert(r.text) and "new-secret" not in r.text
    demo.platform.apikeys.forget(key)  # read the row again, not the lookup cache
    assert demo.platform.apikeys.lookup(key) == before
    r = http.post("/account/keys/renew",
                  data={"csrf_token": csrf, "api_key": key, "rotate": "1", "password": PASSWORD})  # fmt: skip
    secret = re.search(r'id="new-secret">([0-9a-f]{32})<', r.text)
    assert r.status_code == 200 and secret
    demo.platform.apikeys.forget(key)
    after = demo.platform.apikeys.lookup(key)
    assert before is not None and after is not None and after.secret == secret.group(1)
    assert after.secret != before.secret


def _sub_keys(html: str) -> str:
    table = re.search(r'<table class="apps" id="sub-keys">(.*?)</table>', html, re.S)
    assert table
    return table.group(1)


def test_a_sub_account_key_that_can_withdraw_needs_the_password(demo: Demo) -> None:
    http = _independent(demo)
    page = _create_sub(http)
    form = {"note": "payout", "permissions": ["SPOT_WITHDRAW_WRITE"]}
    html = http.get(page).text
    assert 'id="sub-key-confirm"' in html
    for extra, said in (({}, ASK_PASSWORD), ({"password": "not the password"}, WRONG_PASSWORD)):
        r = http.post(page + "/keys", data={"csrf_token": _csrf(html), **form, **extra})
        assert r.status_code == 401
        assert _alert(r.text) == f"{said}: {KEY_REFUSED}. Nothing was changed."
    assert "SPOT_WITHDRAW_WRITE" not in _sub_keys(http.get(page).text)
    r = http.post(page + "/keys", data={"csrf_token": _csrf(html), **form, "password": PASSWORD})
    assert r.status_code == 201 and re.search(r'id="new-secret">[0-9a-f]{32}<', r.text)
    assert "SPOT_WITHDRAW_WRITE" in _sub_keys(http.get(page).text)


def test_step_up_failures_lock_log_in_as_wrong_passwords_do(demo: Demo) -> None:
    """Five wrong passwords on the key form (the default back-off, per e-mail and IP): the
    right one then waits, there and at log-in, and no key was made. Forms sent without a
    password before them checked nothing, so they counted for nothing."""
    http = _signup(demo)
    account = _account(demo, http)
    email = demo.platform.users.get_user(_user_id(demo, account)).email  # type: ignore[union-attr]
    csrf = _csrf(http.get("/account/keys").text)
    wrong = {"csrf_token": csrf, **WITHDRAW_KEY, "password": "a wrong guess 123"}
    backoff_after = demo.platform.users.throttle.limits.backoff_after
    for _ in range(backoff_after):
        r = http.post("/account/keys", data={**wrong, "password": ""})
        assert r.status_code == 401 and _alert(r.text).startswith(ASK_PASSWORD)
    for _ in range(backoff_after):
        r = http.post("/account/keys", data=wrong)
        assert r.status_code == 401 and _alert(r.text).startswith(WRONG_PASSWORD)
    r = http.post("/account/keys", data={**wrong, "password": PASSWORD})
    assert r.status_code == 429 and "Too many attempts" in _alert(r.text)
    assert int(r.headers["retry-after"]) > 0
    assert demo.platform.apikeys.list_keys(account) == []
    fresh = httpx.Client(base_url=demo.url, timeout=10)
    login = fresh.get("/login").text
    r = fresh.post("/login", data={"csrf_token": _csrf(login), "email": email,
                                   "password": PASSWORD})  # fmt: skip
    assert r.status_code == 429


def test_an_active_2fa_is_neither_replaced_nor_turned_off_by_the_session_alone(
    demo: Demo,
) -> None:
    http = _signup(demo)
    uid = _user_id(demo, _account(demo, http))
    totp = _with_2fa(http)
    page = http.get("/account/2fa").text
    assert 'id="totp-off"' in page and 'name="password"' in page
    csrf = _csrf(page)
    # the attacker's own secret, with its own good code (and even the password): refused
    mine = pyotp.TOTP(pyotp.random_base32())
    for extra in ({}, {"password": PASSWORD}):
        r = http.post("/account/2fa", data={"csrf_token": csrf, "secret": mine.secret,
                                            "code": mine.now(), **extra})  # fmt: skip
        assert r.status_code == 400 and "already on" in _alert(r.text)
    # turning it off: the code alone, or the password alone, is not enough
    good = totp.at(time.time() + 30)
    off = {"csrf_token": csrf, "action": "disable"}
    for extra, said in (({"code": good}, ASK_PASSWORD),
                        ({"password": PASSWORD}, ASK_CODE),
                        ({"password": PASSWORD, "code": _not_a_code(totp)}, WRONG_EITHER),
                        ({"password": "not the password", "code": good}, WRONG_EITHER)):  # fmt: skip
        r = http.post("/account/2fa", data={**off, **extra})
        assert r.status_code == 401 and _alert(r.text) == f"{said}. Nothing was changed."
    user = demo.platform.users.get_user(uid)
    assert user is not None and user.totp_enabled
    # the owner's code, checked against the stored secret (so it was not replaced), with the
    # password: off
    r = http.post("/account/2fa", data={**off, "password": PASSWORD, "code": good})
    assert r.status_code == 303
    user = demo.platform.users.get_user(uid)
    assert user is not None and not user.totp_enabled


def test_wrong_codes_turning_2fa_off_sent_at_once_stop_at_the_budget(demo: Demo) -> None:
    http = _signup(demo)
    uid = _user_id(demo, _account(demo, http))
    totp = _with_2fa(http)
    _tight(demo)
    form = {"csrf_token": _csrf(http.get("/account/2fa").text), "action": "disable",
            "password": PASSWORD, "code": _not_a_code(totp)}  # fmt: skip
    statuses = post_at_once(http, "/account/2fa", form, n=SENT)
    assert set(statuses) <= {401, 429}, statuses
    assert 1 <= statuses.count(401) <= BUDGET and 429 in statuses, statuses
    # the right code now waits too; 2FA is still on
    r = http.post("/account/2fa", data={**form, "code": totp.at(time.time() + 30)})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Too many attempts" in _alert(r.text)
    user = demo.platform.users.get_user(uid)
    assert user is not None and user.totp_enabled


def test_wrong_codes_turning_2fa_on_sent_at_once_stop_at_the_budget(demo: Demo) -> None:
    http = _signup(demo)
    uid = _user_id(demo, _account(demo, http))
    page = http.get("/account/2fa").text
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page)
    assert secret and 'id="totp-on"' in page and 'name="password"' in page
    totp = pyotp.TOTP(secret.group(1))
    _tight(demo)
    form = {"csrf_token": _csrf(page), "secret": totp.secret, "password": PASSWORD,
            "code": _not_a_code(totp)}  # fmt: skip
    statuses = post_at_once(http, "/account/2fa", form, n=SENT)
    assert set(statuses) <= {400, 429}, statuses
    assert 1 <= statuses.count(400) <= BUDGET and 429 in statuses, statuses
    r = http.post("/account/2fa", data={**form, "code": totp.now()})
    assert r.status_code == 429
    user = demo.platform.users.get_user(uid)
    assert user is not None and not user.totp_enabled


def _said(r: httpx.Response) -> str:
    """The refusal a page shows, as a person reads it."""
    return html.unescape(_alert(r.text))


def _form(page: str, action: str, client_id: str = "") -> str:
    """The form posting to ``action`` (the one of ``client_id``'s section, if given)."""
    if client_id:
        section = re.search(rf'data-client="{client_id}"(.*?)</section>', page, re.S)
        assert section
        page = section.group(1)
    form = re.search(rf'<form method="post" action="{action}"[^>]*>(.*?)</form>', page, re.S)
    assert form, action
    return form.group(1)


def test_an_oauth_app_secret_and_redirect_uri_need_the_password(demo: Demo) -> None:
    """Without the password, or with a wrong one, no app is registered, no secret changes and
    no redirect URI is added; a typo is refused before the password is asked; removing a URI
    takes the session alone."""
    http, broker_id = _oauth_broker(demo)
    manager = ClientManager.of(demo.platform)
    page = http.get("/broker/app").text
    csrf = _csrf(page)
    assert 'type="password" name="password"' in _form(page, "/broker/app/register")
    register = {"csrf_token": csrf, "name": "Copy Trader app", "redirect_uri": CALLBACK,
                "scopes": ["read"]}  # fmt: skip
    refusals = (({}, ASK_PASSWORD), ({"password": "not the password"}, WRONG_PASSWORD))
    for extra, said in refusals:
        r = http.post("/broker/app/register", data={**register, **extra})
        assert r.status_code == 401 and _said(r) == f"{said}: {APP_REFUSED}. Nothing was changed."
        assert 'value="Copy Trader app"' in r.text and "client-secret" not in r.text  # kept
        assert manager.clients(broker_id) == []
    r = http.post("/broker/app/register", data={**register, "redirect_uri": "http://a.example/x"})
    assert r.status_code == 400 and "must use https" in _said(r)  # before the password
    r = http.post("/broker/app/register", data={**register, "password": PASSWORD})
    cid = re.search(r'id="client-id">([^<]+)<', r.text)
    secret = re.search(r'id="client-secret">([^<]+)<', r.text)
    assert r.status_code == 201 and cid and secret, _said(r)
    cid_, secret_ = cid.group(1), secret.group(1)
    assert [c.client_id for c in manager.clients(broker_id)] == [cid_]

    page = http.get("/broker/app").text
    for action in ("/broker/app/rotate", "/broker/app/redirect-uris"):
        assert 'type="password" name="password"' in _form(page, action, cid_), action
        assert 'name="totp"' not in _form(page, action, cid_)  # no 2FA on this account
    assert 'name="password"' not in _form(page, "/broker/app/redirect-uris/del", cid_)
    rotate = {"csrf_token": csrf, "client_id": cid_, "grace": "0"}
    for extra, said in refusals:
        r = http.post("/broker/app/rotate", data={**rotate, **extra})
        assert r.status_code == 401 and _said(r) == f"{said}: {APP_REFUSED}. Nothing was changed."
        assert "client-secret" not in r.text
        client = manager.client(broker_id, cid_)
        assert client.check_client_secret(secret_) and client.secret_rotated is None
    r = http.post("/broker/app/rotate", data={**rotate, "password": PASSWORD})
    new = re.search(r'id="client-secret">([^<]+)<', r.text)
    assert r.status_code == 201 and new and "The old secret stopped working." in r.text
    client = manager.client(broker_id, cid_)
    assert client.check_client_secret(new.group(1)) and not client.check_client_secret(secret_)

    add = {"csrf_token": csrf, "client_id": cid_, "redirect_uri": OTHER_URI}
    for extra, said in refusals:
        r = http.post("/broker/app/redirect-uris", data={**add, **extra})
        assert r.status_code == 401 and _said(r) == f"{said}: {APP_REFUSED}. Nothing was changed."
        assert f'value="{OTHER_URI}"' in _form(r.text, "/broker/app/redirect-uris", cid_)  # kept
        assert manager.client(broker_id, cid_).redirect_uris == (CALLBACK,)
    for typo, words in (("http://a.example/x", "must use https"), (CALLBACK, "already")):
        r = http.post("/broker/app/redirect-uris", data={**add, "redirect_uri": typo})
        assert r.status_code == 400 and words in _said(r), _said(r)  # before the password
    r = http.post("/broker/app/redirect-uris", data={**add, "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/broker/app?done=uri-added"
    assert manager.client(broker_id, cid_).redirect_uris == (CALLBACK, OTHER_URI)
    # removing one sends nothing anywhere new: the session and its CSRF token are enough
    r = http.post("/broker/app/redirect-uris/del",
                  data={"csrf_token": csrf, "client_id": cid_, "redirect_uri": CALLBACK})  # fmt: skip
    assert r.status_code == 303
    assert manager.client(broker_id, cid_).redirect_uris == (OTHER_URI,)


def test_an_oauth_app_with_2fa_on_needs_a_current_code(demo: Demo) -> None:
    """With 2FA on: the password alone asks for the code; a wrong code, or a wrong password
    with a good code, gets the one sentence of both (which was wrong is not said), and the good
    code is not spent by the wrong password; a code works once."""
    http, broker_id = _oauth_broker(demo)
    cid, secret = _register(http)
    manager = ClientManager.of(demo.platform)
    totp = _with_2fa(http)
    page = http.get("/broker/app").text
    for action in ("/broker/app/rotate", "/broker/app/redirect-uris"):
        assert 'name="totp"' in _form(page, action, cid), action
    assert 'name="totp"' in _form(page, "/broker/app/register")
    csrf = _csrf(page)
    good = totp.at(time.time() + 30)  # the enabling step is spent
    rotate = {"csrf_token": csrf, "client_id": cid, "grace": "0"}
    for extra, said in (
        ({"password": PASSWORD}, ASK_CODE),
        ({"totp": good}, ASK_PASSWORD),
        ({"password": PASSWORD, "totp": _not_a_code(totp)}, WRONG_EITHER),
        ({"password": "not the password", "totp": good}, WRONG_EITHER),
    ):
        r = http.post("/broker/app/rotate", data={**rotate, **extra})
        assert r.status_code == 401, extra
        assert _said(r) == f"{said}: {APP_REFUSED_2FA}. Nothing was changed.", extra
        assert manager.client(broker_id, cid).check_client_secret(secret)
    r = http.post("/broker/app/rotate", data={**rotate, "password": PASSWORD, "totp": good})
    assert r.status_code == 201 and "The old secret stopped working." in r.text, _said(r)
    assert not manager.client(broker_id, cid).check_client_secret(secret)
    # the code is spent: the same one again adds no redirect URI
    add = {"csrf_token": csrf, "client_id": cid, "redirect_uri": OTHER_URI}
    r = http.post("/broker/app/redirect-uris", data={**add, "password": PASSWORD, "totp": good})
    assert r.status_code == 401 and _said(r).startswith(WRONG_EITHER)
    assert manager.client(broker_id, cid).redirect_uris == (CALLBACK,)


def test_app_step_up_failures_lock_log_in_and_a_form_sent_empty_does_not(demo: Demo) -> None:
    """Forms sent without a password check nothing, so they count for nothing: the right
    password then works. Wrong passwords on the app forms count as the other step-ups' do
    (the default back-off, per e-mail and IP): the right one then waits, on every form and at
    log-in, and nothing changed."""
    http, broker_id = _oauth_broker(demo)
    cid, secret = _register(http)
    manager = ClientManager.of(demo.platform)
    email = demo.platform.users.get_user(_user_id(demo, _account(demo, http))).email  # type: ignore[union-attr]
    csrf = _csrf(http.get("/broker/app").text)
    backoff_after = demo.platform.users.throttle.limits.backoff_after
    add = {"csrf_token": csrf, "client_id": cid, "redirect_uri": OTHER_URI}
    for _ in range(backoff_after + 1):
        r = http.post("/broker/app/redirect-uris", data=add)
        assert r.status_code == 401 and _said(r).startswith(ASK_PASSWORD)
    r = http.post("/broker/app/redirect-uris", data={**add, "password": PASSWORD})
    assert r.status_code == 303, _said(r)
    rotate = {"csrf_token": csrf, "client_id": cid, "grace": "0"}
    for _ in range(backoff_after):
        r = http.post("/broker/app/rotate", data={**rotate, "password": "a wrong guess 123"})
        assert r.status_code == 401 and _said(r).startswith(WRONG_PASSWORD)
    for path, form in (("/broker/app/rotate", rotate),
                       ("/broker/app/redirect-uris", {**add, "redirect_uri": OTHER_URI + "2"})):  # fmt: skip
        r = http.post(path, data={**form, "password": PASSWORD})
        assert r.status_code == 429 and "Too many attempts" in _said(r), path
        assert int(r.headers["retry-after"]) > 0
    client = manager.client(broker_id, cid)
    assert client.check_client_secret(secret) and client.secret_rotated is None
    assert client.redirect_uris == (CALLBACK, OTHER_URI)
    fresh = httpx.Client(base_url=demo.url, timeout=10)
    login = fresh.get("/login").text
    r = fresh.post("/login", data={"csrf_token": _csrf(login), "email": email,
                                   "password": PASSWORD})  # fmt: skip
    assert r.status_code == 429


def _asks_for(form: str) -> str:
    """How a refusal names the form's password field: as its label does, "your ..."."""
    label = re.search(r'<label>([^<]+?)\s*<input type="password" name="password"', form)
    assert label, form
    name = label.group(1).lower()
    return name if name.startswith("your ") else f"your {name}"


def test_each_step_up_asks_for_the_password_as_its_field_is_labelled(demo: Demo) -> None:
    """Every step-up form sent without the password asks for it by the name its field has on
    the page: "Current password" on the change-password form, "Log-in password" on the key,
    app, withdrawal, transfer and 2FA forms, "Your log-in password" on a sub-account's; with
    2FA on, and the code in the same sentence."""
    http = _signup(demo)
    _fund(demo, http, "USDT", "100")
    key = _create_key(http)
    new = "another long password"
    app, _ = _oauth_broker(demo)
    cid, _ = _register(app)
    broker = _independent(demo)
    sub = _create_sub(broker)
    forms: list[tuple[httpx.Client, str, str, dict[str, Any]]] = [
        (http, "/account/security", "/account/security/password",
         {"new_password": new, "new_password2": new}),
        (http, "/account/keys", "/account/keys", WITHDRAW_KEY),
        (http, "/account/keys", "/account/keys/renew", {"api_key": key, "rotate": "1"}),
        (http, "/account/withdraw?coin=USDT", "/account/withdraw",
         {**_withdraw_form(http), "password": ""}),
        (http, "/account/transfers", "/account/transfers/internal",
         {"to_type": "UID", "to_account": "1", "asset": "USDT", "amount": "1"}),
        (app, "/broker/app", "/broker/app/register",
         {"name": "Another app", "redirect_uri": CALLBACK, "scopes": ["read"]}),
        (app, "/broker/app", "/broker/app/rotate", {"client_id": cid, "grace": "0"}),
        (app, "/broker/app", "/broker/app/redirect-uris",
         {"client_id": cid, "redirect_uri": OTHER_URI}),
        (broker, sub, sub + "/keys", {"note": "payout", "permissions": ["SPOT_WITHDRAW_WRITE"]}),
        (broker, sub, sub + "/withdraw",  # checked before the step-up: a valid one
         {"coin": "USDT", "network": "TRX", "address": TRON_ADDRESS, "amount": "20"}),
    ]  # fmt: skip
    for client, page, action, data in forms:
        html_ = client.get(page).text
        section = cid if action in ("/broker/app/rotate", "/broker/app/redirect-uris") else ""
        asked = _asks_for(_form(html_, action, section))
        extra = {"form_id": "f"} if action.startswith(sub) else {}
        r = client.post(action, data={"csrf_token": _csrf(html_), **extra, **data})
        assert r.status_code in (400, 401), (action, _said(r))
        assert _said(r).startswith(f"Type {asked} to confirm it is you"), (action, _said(r))
    assert _asks_for(_form(http.get("/account/security").text, "/account/security/password")) == (
        "your current password"
    )
    # the 2FA forms, and any form on an account with 2FA on: the password and the code
    page = http.get("/account/2fa").text
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page)
    assert secret and _asks_for(_form(page, "/account/2fa")) == "your log-in password"
    r = http.post("/account/2fa", data={"csrf_token": _csrf(page), "secret": secret.group(1),
                                        "code": pyotp.TOTP(secret.group(1)).now()})  # fmt: skip
    assert r.status_code == 401 and _said(r).startswith("Type your log-in password to confirm")
    _with_2fa(http)
    page = http.get("/account/security").text
    r = http.post("/account/security/password",
                  data={"csrf_token": _csrf(page), "new_password": new, "new_password2": new})  # fmt: skip
    assert r.status_code == 400
    assert _said(r) == (
        "Type your current password and a current 2FA code to confirm it is you. "
        "Nothing was changed."
    )
