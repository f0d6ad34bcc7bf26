"""``keys.*``: create, list and revoke users' API keys (secrets shown once, at creation)."""

from __future__ import annotations

from typing import Any

from bourse.operations.accounts import require_account
from bourse.operations.registry import OperationError, operation
from bourse.services.bundle import Services


@operation("keys.create")
def create(
    svc: Services,
    *,
    account: int,
    permissions: list[str] | None = None,
    symbols: list[str] | None = None,
    ip: list[str] | None = None,
    label: str = "",
) -> dict[str, Any]:
    """Create an API key; the secret is in this answer and nowhere else, ever."""
    require_account(svc, account)
    api_key, secret = svc.apikeys.create_key(
        account, permissions or None, label=label, ip_whitelist=ip or [], symbols=symbols or []
    )
    info = svc.apikeys.lookup(api_key)
    return {
        "api_key": api_key,
        "secret": secret,
        "account": account,
        "permissions": sorted(info.permissions) if info else [],
    }


@operation("keys.list", mutates=False)
def list_keys(svc: Services, *, account: int) -> list[dict[str, Any]]:
    """An account's API keys (never their secrets)."""
    require_account(svc, account)
    return svc.apikeys.list_keys(account)


@operation("keys.delete")
def delete(svc: Services, *, api_key: str) -> dict[str, Any]:
    """Revoke an API key; it stops working at once (and leaves its broker binding)."""
    if not svc.apikeys.delete_key(api_key):
        raise OperationError(f"no active API key {api_key}", 404)
    svc.brokers.bindings.on_key_deleted(api_key)
    return {"api_key": api_key, "revoked": True}
