"""``brokers.oauth-*``: an OAuth broker's clients, managed by the operator (the broker does the
same through ``/api/v3/broker/oauth/...``). The rules are ``bourse.oauth.management``'s."""

from __future__ import annotations

from typing import Any

from bourse.oauth.management import ClientManager, describe
from bourse.operations.registry import operation
from bourse.services.bundle import Services


@operation("brokers.oauth-clients", mutates=False)
def clients(svc: Services, *, broker: int) -> list[dict[str, Any]]:
    """An OAuth broker's clients (never their secrets)."""
    return [describe(c) for c in ClientManager.of(svc).clients(broker)]


@operation("brokers.oauth-register")
def register(
    svc: Services,
    *,
    broker: int,
    name: str,
    redirect_uri: list[str],
    scopes: str | None = None,
    logo_url: str = "",
) -> dict[str, Any]:
    """Register another app (client) for an approved OAuth broker; its secret is shown once."""
    reg = ClientManager.of(svc).register(
        broker, name=name, redirect_uris=redirect_uri, scopes=scopes, logo_url=logo_url
    )
    return {**describe(reg.client), "clientSecret": reg.client_secret}


@operation("brokers.oauth-rotate-secret")
def rotate_secret(
    svc: Services, *, broker: int, client: str, grace_seconds: int | None = None
) -> dict[str, Any]:
    """Rotate a client's secret; the old one works for the grace period (default 24 h)."""
    rot = ClientManager.of(svc).rotate_secret(
        broker, client, grace_ms=None if grace_seconds is None else grace_seconds * 1000
    )
    return {
        "clientId": rot.client_id,
        "clientSecret": rot.client_secret,
        "previousSecretExpireTime": rot.previous_secret_expires,
    }


@operation("brokers.oauth-add-redirect")
def add_redirect(svc: Services, *, broker: int, client: str, uri: str) -> dict[str, Any]:
    """Register a redirect URI of a client (compared by exact match)."""
    return describe(ClientManager.of(svc).add_redirect_uri(broker, client, uri))


@operation("brokers.oauth-remove-redirect")
def remove_redirect(svc: Services, *, broker: int, client: str, uri: str) -> dict[str, Any]:
    """Remove a redirect URI of a client."""
    return describe(ClientManager.of(svc).remove_redirect_uri(broker, client, uri))


@operation("brokers.oauth-set-scopes")
def set_scopes(svc: Services, *, broker: int, client: str, scopes: str) -> dict[str, Any]:
    """Change the scopes a client may ask for, within the broker's approved scopes."""
    return describe(ClientManager.of(svc).set_scopes(broker, client, scopes))


@operation("brokers.oauth-approve-scopes")
def approve_scopes(svc: Services, *, broker: int, scopes: str) -> dict[str, Any]:
    """Set the scopes an OAuth broker's clients may hold (narrows clients beyond them)."""
    b = ClientManager.of(svc).approve_scopes(broker, scopes)
    return {"brokerId": b.id, "oauthScopes": b.oauth_scopes}
