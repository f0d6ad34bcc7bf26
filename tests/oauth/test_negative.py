"""Every refusal the brief lists: each is a clear OAuth error and nothing is issued."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest

from bourse.oauth import BearerError, SourceMismatch, authenticate_bearer, check_source
from bourse.oauth import tokens as tk
from bourse.oauth.grants import CODE_TTL
from bourse.oauth.server import HttpRequest
from bourse.store.oauth_tables import oauth_codes, oauth_tokens
from tests.support.oauth import (
    ISSUER,
    REDIRECT,
    authorize_params,
    count,
    exchange,
    get_code,
    pkce_pair,
    redirect_query,
    refresh,
    register,
    signup,
)


def _refused(fn, *args):  # type: ignore[no-untyped-def]
    with pytest.raises(BearerError):
        fn(*args)


# --- redirect URIs ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/callback",
        "https://app.example/callback/evil",  # prefix match
        "https://app.example/callback?next=https://evil.example",  # prefix match
        "https://app.example/callbac",
        "https://APP.example/callback",  # not the exact string
        "https://app.example/callback#frag",
        "http://app.example/callback",
        None,  # omitted: never falls back to a registered URI
    ],
)
def test_redirect_uri_must_match_exactly(env, uri) -> None:  # type: ignore[no-untyped-def]
    reg = register(env)
    signup(env.http)
    _, challenge = pkce_pair()
    r = env.http.get(
        "/oauth/authorize?" + urlencode(authorize_params(reg, challenge, redirect_uri=uri))
    )
    assert r.status_code == 400 and "location" not in r.headers  # an error page, no redirect
    assert "invalid_request" in r.text
    # and the consent form cannot be posted around it either
    r = env.http.post(
        "/oauth/authorize",
        data={**authorize_params(reg, challenge, redirect_uri=uri), "decision": "approve",
              "csrf_token": _csrf(env)},
    )  # fmt: skip
    assert r.status_code == 400 and "location" not in r.headers
    assert count(env.db, oauth_codes) == 0


def _csrf(env) -> str:  # type: ignore[no-untyped-def]
    from tests.support.oauth import form_value

    return form_value(env.http.get("/account/apps").text, "csrf_token")


def test_token_request_redirect_uri_must_match_the_code(env) -> None:
    reg = register(env, redirect_uris=[REDIRECT, "https://app.example/other"])
    code, verifier = get_code(env, reg)
    r = exchange(env, reg, code, verifier, redirect_uri="https://app.example/other")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert count(env.db, oauth_tokens) == 0


def test_unknown_client_is_an_error_page(env) -> None:
    signup(env.http)
    _, challenge = pkce_pair()
    params = authorize_params(register(env), challenge, client_id="bc_nope")
    r = env.http.get("/oauth/authorize?" + urlencode(params))
    assert r.status_code == 400 and "location" not in r.headers and "invalid_client" in r.text


# --- PKCE ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "over",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge_method": None},
        {"code_challenge_method": "plain"},
        {"code_challenge": "short"},
    ],
)
def test_pkce_s256_required_at_authorization(env, over) -> None:  # type: ignore[no-untyped-def]
    reg = register(env)
    signup(env.http)
    _, challenge = pkce_pair()
    r = env.http.get("/oauth/authorize?" + urlencode(authorize_params(reg, challenge, **over)))
    q = redirect_query(r)  # the redirect URI is valid, so the error goes back to the app
    assert q["error"] == "invalid_request" and q["iss"] == ISSUER and "code" not in q
    assert count(env.db, oauth_codes) == 0


@pytest.mark.parametrize("verifier", [None, "", "wrong-" + "x" * 50, "short"])
def test_pkce_verifier_required_and_checked(env, verifier) -> None:  # type: ignore[no-untyped-def]
    reg = register(env)
    code, good = get_code(env, reg)
    r = exchange(env, reg, code, verifier)
    assert r.status_code == 400
    assert r.json()["error"] in ("invalid_request", "invalid_grant")
    assert r.headers["cache-control"] == "no-store"
    assert count(env.db, oauth_tokens) == 0
    # the right verifier still works afterwards: a failed attempt does not burn the code
    assert exchange(env, reg, code, good).status_code == 200


# --- codes -----------------------------------------------------------------------------------
def test_code_reuse_is_refused_and_revokes_the_family(env) -> None:
    reg = register(env)
    code, verifier = get_code(env, reg)
    tok = exchange(env, reg, code, verifier).json()
    assert authenticate_bearer(env.oauth, tok["access_token"])
    r = exchange(env, reg, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "already used" in r.json()["error_description"]
    assert count(env.db, oauth_tokens) == 1  # nothing new issued
    _refused(authenticate_bearer, env.oauth, tok["access_token"])
    r = refresh(env, reg, tok["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_expired_code(env) -> None:
    reg = register(env)
    code, verifier = get_code(env, reg)
    env.clock.advance(CODE_TTL + 1)
    r = exchange(env, reg, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "expired" in r.json()["error_description"]
    assert count(env.db, oauth_tokens) == 0


def test_code_bound_to_its_client(env) -> None:
    a = register(env)
    b = register(env, name="Other App")
    code, verifier = get_code(env, a)
    r = exchange(env, b, code, verifier, client_id=b.client.client_id)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert count(env.db, oauth_tokens) == 0
    r = exchange(env, a, code, verifier, client_secret="bcs_wrong")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert count(env.db, oauth_tokens) == 0


# --- refresh tokens --------------------------------------------------------------------------
def test_refresh_reuse_revokes_the_family(env) -> None:
    reg = register(env)
    code, verifier = get_code(env, reg)
    tok1 = exchange(env, reg, code, verifier).json()
    tok2 = refresh(env, reg, tok1["refresh_token"]).json()
    assert authenticate_bearer(env.oauth, tok2["access_token"])
    # the old refresh token comes back (stolen copy): refused, and the family dies
    r = refresh(env, reg, tok1["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "already used" in r.json()["error_description"]
    _refused(authenticate_bearer, env.oauth, tok2["access_token"])
    _refused(authenticate_bearer, env.oauth, tok1["access_token"])
    r = refresh(env, reg, tok2["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert count(env.db, oauth_tokens) == 2


def test_concurrent_refresh_exactly_one_wins(env) -> None:
    reg = register(env)
    code, verifier = get_code(env, reg)
    tok = exchange(env, reg, code, verifier).json()
    n = 8
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        req = HttpRequest(
            "POST",
            ISSUER + "/oauth/token",
            {},
            [
                ("grant_type", "refresh_token"),
                ("refresh_token", tok["refresh_token"]),
                ("client_id", reg.client.client_id),
                ("client_secret", reg.client_secret),
            ],
        )
        barrier.wait(timeout=30)
        results[i] = env.server.create_token_response(req)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    ok = [r for r in results if r.status == 200]
    assert len(ok) == 1, [(r.status, r.body) for r in results]
    assert all(r.body["error"] == "invalid_grant" for r in results if r.status != 200)
    rows = tk.family_rows(
        env.oauth, tk.find(env.oauth, tok["access_token"], None, env.clock()).family_id
    )
    assert len(rows) == 2  # the original and exactly one successor
    # the losers presented a consumed token: reuse detection ended the family (RFC 9700 4.14.2)
    _refused(authenticate_bearer, env.oauth, ok[0].body["access_token"])


# --- scopes ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("registered", "allow_transfer", "requested"),
    [
        ("read", False, "read trade"),
        ("read trade", False, "transfer"),
        ("read trade", False, "withdraw"),
        ("read trade", False, "read SPOT_WITHDRAW_WRITE"),
        ("read trade", False, "admin"),
    ],
)
def test_scope_escalation_at_authorization(env, registered, allow_transfer, requested) -> None:  # type: ignore[no-untyped-def]
    reg = register(env, scopes=registered, allow_transfer=allow_transfer)
    signup(env.http)
    _, challenge = pkce_pair()
    r = env.http.get(
        "/oauth/authorize?" + urlencode(authorize_params(reg, challenge, scope=requested))
    )
    q = redirect_query(r)
    assert q["error"] == "invalid_scope" and "code" not in q
    assert count(env.db, oauth_codes) == 0


def test_transfer_scope_only_for_allowed_clients(env) -> None:
    reg = register(env, scopes="read trade transfer", allow_transfer=True)
    code, verifier = get_code(env, reg, scope="read transfer")
    tok = exchange(env, reg, code, verifier).json()
    p = authenticate_bearer(env.oauth, tok["access_token"])
    assert "SPOT_TRANSFER_WRITE" in p.permissions and "SPOT_WITHDRAW_WRITE" not in p.permissions


def test_scope_escalation_at_refresh(env) -> None:
    reg = register(env)
    code, verifier = get_code(env, reg, scope="read")
    tok = exchange(env, reg, code, verifier).json()
    r = refresh(env, reg, tok["refresh_token"], scope="read trade")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    assert count(env.db, oauth_tokens) == 1
    # and the refresh token was not consumed by the refused request
    assert refresh(env, reg, tok["refresh_token"]).status_code == 200


# --- grants that do not exist ----------------------------------------------------------------
@pytest.mark.parametrize("grant", ["password", "client_credentials", "implicit", "urn:x"])
def test_only_code_and_refresh_grants(env, grant) -> None:  # type: ignore[no-untyped-def]
    reg = register(env)
    r = env.http.post(
        "/oauth/token",
        data={"grant_type": grant, "username": "a", "password": "b"},
        auth=(reg.client.client_id, reg.client_secret),
    )
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    assert count(env.db, oauth_tokens) == 0


def test_no_implicit_response_type(env) -> None:
    reg = register(env)
    signup(env.http)
    _, challenge = pkce_pair()
    r = env.http.get(
        "/oauth/authorize?" + urlencode(authorize_params(reg, challenge, response_type="token"))
    )
    q = redirect_query(r)
    assert q["error"] == "unsupported_response_type"


def test_token_parameters_not_accepted_in_the_url(env) -> None:
    reg = register(env)
    code, verifier = get_code(env, reg)
    q = urlencode({"client_secret": reg.client_secret, "code": code})
    r = env.http.post("/oauth/token?" + q, data={"grant_type": "authorization_code"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert count(env.db, oauth_tokens) == 0


# --- broker attribution ----------------------------------------------------------------------
def test_source_header_must_name_the_tokens_broker(env) -> None:
    a = register(env, broker_id=7)
    b = register(env, name="Broker B app", broker_id=8)
    code, verifier = get_code(env, a)
    tok = exchange(env, a, code, verifier).json()
    p = authenticate_bearer(env.oauth, tok["access_token"])
    assert check_source(p, "7") == 7
    assert check_source(p, None) == 7  # attributed to the token's broker anyway
    assert check_source(p, "") == 7
    with pytest.raises(
        SourceMismatch, match="does not match this token, which belongs to broker 7"
    ):
        check_source(p, str(b.client.broker_id))
    with pytest.raises(SourceMismatch):
        check_source(p, "07")
    # a client with no broker may not claim one
    c = register(env, name="No broker", broker_id=None)
    code, verifier = get_code(env, c)
    pc = authenticate_bearer(env.oauth, exchange(env, c, code, verifier).json()["access_token"])
    assert check_source(pc, None) is None
    with pytest.raises(SourceMismatch):
        check_source(pc, "7")


# --- revocation ------------------------------------------------------------------------------
def test_revoked_app_is_refused_everywhere(env) -> None:
    reg = register(env)
    code, verifier = get_code(env, reg)
    tok = exchange(env, reg, code, verifier).json()
    authenticate_bearer(env.oauth, tok["access_token"])
    page = env.http.get("/account/apps")
    assert reg.client.client_id in page.text and "Copy Trader" in page.text
    r = env.http.post(
        "/account/apps/revoke",
        data={"client_id": reg.client.client_id, "csrf_token": _csrf(env), "confirmed": "1"},
    )
    assert r.status_code == 303
    assert reg.client.client_id not in env.http.get("/account/apps").text.split("revoked")[-1]
    _refused(authenticate_bearer, env.oauth, tok["access_token"])
    r = refresh(env, reg, tok["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = env.http.post(
        "/oauth/introspect",
        data={"token": tok["access_token"]},
        auth=(reg.client.client_id, reg.client_secret),
    )
    assert r.json() == {"active": False}


def test_revoke_app_needs_csrf(env) -> None:
    reg = register(env)
    code, verifier = get_code(env, reg)
    tok = exchange(env, reg, code, verifier).json()
    r = env.http.post(
        "/account/apps/revoke", data={"client_id": reg.client.client_id, "confirmed": "1"}
    )
    assert r.status_code == 403
    assert authenticate_bearer(env.oauth, tok["access_token"])


def test_rfc7009_revocation(env) -> None:
    a = register(env)
    b = register(env, name="Other")
    code, verifier = get_code(env, a)
    tok = exchange(env, a, code, verifier).json()
    # another client may not revoke it
    r = env.http.post(
        "/oauth/revoke",
        data={"token": tok["refresh_token"]},
        auth=(b.client.client_id, b.client_secret),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert authenticate_bearer(env.oauth, tok["access_token"])
    r = env.http.post(
        "/oauth/revoke",
        data={"token": tok["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(a.client.client_id, a.client_secret),
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    _refused(authenticate_bearer, env.oauth, tok["access_token"])  # the whole grant ends
    # unknown tokens: 200 as RFC 7009 asks
    r = env.http.post(
        "/oauth/revoke", data={"token": "nope"}, auth=(a.client.client_id, a.client_secret)
    )
    assert r.status_code == 200


def test_introspection_of_another_clients_token_is_inactive(env) -> None:
    a = register(env)
    b = register(env, name="Other")
    code, verifier = get_code(env, a)
    tok = exchange(env, a, code, verifier).json()
    r = env.http.post(
        "/oauth/introspect",
        data={"token": tok["access_token"]},
        auth=(b.client.client_id, b.client_secret),
    )
    assert r.json() == {"active": False}


# --- CSRF on the consent form ----------------------------------------------------------------
@pytest.mark.parametrize("csrf", [None, "", "forged-token-value-forged-token-value"])
def test_consent_form_csrf(env, csrf) -> None:  # type: ignore[no-untyped-def]
    reg = register(env)
    signup(env.http)
    _, challenge = pkce_pair()
    data = {**authorize_params(reg, challenge), "decision": "approve"}
    if csrf is not None:
        data["csrf_token"] = csrf
    r = env.http.post("/oauth/authorize", data=data)
    assert r.status_code == 403 and "location" not in r.headers
    assert count(env.db, oauth_codes) == 0


def test_consent_post_without_session(env) -> None:
    reg = register(env)
    _, challenge = pkce_pair()
    r = env.http.post(
        "/oauth/authorize", data={**authorize_params(reg, challenge), "decision": "approve"}
    )
    assert r.status_code == 401 and "location" not in r.headers
    assert count(env.db, oauth_codes) == 0


def test_disabled_client(env) -> None:
    from bourse.oauth import clients as cl

    reg = register(env)
    code, verifier = get_code(env, reg)
    tok = exchange(env, reg, code, verifier).json()
    cl.set_disabled(env.oauth, reg.client.client_id)
    _refused(authenticate_bearer, env.oauth, tok["access_token"])
    assert refresh(env, reg, tok["refresh_token"]).status_code == 401


def test_suspended_broker_tokens_refused(env) -> None:
    from sqlalchemy import insert, update

    from bourse.store.broker_tables import brokers

    now = env.clock()
    with env.db.begin() as conn:
        bid = conn.execute(
            insert(brokers).values(
                account_id=4242,
                rebate_account_id=4242,
                type="OAUTH",
                status="APPROVED",
                name="Acme",
                code="acme",
                logo_url="",
                callback_url=REDIRECT,
                note="",
                reason="",
                created=now,
                updated=now,
            )
        ).inserted_primary_key[0]
    reg = register(env, broker_id=bid)
    code, verifier = get_code(env, reg)
    tok = exchange(env, reg, code, verifier).json()
    p = authenticate_bearer(env.oauth, tok["access_token"])
    assert p.broker_code == "acme"
    assert check_source(p, "acme") == bid and check_source(p, str(bid)) == bid
    with env.db.begin() as conn:
        conn.execute(update(brokers).where(brokers.c.id == bid).values(status="SUSPENDED"))
    _refused(authenticate_bearer, env.oauth, tok["access_token"])


def test_register_for_broker(env) -> None:
    from types import SimpleNamespace

    from bourse.oauth import clients as cl

    b = SimpleNamespace(
        id=77,
        name="Acme",
        logo_url="",
        callback_url="https://acme.example/cb",
        oauth_scopes="read trade",
    )
    # the application's callback URL never becomes a redirect URI: only explicit ones do
    reg = cl.register_for_broker(env.oauth, b)
    assert reg is not None and reg.client.broker_id == 77
    assert reg.client.redirect_uris == () and reg.client.scopes == "read trade"
    assert not reg.client.check_redirect_uri("https://acme.example/cb")
    assert cl.register_for_broker(env.oauth, b) is None  # re-approval keeps the client
    b2 = SimpleNamespace(id=78, name="Beta", logo_url="", oauth_scopes="read")
    reg2 = cl.register_for_broker(env.oauth, b2, redirect_uris=[REDIRECT, "https://app.example/b"])
    assert reg2 is not None and reg2.client.redirect_uris == (REDIRECT, "https://app.example/b")
    assert reg2.client.scopes == "read"


def test_concurrent_code_exchange_exactly_one_wins(env) -> None:
    reg = register(env)
    code, verifier = get_code(env, reg)
    n = 6
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        req = HttpRequest(
            "POST",
            ISSUER + "/oauth/token",
            {},
            [
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
                ("client_id", reg.client.client_id),
                ("client_secret", reg.client_secret),
            ],
        )
        barrier.wait(timeout=30)
        results[i] = env.server.create_token_response(req)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    ok = [r for r in results if r.status == 200]
    assert len(ok) == 1, [(r.status, r.body) for r in results]
    assert all(r.body["error"] == "invalid_grant" for r in results if r.status != 200)
    assert count(env.db, oauth_tokens) == 1
    # a replayed code revokes what it was exchanged for
    _refused(authenticate_bearer, env.oauth, ok[0].body["access_token"])


def test_mexc_bearer_adapter_errors(env) -> None:
    from bourse.api.mexc.bearer import bearer_key
    from bourse.api.mexc.errors import ApiError

    reg = register(env)
    code, verifier = get_code(env, reg, scope="read")
    tok = exchange(env, reg, code, verifier).json()
    hdr = "Bearer " + tok["access_token"]
    now = env.clock()
    key, principal = bearer_key(env, hdr, "7", "SPOT_ACCOUNT_READ", now)
    assert key.account_id == principal.account_id and key.permissions == principal.permissions
    with pytest.raises(ApiError) as err:  # read-only token, trading endpoint
        bearer_key(env, hdr, "7", "SPOT_DEAL_WRITE", now)
    assert (
        err.value.code == 700007 and "insufficient_scope" in err.value.headers["WWW-Authenticate"]
    )
    with pytest.raises(ApiError) as err:  # another broker's source
        bearer_key(env, hdr, "8", "SPOT_ACCOUNT_READ", now)
    assert err.value.code == 700007 and err.value.status == 403
    assert "does not match this token" in err.value.msg
    with pytest.raises(ApiError) as err:
        bearer_key(env, "Bearer bat_unknown", None, None, now)
    assert err.value.code == 10072 and err.value.status == 401
