"""The authorization-code flow end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9207 import AuthorizationServerMetadata as IssMetadata

from bourse.oauth import BearerError, authenticate_bearer
from bourse.oauth import tokens as tk
from bourse.store.oauth_tables import oauth_clients, oauth_tokens
from tests.support.oauth import ISSUER, count, exchange, get_code, redirect_query, refresh, register


def test_metadata_rfc8414(env) -> None:
    r = env.http.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200
    meta = r.json()
    AuthorizationServerMetadata(meta).validate(metadata_classes=[IssMetadata])
    assert meta["issuer"] == ISSUER
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "withdraw" not in meta["scopes_supported"]


def test_code_flow_tokens_refresh_and_bearer(env) -> None:
    reg = register(env)
    # the secret is stored only as an argon2id hash
    from sqlalchemy import select

    with env.db.connect() as conn:
        stored = conn.execute(select(oauth_clients.c.secret_hash)).scalar_one()
    assert stored.startswith("sha256$") and reg.client_secret not in stored

    code, verifier = get_code(env, reg)
    r = exchange(env, reg, code, verifier)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    tok = r.json()
    assert tok["token_type"] == "Bearer"
    assert tok["expires_in"] == tk.ACCESS_TOKEN_TTL
    assert tok["scope"] == "read trade"
    assert tok["access_token"].startswith("bat_") and tok["refresh_token"].startswith("brt_")

    # tokens are stored hashed
    with env.db.connect() as conn:
        row = conn.execute(select(oauth_tokens)).one()
    assert row.access_hash == tk.digest(tok["access_token"])
    assert tok["access_token"] not in repr(tuple(row))

    p = authenticate_bearer(env.oauth, tok["access_token"])
    assert p.client_id == reg.client.client_id and p.broker_id == 7
    assert p.scopes == {"read", "trade"}
    assert p.permissions == {"SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"}

    # introspection (RFC 7662), client-authenticated
    r = env.http.post(
        "/oauth/introspect",
        data={"token": tok["access_token"]},
        auth=(reg.client.client_id, reg.client_secret),
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    info = r.json()
    assert info["active"] is True and info["scope"] == "read trade"
    assert info["iss"] == ISSUER and info["broker_id"] == 7
    r = env.http.post("/oauth/introspect", data={"token": tok["access_token"]})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"

    # refresh rotates: new pair, old refresh consumed, narrower scope allowed
    r = refresh(env, reg, tok["refresh_token"], scope="read")
    assert r.status_code == 200, r.text
    tok2 = r.json()
    assert tok2["refresh_token"] != tok["refresh_token"] and tok2["scope"] == "read"
    assert authenticate_bearer(env.oauth, tok2["access_token"]).scopes == {"read"}
    rows = tk.family_rows(env.oauth, row.family_id)
    assert len(rows) == 2 and rows[0].consumed is not None and rows[1].parent_id == rows[0].id


def test_authorization_response_carries_iss_and_state(env) -> None:
    from tests.support.oauth import authorize_params, consent, pkce_pair, signup

    reg = register(env)
    signup(env.http)
    _, challenge = pkce_pair()
    params = authorize_params(reg, challenge, state="xyz-123")
    r = consent(env.http, params)
    assert r.status_code == 303  # never 307 (RFC 9700 §4.12)
    assert r.headers["location"].startswith("https://app.example/callback?")
    q = redirect_query(r)
    assert q["state"] == "xyz-123" and q["iss"] == ISSUER and q["code"]
    # denial goes back with access_denied, iss and state, and no code
    q = redirect_query(consent(env.http, authorize_params(reg, challenge, state="s2"), "deny"))
    assert q["error"] == "access_denied" and q["state"] == "s2" and q["iss"] == ISSUER
    assert "code" not in q


def test_consent_page_is_frame_protected_and_needs_login(env) -> None:
    from urllib.parse import urlencode

    from tests.support.oauth import authorize_params, pkce_pair, signup

    reg = register(env)
    _, challenge = pkce_pair()
    url = "/oauth/authorize?" + urlencode(authorize_params(reg, challenge))
    r = env.http.get(url)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    signup(env.http)
    r = env.http.get(url)
    assert r.status_code == 200
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert "Copy Trader" in r.text and "never" in r.text


def test_bearer_refused_after_expiry(env) -> None:
    reg = register(env)
    code, verifier = get_code(env, reg)
    tok = exchange(env, reg, code, verifier).json()
    later = env.clock() + tk.ACCESS_TOKEN_TTL * 1000 + 1
    try:
        authenticate_bearer(env.oauth, tok["access_token"], now=later)
    except BearerError as exc:
        assert "expired" in str(exc)
    else:
        raise AssertionError("an expired token was accepted")
    assert count(env.db, oauth_tokens) == 1
