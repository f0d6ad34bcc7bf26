"""An independent broker's sub-account pages over HTTP on a running demo server: create, freeze,
keys, transfers (once per form), deposits, withdrawals; another broker cannot see or touch
them; CSRF refusal; pages for accounts without sub-accounts; render time."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pyotp
import pytest

from tests.web.checks import assert_refused_without_csrf, assert_within_budget, post_at_once
from tests.web.conftest import Demo
from tests.web.test_broker import _apply
from tests.web.test_console import PASSWORD, _csrf, _signup
from tests.web.test_wallet_pages import _alert, _user_id

SUB = "alicesub01"
#: copies of one form sent at once
SENDS = 4


def _independent(demo: Demo, usdt: str = "1000") -> httpx.Client:
    """A signed-up, approved independent broker whose master holds ``usdt`` test USDT."""
    http = _signup(demo)
    _apply(demo, http, "INDEPENDENT")
    form = {"csrf_token": _csrf(http.get("/account").text), "asset": "USDT", "amount": usdt,
            "request_id": "master"}  # fmt: skip
    assert http.post("/account/faucet", data=form).status_code == 303
    return http


def _create_sub(http: httpx.Client, name: str = SUB) -> str:
    csrf = _csrf(http.get("/broker/subaccounts").text)
    r = http.post("/broker/subaccounts", data={"csrf_token": csrf, "name": name, "note": "Alice"})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/broker/subaccounts/{name}?done=created"
    return f"/broker/subaccounts/{name}"


def _form(http: httpx.Client, page: str) -> dict[str, str]:
    html = http.get(page).text
    form_id = re.search(r'name="form_id" value="([^"]+)"', html)
    assert form_id
    return {"csrf_token": _csrf(html), "form_id": form_id.group(1)}


def _free(html: str, asset: str, table: str = "sub-balances") -> str:
    body = re.search(rf'<table class="apps" id="{table}">(.*?)</table>', html, re.S)
    assert body
    row = re.search(rf'<tr data-asset="{asset}">.*?"num">([0-9.]+)<', body.group(1), re.S)
    return row.group(1) if row else "0"


def test_a_broker_runs_a_sub_account(demo: Demo) -> None:
    http = _independent(demo)
    csrf = _csrf(http.get("/broker/subaccounts").text)
    bad = http.post("/broker/subaccounts", data={"csrf_token": csrf, "name": "a b", "note": "x"})
    assert bad.status_code == 400
    assert "Sub-account name must be 8 to 32 letters and digits." in bad.text
    page = _create_sub(http)
    again = http.post("/broker/subaccounts", data={"csrf_token": csrf, "name": SUB, "note": "x"})
    assert again.status_code == 400 and 'role="alert"' in again.text

    # money in from the master: the same form sent four times at once moves it once
    form = {**_form(http, page), "direction": "in", "asset": "USDT", "amount": "250.5"}
    with ThreadPoolExecutor(SENDS) as pool:
        sent = list(pool.map(lambda _: http.post(page + "/transfer", data=form), range(SENDS)))
    for r in sent:
        assert r.status_code == 303 and r.headers["location"] == page + "?done=moved-in"
    html = http.get(page).text
    assert _free(html, "USDT") == "250.5"
    moved = re.findall(r'<tr data-transfer="[^"]+">(.*?)</tr>', html, re.S)
    assert len(moved) == 1 and "in from master" in moved[0] and "250.5 USDT" in moved[0]
    assert _free(http.get("/broker/subaccounts").text, "USDT", "master-balances") == "749.5"
    # more than it holds: refused in words, nothing moved
    form = {**_form(http, page), "direction": "out", "asset": "USDT", "amount": "300"}
    r = http.post(page + "/transfer", data=form)
    assert r.status_code == 400 and "Your available balance is too low for this amount." in r.text
    assert _free(r.text, "USDT") == "250.5"
    form = {**_form(http, page), "direction": "in", "asset": "USDT", "amount": "1.123456789"}
    r = http.post(page + "/transfer", data=form)
    assert r.status_code == 400 and 'role="alert"' in r.text

    # a key, its secret once; then deleted
    csrf = _csrf(http.get(page).text)
    r = http.post(page + "/keys", data={"csrf_token": csrf, "note": "alice bot",
                                        "permissions": ["SPOT_DEAL_WRITE"]})  # fmt: skip
    assert r.status_code == 201 and re.search(r'id="new-secret">[0-9a-f]{32}<', r.text)
    key = re.search(r'id="new-key">([^<]+)<', r.text)
    assert key and "new-secret" not in http.get(page).text
    r = http.post(page + "/keys/delete", data={"csrf_token": csrf, "api_key": key.group(1)})
    assert r.status_code == 303 and key.group(1) not in http.get(page).text

    # a deposit address, test funds straight in (demo), and a withdrawal out
    r = http.post(page + "/address", data={"csrf_token": csrf, "coin": "USDT", "network": ""})
    assert r.status_code == 201 and 'id="deposit-address"' in r.text
    form = {**_form(http, page), "asset": "BTC", "amount": "0.25"}
    assert http.post(page + "/faucet", data=form).status_code == 303
    assert _free(http.get(page).text, "BTC") == "0.25"
    master = demo.platform.subaccounts.tenant_for_broker(_master(http)).master
    to = demo.platform.wallet.deposit_address(master, "USDT", None).address
    form = {**_form(http, page), "coin": "USDT", "network": "", "address": to, "amount": "50",
            "password": "not my password"}  # fmt: skip
    r = http.post(page + "/withdraw", data=form)
    assert r.status_code == 401 and "The password is wrong. Nothing was changed." in r.text
    assert "No withdrawals" in r.text
    form["password"] = PASSWORD
    withdrawal = form
    with ThreadPoolExecutor(SENDS) as pool:
        sent = list(pool.map(lambda _: http.post(page + "/withdraw", data=form), range(SENDS)))
    assert all(r.status_code == 303 for r in sent), [r.text for r in sent]
    html = http.get(page).text
    rows = re.findall(r'<tr data-withdrawal="[^"]+">(.*?)</tr>', html, re.S)
    assert len(rows) == 1, html
    paid, fee = re.findall(r'"num">([0-9.]+)<', rows[0])
    assert Decimal(paid) + Decimal(fee) == 50 and "PENDING" in rows[0]
    assert _free(html, "USDT") == "200.5"

    # frozen: it shows, and money does not move; unfrozen again
    for frozen, word in (("1", "frozen"), ("0", "active")):
        r = http.post("/broker/subaccounts/status",
                      data={"csrf_token": csrf, "name": SUB, "frozen": frozen})  # fmt: skip
        assert r.status_code == 303
        assert f'id="sub-status">{word}<' in http.get(page).text
        if frozen == "1":
            form = {**_form(http, page), "direction": "out", "asset": "USDT", "amount": "1"}
            r = http.post(page + "/transfer", data=form)
            assert r.status_code == 400 and "is frozen" in r.text
            # the withdraw form sent again: its withdrawal, nothing more; a new one is refused
            r = http.post(page + "/withdraw", data=withdrawal)
            assert r.status_code == 303 and r.headers["location"] == page + "?done=withdrawn"
            r = http.post(page + "/withdraw", data={**withdrawal, **_form(http, page)})
            assert r.status_code == 400 and "is frozen" in r.text
            assert _free(r.text, "USDT") == "200.5"
            assert len(re.findall(r'<tr data-withdrawal="', r.text)) == 1


def _master(http: httpx.Client) -> int:
    m = re.search(r"exchange account (\d+)", http.get("/account").text)
    assert m
    return int(m.group(1))


def test_another_broker_cannot_see_or_touch_the_sub_account(demo: Demo) -> None:
    alice, bob = _independent(demo), _independent(demo)
    page = _create_sub(alice)
    form = {**_form(alice, page), "direction": "in", "asset": "USDT", "amount": "100"}
    assert alice.post(page + "/transfer", data=form).status_code == 303
    assert SUB not in bob.get("/broker/subaccounts").text
    r = bob.get(page)
    assert r.status_code == 404 and "does not exist" in r.text and "100" not in r.text
    csrf = _csrf(bob.get("/broker/subaccounts").text)
    attempts = [
        (page + "/transfer", {"direction": "out", "asset": "USDT", "amount": "100"}),
        (page + "/keys", {"note": "evil", "permissions": ["SPOT_DEAL_WRITE"]}),
        (
            page + "/withdraw",
            {"coin": "USDT", "address": "x", "amount": "10", "password": PASSWORD},
        ),
        (page + "/faucet", {"asset": "USDT", "amount": "1"}),
        ("/broker/subaccounts/status", {"name": SUB, "frozen": "1"}),
    ]
    for path, data in attempts:
        r = bob.post(path, data={**data, "csrf_token": csrf, "form_id": "x"})
        assert r.status_code in (400, 404) and "does not exist" in r.text, (path, r.text)
    html = alice.get(page).text
    assert _free(html, "USDT") == "100" and 'id="sub-status">active<' in html
    assert "No keys yet" in html


def test_accounts_without_sub_accounts_get_a_clear_page(demo: Demo) -> None:
    user = _signup(demo)
    r = user.get("/broker/subaccounts")
    assert r.status_code == 403 and "Your account is not a broker" in r.text
    api = _signup(demo)
    _apply(demo, api, "API")
    r = api.get("/broker/subaccounts")
    assert r.status_code == 403 and "Only an approved independent broker" in r.text
    pending = _signup(demo)
    _apply(demo, pending, "INDEPENDENT", approve=False)
    r = pending.get(f"/broker/subaccounts/{SUB}")
    assert r.status_code == 403 and "PENDING" in r.text
    assert httpx.get(demo.url + "/broker/subaccounts").status_code == 303


def test_sub_account_forms_without_the_session_csrf_token_change_nothing(demo: Demo) -> None:
    http = _independent(demo)
    page = _create_sub(http)
    forged = [
        ("/broker/subaccounts", {"name": "othersub01", "note": "x"}),
        ("/broker/subaccounts/status", {"name": SUB, "frozen": "1"}),
        (page + "/transfer", {"direction": "in", "asset": "USDT", "amount": "5", "form_id": "f"}),
        (page + "/keys", {"note": "evil", "permissions": ["SPOT_DEAL_WRITE"]}),
        (page + "/faucet", {"asset": "USDT", "amount": "5", "form_id": "f"}),
    ]
    assert_refused_without_csrf(http, forged)
    html = http.get(page).text
    assert "Nothing here yet" in html and 'id="sub-status">active<' in html
    assert "No keys yet" in html and "othersub01" not in http.get("/broker/subaccounts").text


@pytest.mark.alone
def test_sub_account_pages_render_within_budget(demo: Demo) -> None:
    http = _independent(demo)
    page = _create_sub(http)
    form = {**_form(http, page), "direction": "in", "asset": "USDT", "amount": "10"}
    assert http.post(page + "/transfer", data=form).status_code == 303
    assert_within_budget(http, ["/broker/subaccounts", page])


def test_a_post_without_its_one_time_id_applies_as_sent(demo: Demo) -> None:
    """A hand-made post without ``form_id`` gets a fresh id each time: two posts move money
    twice (each was sent once), instead of sharing the empty id ("web-"), where the second
    would silently count as a retry of the first."""
    http = _independent(demo)
    page = _create_sub(http)
    form = {**_form(http, page), "direction": "in", "asset": "USDT", "amount": "10"}
    del form["form_id"]
    for _ in range(2):
        assert http.post(page + "/transfer", data=form).status_code == 303
    assert _free(http.get(page).text, "USDT") == "20"


def test_a_sub_account_withdraw_form_sent_again_with_its_spent_2fa_code_shows_its_withdrawal(
    demo: Demo,
) -> None:
    """As on the user's own withdraw page (``Console._withdraw_once``): with 2FA on, a form
    with a typo is refused before the step-up, so its code is not spent; a form sent again
    (the Back button, copies at once) carries the code its first sending spent and is shown
    its withdrawal, not "the code is wrong"; a new form with that code is refused."""
    http = _independent(demo)
    page = _create_sub(http)
    form = {**_form(http, page), "direction": "in", "asset": "USDT", "amount": "100"}
    assert http.post(page + "/transfer", data=form).status_code == 303
    master = _master(http)
    secret = pyotp.random_base32()
    users = demo.platform.users
    users.enable_totp(_user_id(demo, master), secret, pyotp.TOTP(secret).now(), PASSWORD)
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the enabling code's step is spent
    to = demo.platform.wallet.deposit_address(master, "USDT", None).address
    typo = {**_form(http, page), "coin": "USDT", "network": "", "address": "not an address",
            "amount": "30", "password": PASSWORD, "totp": code}  # fmt: skip
    r = http.post(page + "/withdraw", data=typo)
    assert r.status_code == 400 and "address" in _alert(r.text), _alert(r.text)
    withdrawal, done = {**typo, "address": to}, page + "?done=withdrawn"
    for _ in range(2):  # made, then sent again with its spent code
        r = http.post(page + "/withdraw", data=withdrawal)
        assert (r.status_code, r.headers.get("location")) == (303, done), _alert(r.text)
    assert post_at_once(http, page + "/withdraw", withdrawal) == [303] * 4
    r = http.post(page + "/withdraw", data={**withdrawal, **_form(http, page)})
    assert r.status_code == 401 and "password or 2FA code is wrong" in _alert(r.text)
    assert len(re.findall(r'<tr data-withdrawal="', r.text)) == 1
    assert _free(r.text, "USDT") == "70"
