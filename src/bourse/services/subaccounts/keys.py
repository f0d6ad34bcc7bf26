"""A sub-account's API keys, made by its master: the user-key rules of ``ApiKeys``
(permission names, 90-day expiry without IPs, 30 keys per account) plus MEXC's sub-account
limits (4 IPs per broker sub-account key), and never more permissions than the creator has."""

from __future__ import annotations

from typing import Any

from bourse.domain.errors import DomainError, InvalidParameter
from bourse.engine.clock import Clock, now_ms
from bourse.services.apikeys import NO_IP_TTL_MS, ApiKeys, ip_whitelist_of, normalize_permission
from bourse.services.brokers.bindings import Bindings
from bourse.services.subaccounts.directory import SubAccountDirectory
from bourse.services.subaccounts.errors import (
    KeyAccessKeyEmpty,
    KeyLimitReached,
    KeyNoteEmpty,
    KeyNotFound,
    KeyPermissionEmpty,
    KeyPermissionNotHeld,
    KeyPermissionUnknown,
)
from bourse.services.subaccounts.rules import SubAccount, Tenant


class SubAccountKeys:
    def __init__(
        self,
        directory: SubAccountDirectory,
        apikeys: ApiKeys,
        bindings: Bindings,
        *,
        clock: Clock = now_ms,
    ) -> None:
        self.directory = directory
        self.apikeys = apikeys
        self.bindings = bindings
        self.clock = clock

    def create(
        self,
        tenant: Tenant,
        name: str,
        permissions: str | None,
        ip: str | None,
        note: str | None,
        *,
        creator_permissions: frozenset[str] | None = None,
        ttl_ms: int | None = None,
    ) -> dict[str, Any]:
        """A key for the sub-account; returns its public fields plus ``secretKey`` (once)."""
        sub = self.directory.get(tenant, name)
        note = (note or "").strip()
        if not note:
            raise KeyNoteEmpty()
        names = [x.strip() for x in (permissions or "").split(",") if x.strip()]
        if not names:
            raise KeyPermissionEmpty()
        perms: list[str] = []
        for n in names:
            try:
                perms.append(normalize_permission(n))
            except DomainError:
                raise KeyPermissionUnknown(f"permission {n[:40]!r} does not exist") from None
        perms = sorted(set(perms))
        if creator_permissions is not None and not set(perms) <= set(creator_permissions):
            raise KeyPermissionNotHeld()
        ips = ip_whitelist_of((ip or "").split(","), limit=tenant.max_key_ips)
        now = self.clock()
        expires = None if ips else now + (ttl_ms or NO_IP_TTL_MS)
        try:
            key, secret = self.apikeys.create_key(
                sub.account_id,
                perms,
                label=note,
                ip_whitelist=ips,
                expires=expires,
                now_ms=now,
            )
        except InvalidParameter as exc:
            if "API keys per account" in exc.message:
                raise KeyLimitReached(exc.message) from None
            raise
        return {
            "subAccount": sub.name,
            "note": note,
            "permissions": ",".join(perms),
            "ip": ",".join(ips),
            "apiKey": key,
            "secretKey": secret,
            "createTime": now,
            "expireTime": expires,
        }

    def list(self, tenant: Tenant, name: str) -> tuple[SubAccount, list[dict[str, Any]]]:
        sub = self.directory.get(tenant, name)
        return sub, self.apikeys.list_keys(sub.account_id)

    def delete(self, tenant: Tenant, name: str, api_key: str | None) -> SubAccount:
        """Revoke one of the sub-account's keys and close its broker binding, if any."""
        sub = self.directory.get(tenant, name)
        if not (api_key or "").strip():
            raise KeyAccessKeyEmpty()
        assert api_key is not None
        if not self.apikeys.delete_key(api_key.strip(), sub.account_id):
            raise KeyNotFound()
        self.bindings.on_key_deleted(api_key.strip())
        return sub
