"""The step-up (the log-in password, and a current 2FA code when 2FA is on) on the console forms
that hand out the power to move money off an account or take a protection away, over HTTP on a
running demo server (attack findings F5, F6): a key that can withdraw (a user's and a
sub-account's), a key's renewal or new secret, turning 2FA on and off. Each refusal changes
nothing and says what happened: nothing typed (which spends no attempt), or wrong (with 2FA on,
one sentence for either); every wrong password or code counts against the log-in throttle, also
when many are sent at once."""

from __future__ import annotations

import re
import time

import httpx
import pyotp

from bourse.config import AuthLimits
from tests.web.checks import post_at_once
from tests.web.conftest import Demo
from tests.web.test_broker_subaccounts import _create_sub, _independent
from tests.web.test_console import PASSWORD, _account, _create_key, _csrf, _signup
from tests.web.test_wallet_pages import _alert, _user_id

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
