"""Scopes, client registration rules and the Bearer header parser (no HTTP)."""

from __future__ import annotations

import pytest

from bourse.oauth import clients as cl
from bourse.oauth import scopes as sc
from bourse.oauth.bearer import token_from_header
from bourse.store.repositories.oauth import OAuthRepository


def test_scope_permissions() -> None:
    assert sc.permissions("read") == {"SPOT_ACCOUNT_READ", "SPOT_DEAL_READ"}
    assert sc.permissions("trade") == {"SPOT_DEAL_WRITE"}
    assert sc.permissions("transfer") == {"SPOT_TRANSFER_READ", "SPOT_TRANSFER_WRITE"}
    every = sc.permissions("read trade transfer")
    assert not any("WITHDRAW" in p for p in every)


def test_scope_validation() -> None:
    allowed = sc.client_may_request("read trade transfer", allow_transfer=False)
    assert allowed == {"read", "trade"}
    assert sc.validate(None, allowed) == "read"  # the default
    assert sc.validate("trade read read", allowed) == "read trade"
    for bad in ("withdraw", "transfer", "READ", "read,trade", "admin"):
        with pytest.raises(sc.ScopeError):
            sc.validate(bad, allowed)
    assert all(s.description for s in sc.SCOPES.values())


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example/cb",  # plain http off loopback
        "https://*.example/cb",
        "https://app.example/cb#x",
        "https://user:pw@app.example/cb",
        "/relative/cb",
        "custom:cb",
        " https://app.example/cb",
        "",
    ],
)
def test_redirect_uri_registration_rules(uri: str) -> None:
    with pytest.raises(cl.ClientError):
        cl.validate_redirect_uri(uri)


def test_redirect_uri_allowed() -> None:
    for uri in ("https://app.example/cb", "http://127.0.0.1:9000/cb", "http://localhost/cb"):
        assert cl.validate_redirect_uri(uri) == uri


def test_exact_match_only(db_engine) -> None:
    reg = cl.register_client(
        OAuthRepository(db_engine), name="A", redirect_uris=["https://app.example/cb"]
    )
    c = reg.client
    assert c.check_redirect_uri("https://app.example/cb")
    for near in ("https://app.example/cb/", "https://app.example/cb?x", "https://app.example/c"):
        assert not c.check_redirect_uri(near)
    assert c.get_default_redirect_uri() is None


def test_registration_and_secret_rotation(db_engine) -> None:
    with pytest.raises(cl.ClientError):
        cl.register_client(
            OAuthRepository(db_engine), name="A", redirect_uris=["https://a/cb"], scopes="withdraw"
        )
    with pytest.raises(cl.ClientError):
        cl.register_client(
            OAuthRepository(db_engine), name="A", redirect_uris=["https://a/cb"], scopes="transfer"
        )
    reg = cl.register_client(
        OAuthRepository(db_engine), name="A", redirect_uris=["https://a/cb"], broker_id=3
    )
    got = cl.get_client(OAuthRepository(db_engine), reg.client.client_id)
    assert got is not None and got.broker_id == 3
    assert got.check_client_secret(reg.client_secret)
    new = cl.rotate_secret(OAuthRepository(db_engine), reg.client.client_id)
    got = cl.get_client(OAuthRepository(db_engine), reg.client.client_id)
    assert got.check_client_secret(new) and not got.check_client_secret(reg.client_secret)
    cl.set_disabled(OAuthRepository(db_engine), reg.client.client_id)
    assert cl.get_client(OAuthRepository(db_engine), reg.client.client_id) is None


def test_bearer_header_parsing() -> None:
    assert token_from_header("Bearer abc") == "abc"
    assert token_from_header("bearer   abc ") == "abc"
    assert token_from_header("Basic abc") is None
    assert token_from_header("Bearer ") is None
    assert token_from_header(None) is None
