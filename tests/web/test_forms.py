"""What the console's forms refuse before anything is stored, on SQLite and PostgreSQL alike:
a NUL character in a field's name or value, or in the query string (PostgreSQL text cannot hold
one: it was a 500 there), gets the 400 page and changes nothing; the sign-up form takes an
e-mail address only in its plain shape."""

from __future__ import annotations

import httpx

from bourse.web.messages import UNREADABLE
from tests.web.operator_server import PASSWORD, Operated, csrf

NUL = "\x00"
#: one "@", a local part and a domain with a dot, no white space or control character, <= 254
BAD_EMAILS = [
    "",
    "plain",
    "no-domain@",
    "@no-local.example",
    "no-dot@example",
    "two@@example.com",
    "two@at@example.com",
    "a@.example",
    "a@example.",
    "white space@example.com",
    "tab\t@example.com",
    "bell\x07@example.com",
    "del\x7f@example.com",
    "next-line\x85@example.com",
    "line\u2028sep@example.com",
    f"{'l' * 65}@example.com",
    f"a@{'d' * 250}.com",
]
GOOD_EMAILS = ["first.last+tag@sub.example.com", f"{'l' * 64}@example.com", "Up@Example.COM"]


def refused(r: httpx.Response) -> bool:
    return r.status_code == 400 and UNREADABLE in r.text


def test_a_nul_in_a_form_or_query_gets_the_400_page_and_changes_nothing(
    operated: Operated,
) -> None:
    users = operated.platform.users.repo
    anon = operated.client()
    token = csrf(anon.get("/signup").text)
    email = "nul@example.com"
    for form in (
        {"email": f"nul{NUL}@example.com", "password": PASSWORD},
        {"email": email, "password": PASSWORD + NUL},
        {"email": email, "password": PASSWORD, f"x{NUL}": "1"},
    ):
        assert refused(anon.post("/signup", data={**form, "csrf_token": token})), form
    assert refused(anon.post("/login", data={"email": email + NUL, "password": PASSWORD}))
    assert users.user_by_email(email) is None

    http, account = operated.user()
    page = http.get("/account/keys").text
    form = {"csrf_token": csrf(page), "permissions": ["SPOT_DEAL_READ"], "label": f"a{NUL}b"}
    assert refused(http.post("/account/keys", data=form))
    assert operated.platform.apikeys.list_keys(account) == []
    assert refused(http.get("/account/keys", params={"done": NUL}))
    assert refused(http.get("/oauth/authorize", params={"client_id": NUL}))

    operator = operated.operator()
    assert refused(operator.get("/operator/users", params={"q": NUL}))
    token = csrf(operator.get("/operator").text)
    assert refused(operator.post("/operator/logout", data={"csrf_token": token + NUL}))
    # still served, still signed in
    assert http.get("/account/keys").status_code == 200
    assert operator.get("/operator/users", params={"q": "nul"}).status_code == 200


def test_sign_up_takes_only_a_plain_e_mail_address(operated: Operated) -> None:
    users = operated.platform.users.repo
    http = operated.client()
    token = csrf(http.get("/signup").text)
    for email in BAD_EMAILS:
        r = http.post("/signup", data={"email": email, "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 400 and "Enter a valid e-mail address." in r.text, repr(email)
    for email in GOOD_EMAILS:
        fresh = operated.client()
        form = {"email": email, "password": PASSWORD, "csrf_token": csrf(fresh.get("/signup").text)}
        assert fresh.post("/signup", data=form).status_code == 303, email
        assert users.user_by_email(email.lower()) is not None
