"""The money pages over HTTP on a running demo server: deposit (address, recent deposits),
withdraw (password and 2FA, fee, refusals in words, a form sent twice at once moves money
once, cancel only one's own), transfers (own accounts, another user) and the security page
(password change ends the other sessions, log-ins listed)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pyotp
from sqlalchemy import select

from bourse.domain.money import to_units
from bourse.domain.wallet import WithdrawalStatus
from bourse.store.oauth_tables import users
from tests.support.wallet import with_network
from tests.web.checks import assert_refused_without_csrf, post_at_once
from tests.web.conftest import Demo
from tests.web.test_console import PASSWORD, _account, _csrf, _signup

#: a well-formed Tron address (the demo's USDT network is TRX); nobody owns it
TRON_ADDRESS = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def _fund(demo: Demo, http: httpx.Client, asset: str, amount: str) -> None:
    page = http.get("/account/deposit").text
    rid = re.search(r'name="request_id" value="([^"]+)"', page)
    assert rid
    r = http.post("/account/faucet", data={"csrf_token": _csrf(page), "asset": asset,
                                           "amount": amount, "request_id": rid.group(1),
                                           "back": "deposit"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].startswith("/account/deposit?funded=")


def _free(demo: Demo, account: int, asset: str) -> int:
    bal = demo.platform.engine.read(lambda e: e.exchange.ledger.balances.get((account, asset)))
    return bal[0] if bal else 0


def _withdraw_form(http: httpx.Client, **fields: str) -> dict[str, str]:
    page = http.get("/account/withdraw?coin=USDT").text
    rid = re.search(r'name="request_id" value="([^"]+)"', page)
    assert rid and 'id="withdraw"' in page
    form = {"csrf_token": _csrf(page), "request_id": rid.group(1), "coin": "USDT",
            "network": "TRX", "address": TRON_ADDRESS, "amount": "20", "password": PASSWORD}  # fmt: skip
    form.update(fields)
    return form


def _alert(html: str) -> str:
    m = re.search(r'role="alert">([^<]*)<', html)
    return m.group(1) if m else ""


def _units(demo: Demo, text: str, asset: str = "USDT") -> int:
    return to_units(text, demo.platform.wallet.asset(asset).scale)


def test_deposit_page_shows_the_address_and_recent_deposits(demo: Demo) -> None:
    http = _signup(demo)
    account = _account(demo, http)
    page = http.get("/account/deposit")
    assert page.status_code == 200 and "render;dur=" in page.headers["server-timing"]
    address = re.search(r'id="deposit-address">([^<]+)<', page.text)
    assert address
    wallet = demo.platform.wallet
    assert [a.address for a in wallet.deposit_addresses(account, "USDT", "TRX")] == [
        address.group(1)
    ]
    assert 'aria-current="page">Deposit<' in page.text and "Get test funds" in page.text
    # another coin and network: that address (the old network, not BTC's, is ignored)
    btc = http.get("/account/deposit?coin=BTC&network=TRX").text
    m = re.search(r'id="deposit-address">([^<]+)<', btc)
    assert m and m.group(1) == wallet.deposit_addresses(account, "BTC")[0].address
    # a payment the chain saw shows with its status and confirmations
    chain: Any = demo.platform.chain
    chain.send_deposit(address.group(1), "", "USDT", "TRX", _units(demo, "12.5"))
    row = re.search(r'<table class="apps" id="deposits">.*?<tbody>\s*<tr>(.*?)</tr>',
                    http.get("/account/deposit").text, re.S)  # fmt: skip
    assert row and ">12.5<" in row.group(1) and "Tron(TRC20)" in row.group(1), row
    assert re.search(r">(Pending|Success)<", row.group(1))
    assert re.search(r">\d/3<", row.group(1))
    # the faucet from this page comes back to it
    _fund(demo, http, "USDT", "40")
    assert _free(demo, account, "USDT") >= _units(demo, "40")
    # an unknown coin: the default coin, no error
    assert http.get("/account/deposit?coin=NOPE").status_code == 200


def test_withdraw_needs_the_password_and_refuses_in_words(demo: Demo) -> None:
    http = _signup(demo)
    account = _account(demo, http)
    _fund(demo, http, "USDT", "100")
    before = _free(demo, account, "USDT")
    page = http.get("/account/withdraw?coin=USDT").text
    fee = re.search(r'<tr data-network="TRX">.*?<td class="num">([0-9.]+)</td>', page, re.S)
    assert fee and fee.group(1) == "1", "the fee is shown, in the coin's units"
    assert "Available" in page and ">100 USDT<" in page
    refusals = [
        ({"password": "not the password"}, 401, "The password is wrong. Nothing was changed."),
        ({"password": ""}, 401, "Type your log-in password to confirm it is you."),
        ({"amount": "1000"}, 400, "balance is too low"),
        ({"amount": "0.5"}, 400, "outside this network"),
        ({"amount": "1.0000000001"}, 400, "more decimals"),
        ({"address": "0xnot-tron"}, 400, "not valid on the chosen network"),
        ({"network": "NOPE"}, 400, "does not carry this coin"),
    ]
    for fields, status, words in refusals:
        r = http.post("/account/withdraw", data=_withdraw_form(http, **fields))
        assert r.status_code == status and words in _alert(r.text), (fields, _alert(r.text))
    assert _free(demo, account, "USDT") == before
    assert demo.platform.wallet.withdraw_history(account) == []
    r = http.post("/account/withdraw", data=_withdraw_form(http, amount="20.5"))
    assert r.status_code == 303 and "done=" in r.headers["location"]
    assert _free(demo, account, "USDT") == before - _units(demo, "20.5")
    page = http.get(r.headers["location"]).text
    row = re.search(r'<tr data-withdrawal="\d+">(.*?)</tr>', page, re.S)
    assert row and ">20.5<" in row.group(1) and ">1<" in row.group(1)
    assert TRON_ADDRESS in row.group(1)


def test_withdraw_with_2fa_on_needs_a_current_code(demo: Demo) -> None:
    http = _signup(demo)
    account = _account(demo, http)
    _fund(demo, http, "USDT", "100")
    service = demo.platform.users
    secret = pyotp.random_base32()
    uid = _user_id(demo, account)
    service.enable_totp(uid, secret, pyotp.TOTP(secret).now(), PASSWORD)
    assert 'name="totp"' in http.get("/account/withdraw").text
    for code, said in (
        ("", "Type a current 2FA code"),
        ("000000", "password or 2FA code is wrong"),
    ):
        r = http.post("/account/withdraw", data=_withdraw_form(http, totp=code))
        assert r.status_code == 401 and said in _alert(r.text)
    # the enabling code's step is spent: the next step's code (one step of drift) is good
    good = pyotp.TOTP(secret).at(time.time() + 30)
    # a typo in the address is refused before the code is looked at, so the code stays good
    r = http.post("/account/withdraw", data=_withdraw_form(http, totp=good, address="Tnope"))
    assert r.status_code == 400 and "not valid on the chosen network" in _alert(r.text)
    r = http.post("/account/withdraw", data=_withdraw_form(http, totp=good))
    assert r.status_code == 303, r.text[-1500:]
    # the same code again is refused (a code is good once)
    r = http.post("/account/withdraw", data=_withdraw_form(http, totp=good))
    assert r.status_code == 401
    assert len(demo.platform.wallet.withdraw_history(account)) == 1


def _user_id(demo: Demo, account: int) -> int:
    with demo.platform.users.repo.db.connect() as conn:
        return int(
            conn.execute(select(users.c.id).where(users.c.account_id == account)).scalar_one()
        )


def test_the_same_withdraw_form_sent_at_once_moves_money_once(demo: Demo) -> None:
    http = _signup(demo)
    account = _account(demo, http)
    _fund(demo, http, "USDT", "100")
    before = _free(demo, account, "USDT")
    form = _withdraw_form(http, amount="30")
    assert post_at_once(http, "/account/withdraw", form) == [303] * 4
    assert len(demo.platform.wallet.withdraw_history(account)) == 1
    assert _free(demo, account, "USDT") == before - _units(demo, "30")
    # a new form (a new request id) is a new withdrawal
    assert http.post("/account/withdraw", data=_withdraw_form(http, amount="30")).status_code == 303
    assert _free(demo, account, "USDT") == before - _units(demo, "60")


def _done(r: httpx.Response) -> str:
    """The withdrawal id a withdraw form's answer goes on to show."""
    assert r.status_code == 303, _alert(r.text) or r.text[-800:]
    m = re.search(r"done=(\d+)$", r.headers["location"])
    assert m, r.headers["location"]
    return m.group(1)


def test_a_withdraw_form_sent_again_shows_its_withdrawal_whatever_changed_since(
    demo: Demo,
) -> None:
    """The same form (the same request id) sent again after its withdrawal was made, once the
    operator raised the network's fee past its amount: the first withdrawal is shown (as the
    API answers a retried ``withdrawOrderId``), copies sent at once too, and nothing more
    moves; a new form meets the new fee's refusal; the same id with another amount is told
    so."""
    http = _signup(demo)
    account = _account(demo, http)
    _fund(demo, http, "USDT", "100")
    chain: Any = demo.platform.chain
    before = chain.config
    form = _withdraw_form(http, amount="30")
    first = _done(http.post("/account/withdraw", data=form))
    chain.config = with_network("USDT", "TRX", withdraw_fee="40")
    try:
        assert _done(http.post("/account/withdraw", data=form)) == first
        assert post_at_once(http, "/account/withdraw", form) == [303] * 4
        r = http.post("/account/withdraw", data=_withdraw_form(http, amount="30"))
        assert r.status_code == 400 and "outside this network" in _alert(r.text), _alert(r.text)
        r = http.post("/account/withdraw", data={**form, "amount": "31"})
        assert r.status_code == 400 and "already sent with other values" in _alert(r.text)
    finally:
        chain.config = before
    assert [str(v.withdrawal.id) for v in demo.platform.wallet.withdraw_history(account)] == [first]
    assert _free(demo, account, "USDT") == _units(demo, "70")


def test_a_withdraw_form_sent_again_with_its_spent_2fa_code_shows_its_withdrawal(
    demo: Demo,
) -> None:
    """With 2FA on, a form sent again (the Back button, a reload) carries the code its first
    sending spent: its withdrawal is shown, not "the code is wrong" and "Nothing was
    changed"; a new form with that code is still refused."""
    http = _signup(demo)
    account = _account(demo, http)
    _fund(demo, http, "USDT", "100")
    secret = pyotp.random_base32()
    demo.platform.users.enable_totp(
        _user_id(demo, account), secret, pyotp.TOTP(secret).now(), PASSWORD
    )
    good = pyotp.TOTP(secret).at(time.time() + 30)  # the enabling code's step is spent
    form = _withdraw_form(http, amount="30", totp=good)
    first = _done(http.post("/account/withdraw", data=form))
    assert _done(http.post("/account/withdraw", data=form)) == first
    r = http.post("/account/withdraw", data=_withdraw_form(http, amount="30", totp=good))
    assert r.status_code == 401 and "password or 2FA code is wrong" in _alert(r.text)
    assert len(demo.platform.wallet.withdraw_history(account)) == 1
    assert _free(demo, account, "USDT") == _units(demo, "70")


def test_wrong_passwords_on_the_withdraw_form_lock_it_as_log_in_does(demo: Demo) -> None:
    """Guesses sent at once all count: after the back-off's budget (5 in a row) even the
    right password waits, with Retry-After, and nothing was withdrawn."""
    http = _signup(demo)
    account = _account(demo, http)
    _fund(demo, http, "USDT", "100")
    wrong = _withdraw_form(http, password="a wrong guess 123")
    statuses = post_at_once(http, "/account/withdraw", wrong, n=6)
    assert sorted(statuses) in ([401] * 6, [401] * 5 + [429]), statuses
    r = http.post("/account/withdraw", data=_withdraw_form(http))
    assert r.status_code == 429 and "Too many attempts" in _alert(r.text)
    assert int(r.headers["retry-after"]) > 0
    assert demo.platform.wallet.withdraw_history(account) == []
    assert _free(demo, account, "USDT") == _units(demo, "100")


def test_only_the_owner_cancels_a_withdrawal(demo: Demo) -> None:
    alice, mallory = _signup(demo), _signup(demo)
    account = _account(demo, alice)
    _fund(demo, alice, "USDT", "100")
    settings = demo.platform.wallet.settings
    settings.review_above["USDT"] = "10"  # waits in review: cancellable, whatever the chain does
    try:
        assert alice.post("/account/withdraw", data=_withdraw_form(alice)).status_code == 303
    finally:
        settings.review_above.pop("USDT")
    (view,) = demo.platform.wallet.withdraw_history(account)
    wid = str(view.withdrawal.id)
    page = alice.get("/account/withdraw").text
    assert f'aria-label="Cancel withdrawal {wid}"' in page and "Auditing" in page
    csrf = _csrf(mallory.get("/account/withdraw").text)
    r = mallory.post("/account/withdraw/cancel", data={"csrf_token": csrf, "id": wid})
    assert r.status_code == 400 and "belongs to another account" in r.text
    assert demo.platform.wallet.get_withdrawal(account, int(wid)).status is WithdrawalStatus.REVIEW
    r = alice.post("/account/withdraw/cancel", data={"csrf_token": _csrf(page), "id": wid})
    assert r.status_code == 303
    assert demo.platform.wallet.get_withdrawal(account, int(wid)).status is (
        WithdrawalStatus.CANCELED
    )
    assert _free(demo, account, "USDT") == _units(demo, "100")
    r = alice.post("/account/withdraw/cancel", data={"csrf_token": _csrf(page), "id": wid})
    assert r.status_code == 400 and "cannot be cancelled" in r.text


def test_money_forms_without_the_session_csrf_token_change_nothing(demo: Demo) -> None:
    http = _signup(demo)
    account = _account(demo, http)
    _fund(demo, http, "USDT", "100")
    forged = [
        ("/account/withdraw", {k: v for k, v in _withdraw_form(http).items() if k != "csrf_token"}),
        ("/account/withdraw/cancel", {"id": "1"}),
        (
            "/account/transfers",
            {"from": "SPOT", "to": "FUTURES", "asset": "USDT", "amount": "5", "request_id": "x"},
        ),  # fmt: skip
        (
            "/account/transfers/internal",
            {
                "to_type": "UID",
                "to_account": "1",
                "asset": "USDT",
                "amount": "5",
                "password": PASSWORD,
            },
        ),  # fmt: skip
        (
            "/account/security/password",
            {"password": PASSWORD, "new_password": "x" * 12, "new_password2": "x" * 12},
        ),  # fmt: skip
    ]
    assert_refused_without_csrf(http, forged)
    assert _free(demo, account, "USDT") == _units(demo, "100")
    assert demo.platform.wallet.withdraw_history(account) == []
    assert http.get("/account").status_code == 200  # the password did not change


def test_transfers_between_own_accounts_and_to_another_user(demo: Demo) -> None:
    alice, bob = _signup(demo), _signup(demo)
    a, b = _account(demo, alice), _account(demo, bob)
    _fund(demo, alice, "USDT", "100")
    page = alice.get("/account/transfers").text
    form = {"csrf_token": _csrf(page), "from": "SPOT", "to": "FUTURES", "asset": "USDT",
            "amount": "30.25", "request_id": "t1"}  # fmt: skip
    assert alice.post("/account/transfers", data=form).status_code == 303
    assert alice.post("/account/transfers", data=form).status_code == 303  # sent twice: once
    page = alice.get("/account/transfers").text
    futures = re.search(r'id="balances-futures">.*?<tr data-asset="USDT">(.*?)</tr>', page, re.S)
    assert futures and ">30.25<" in futures.group(1)
    assert _free(demo, a, "USDT") == _units(demo, "69.75")
    assert page.count("SPOT → FUTURES") == 1
    for fields, words in (
        ({"amount": "1000", "request_id": "t2"}, "balance is too low"),
        ({"to": "SPOT", "request_id": "t3"}, "between your SPOT and FUTURES"),
        ({"asset": "NOPE", "request_id": "t4"}, "not listed"),
    ):
        r = alice.post("/account/transfers", data={**form, **fields})
        assert r.status_code == 400 and words in r.text, (fields, r.text[-1500:])
    # to another user: the password again
    send = {"csrf_token": form["csrf_token"], "to_type": "UID", "to_account": str(b),
            "asset": "USDT", "amount": "10", "request_id": "i1", "password": "wrong password!"}  # fmt: skip
    r = alice.post("/account/transfers/internal", data=send)
    assert r.status_code == 401 and "The password is wrong" in r.text
    r = alice.post("/account/transfers/internal", data={**send, "to_account": "999999999",
                                                        "password": PASSWORD})  # fmt: skip
    assert r.status_code == 400 and "No user is known" in r.text
    assert _free(demo, b, "USDT") == 0
    send["password"] = PASSWORD
    assert alice.post("/account/transfers/internal", data=send).status_code == 303
    assert alice.post("/account/transfers/internal", data=send).status_code == 303  # once
    assert _free(demo, b, "USDT") == _units(demo, "10")
    assert _free(demo, a, "USDT") == _units(demo, "59.75")
    assert f"from UID {a}" in bob.get("/account/transfers").text


def test_the_same_transfer_forms_sent_at_once_move_money_once(demo: Demo) -> None:
    alice, bob = _signup(demo), _signup(demo)
    a, b = _account(demo, alice), _account(demo, bob)
    _fund(demo, alice, "USDT", "100")
    csrf = _csrf(alice.get("/account/transfers").text)
    own = {"csrf_token": csrf, "from": "SPOT", "to": "FUTURES", "asset": "USDT",
           "amount": "7", "request_id": "c1"}  # fmt: skip
    assert post_at_once(alice, "/account/transfers", own) == [303] * 4
    other = {"csrf_token": csrf, "to_type": "UID", "to_account": str(b), "asset": "USDT",
             "amount": "11", "request_id": "c2", "password": PASSWORD}  # fmt: skip
    assert post_at_once(alice, "/account/transfers/internal", other) == [303] * 4
    assert _free(demo, b, "USDT") == _units(demo, "11")
    assert _free(demo, a, "USDT") == _units(demo, "82")


def test_password_change_ends_other_sessions(demo: Demo) -> None:
    http = _signup(demo)
    page = http.get("/account/security").text
    user = demo.platform.users.get_user(_user_id(demo, _account(demo, http)))
    assert user is not None
    email = user.email
    other = httpx.Client(base_url=demo.url, timeout=10)
    login_page = other.get("/login").text
    r = other.post("/login", data={"email": email, "password": PASSWORD,
                                   "csrf_token": _csrf(login_page)})  # fmt: skip
    assert r.status_code == 303 and other.get("/account").status_code == 200
    assert "Turn it on" in page and "Recent log-ins" in page
    csrf = _csrf(page)
    new = "another long password"
    for data, status, words in (
        ({"password": "wrong password!", "new_password": new, "new_password2": new}, 400,
         "The password is wrong. Nothing was changed."),
        ({"new_password": new, "new_password2": new}, 400,
         "Type your current password to confirm it is you."),  # as the field is labelled
        ({"password": PASSWORD, "new_password": new, "new_password2": new + "x"}, 400, "differ"),
        ({"password": PASSWORD, "new_password": "short", "new_password2": "short"}, 400,
         "at least 10"),
    ):  # fmt: skip
        r = http.post("/account/security/password", data={"csrf_token": csrf, **data})
        assert r.status_code == status and words in r.text, (data, r.text[-1500:])
    assert other.get("/account").status_code == 200
    r = http.post("/account/security/password", data={"csrf_token": csrf, "password": PASSWORD,
                                                       "new_password": new, "new_password2": new})  # fmt: skip
    assert r.status_code == 303 and "ended=1" in r.headers["location"]
    assert other.get("/account").status_code == 303  # logged out
    page = http.get(r.headers["location"]).text
    assert "Password changed. 1 other session ended." in page
    assert "this one" in page and ">ended<" in page
    again = httpx.Client(base_url=demo.url, timeout=10)
    csrf = _csrf(again.get("/login").text)
    r = again.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 401
    r = again.post("/login", data={"email": email, "password": new, "csrf_token": csrf})
    assert r.status_code == 303


def test_logged_out_money_pages_go_to_login(demo: Demo) -> None:
    for path in ("/account/deposit", "/account/withdraw", "/account/transfers",
                 "/account/security"):  # fmt: skip
        r = httpx.get(demo.url + path)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}"
