"""Sign-up, log-in, sessions, CSRF on the web forms, TOTP two-factor, cookie flags."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bourse.engine.clock import now_ms
from bourse.oauth.server import AuthServer, OAuthConfig
from bourse.services import users as us
from bourse.services.throttle import Throttled
from bourse.store.oauth_tables import sessions, users
from bourse.store.repositories.oauth import OAuthRepository
from bourse.store.repositories.users import UserRepository
from bourse.web.pages import safe_next
from bourse.web.routes import all_routes
from tests.support.oauth import form_value, signup

PASSWORD = "correct horse battery"


def _login(http, email: str, password: str = PASSWORD, totp: str = ""):  # type: ignore[no-untyped-def]
    csrf = form_value(http.get("/login").text, "csrf_token")
    return http.post(
        "/login", data={"email": email, "password": password, "totp": totp, "csrf_token": csrf}
    )


def test_signup_login_logout(env) -> None:
    email = signup(env.http)
    with env.db.connect() as conn:
        row = conn.execute(select(users).where(users.c.email == email)).one()
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert row.account_id >= 1000  # the exchange account opened through open_account
    assert env.http.get("/account/apps").status_code == 200
    csrf = form_value(env.http.get("/account/apps").text, "csrf_token")
    assert env.http.post("/logout", data={"csrf_token": csrf}).status_code == 303
    # the session is revoked server-side, not just forgotten by the browser
    with env.db.connect() as conn:
        assert conn.execute(select(sessions.c.revoked)).scalar_one() is not None
    r = env.http.get("/account/apps")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert _login(env.http, email).status_code == 303
    assert env.http.get("/account/apps").status_code == 200


def test_stolen_session_cookie_dies_at_logout(env) -> None:
    signup(env.http)
    sid = env.http.cookies["bourse_session"]
    csrf = form_value(env.http.get("/account/apps").text, "csrf_token")
    env.http.post("/logout", data={"csrf_token": csrf})
    env.http.cookies.set("bourse_session", sid)
    assert env.http.get("/account/apps").status_code == 303


def test_logout_needs_csrf(env) -> None:
    signup(env.http)
    env.http.post("/logout", data={"csrf_token": "nope"})
    assert env.http.get("/account/apps").status_code == 200


def test_signup_refusals(env) -> None:
    signup(env.http, email="dup@example.com")
    env.http.cookies.clear()
    csrf = form_value(env.http.get("/signup").text, "csrf_token")
    for email, password, msg in [
        ("dup@example.com", PASSWORD, "already exists"),
        ("DUP@example.com ", PASSWORD, "already exists"),
        ("not-an-email", PASSWORD, "valid e-mail"),
        ("new@example.com", "short", "at least 10"),
    ]:
        r = env.http.post(
            "/signup", data={"email": email, "password": password, "csrf_token": csrf}
        )
        assert r.status_code == 400 and msg in r.text
    r = env.http.post("/signup", data={"email": "x@example.com", "password": PASSWORD})
    assert r.status_code == 403  # no CSRF token


def test_login_csrf_and_wrong_credentials(env) -> None:
    email = signup(env.http)
    env.http.cookies.clear()
    r = env.http.post("/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 403
    r = _login(env.http, email, "wrong password!")
    assert r.status_code == 401 and "Wrong e-mail, password or 2FA code" in r.text
    r = _login(env.http, "nobody@example.com", PASSWORD)
    assert r.status_code == 401 and "Wrong e-mail, password or 2FA code" in r.text


def test_backoff_after_repeated_failures(env) -> None:
    """After ``backoff_after`` failures from one IP that IP waits, even with the right
    password; the owner, from another IP, is not locked out."""
    email = signup(env.http)
    limits = env.users.throttle.limits
    for _ in range(limits.backoff_after):
        with pytest.raises(us.UserError):
            env.users.authenticate(email, "wrong password", ip="198.51.100.7", now=env.clock())
    with pytest.raises(Throttled) as exc:
        env.users.authenticate(email, PASSWORD, ip="198.51.100.7", now=env.clock())
    assert exc.value.retry_after == limits.backoff_ms // 1000
    assert env.users.authenticate(email, PASSWORD, ip="203.0.113.9", now=env.clock())
    env.clock.advance(limits.backoff_ms / 1000 + 1)
    assert env.users.authenticate(email, PASSWORD, ip="198.51.100.7", now=env.clock())


def test_totp_two_factor(env) -> None:
    email = signup(env.http)
    page = env.http.get("/account/2fa")
    secret = form_value(page.text, "secret")
    csrf = form_value(page.text, "csrf_token")
    totp = pyotp.TOTP(secret)
    form = {"csrf_token": csrf, "secret": secret, "password": PASSWORD}
    r = env.http.post("/account/2fa", data={**form, "code": "000000"})
    assert r.status_code == 400 and "does not match" in r.text
    now_code = totp.at(env.clock() / 1000)
    # a session alone (no password, or a wrong one) cannot put a second factor on the account
    for password, said in (
        ("", "Type your log-in password"),
        ("wrong password!", "The password is wrong."),
    ):
        r = env.http.post("/account/2fa", data={**form, "code": now_code, "password": password})
        assert r.status_code == 401 and said in r.text
    with env.db.connect() as conn:
        assert conn.execute(select(users.c.totp_secret)).scalar_one() is None
    r = env.http.post("/account/2fa", data={**form, "code": now_code})
    assert r.status_code == 303
    with env.db.connect() as conn:
        stored = conn.execute(select(users.c.totp_secret)).scalar_one()
    assert stored is not None
    env.http.cookies.clear()
    # password alone is not enough any more
    assert _login(env.http, email).status_code == 401
    # the code used to turn 2FA on cannot be replayed
    assert _login(env.http, email, totp=now_code).status_code == 401
    env.clock.advance(31)
    code = totp.at(env.clock() / 1000)
    assert _login(env.http, email, totp=code).status_code == 303
    env.http.cookies.clear()
    assert _login(env.http, email, totp=code).status_code == 401  # same step again: refused


def test_2fa_off_and_on_again_count_against_the_log_in_back_off(env) -> None:
    """Wrong codes turning 2FA off are log-in failures of that e-mail and IP: after the
    back-off's five, the right password and code wait (429, Retry-After), at log-in too, and
    2FA stays on (before, forty wrong codes were forty 200s)."""
    email = signup(env.http)
    page = env.http.get("/account/2fa")
    secret = form_value(page.text, "secret")
    csrf = form_value(page.text, "csrf_token")
    totp = pyotp.TOTP(secret)
    r = env.http.post("/account/2fa", data={"csrf_token": csrf, "secret": secret,
                                            "code": totp.at(env.clock() / 1000), "password": PASSWORD})  # fmt: skip
    assert r.status_code == 303
    env.clock.advance(31)
    good = totp.at(env.clock() / 1000)
    wrong = next(c for c in ("000000", "111111") if c not in {totp.at(env.clock() / 1000 + d)
                                                              for d in (-30, 0, 30)})  # fmt: skip
    off = {"csrf_token": csrf, "action": "disable", "password": PASSWORD}
    for _ in range(env.users.throttle.limits.backoff_after):
        r = env.http.post("/account/2fa", data={**off, "code": wrong})
        assert r.status_code == 401
    r = env.http.post("/account/2fa", data={**off, "code": good})
    assert r.status_code == 429 and "Too many attempts" in r.text
    assert int(r.headers["retry-after"]) == env.users.throttle.limits.backoff_ms // 1000
    with env.db.connect() as conn:
        assert conn.execute(select(users.c.totp_secret)).scalar_one() is not None
    env.http.cookies.clear()
    assert _login(env.http, email, totp=good).status_code == 429


def test_totp_secret_encrypted_with_fernet(db_engine) -> None:
    from cryptography.fernet import Fernet

    f = Fernet(Fernet.generate_key())
    people = us.Users(UserRepository(db_engine), lambda e: 555, fernet=f)
    user = people.create_user("f@example.com", PASSWORD)
    secret = us.new_totp_secret()
    now = now_ms()
    people.enable_totp(user.id, secret, pyotp.TOTP(secret).at(now / 1000), PASSWORD, now=now)
    with db_engine.connect() as conn:
        stored = conn.execute(select(users.c.totp_secret)).scalar_one()
    assert stored.startswith("enc:") and secret not in stored
    later = now + 60_000
    code = pyotp.TOTP(secret).at(later / 1000)
    assert people.authenticate("f@example.com", PASSWORD, code, now=later)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/oauth/authorize?x=1", "/oauth/authorize?x=1"),
        ("//evil.example/", "/account"),
        ("https://evil.example/", "/account"),
        ("/\\evil.example", "/account"),
        ("javascript:alert(1)", "/account"),
        ("/ok\r\nSet-Cookie: x=1", "/account"),
        (None, "/account"),
    ],
)
def test_next_is_never_an_open_redirect(value, expected) -> None:  # type: ignore[no-untyped-def]
    assert safe_next(value) == expected


def test_https_issuer_sets_secure_host_cookies(db_engine) -> None:
    server = AuthServer(OAuthConfig(issuer="https://exchange.example"), OAuthRepository(db_engine))
    app = Starlette(routes=all_routes(server, us.Users(UserRepository(db_engine), lambda e: 9)))
    with TestClient(app, base_url="https://exchange.example", follow_redirects=False) as http:
        page = http.get("/signup")
        pre = page.headers["set-cookie"]
        assert pre.startswith("__Host-bourse_csrf=") and "Secure" in pre and "HttpOnly" in pre
        assert "samesite=lax" in pre.lower()
        csrf = form_value(page.text, "csrf_token")
        r = http.post(
            "/signup", data={"email": "s@example.com", "password": PASSWORD, "csrf_token": csrf}
        )
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("__Host-bourse_session=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
        assert "samesite=lax" in cookie.lower() and "Domain" not in cookie


def test_issuer_must_be_https_or_loopback(db_engine) -> None:
    with pytest.raises(ValueError):
        OAuthConfig(issuer="http://exchange.example")
    with pytest.raises(ValueError):
        OAuthConfig(issuer="https://exchange.example/?x=1")
