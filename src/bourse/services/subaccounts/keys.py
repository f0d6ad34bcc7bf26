"""A sub-account's API keys, made by its master: the user-key rules of ``ApiKeys``
(permission names, 90-day expiry without IPs, 30 keys per account) plus MEXC's sub-account
limits (4 IPs per broker sub-account key).

A master's key signing the request (``actor``) creates and deletes only sub-account keys no
wider than itself (``bourse.domain.keyscope``, through ``bourse.services.brokers.keys``, the
rule of a user's own keys): permissions, pairs, IPs, lifetime; a key ever bound to a broker
creates none and deletes only keys bound to that broker. A key it creates takes the actor's
IPs when ``ip`` is left out (sent empty it asks for no whitelist, MEXC's meaning: refused from
an actor that has one, never given the actor's), and its pairs (MEXC's sub-account API has no
pairs parameter), and ends by the actor's expiry. The web console acts as the owner (``actor=None``) and is not held
to it.
"""

from __future__ import annotations

from typing import Any

from bourse.domain.brokers import NotKeyOwner
from bourse.domain.errors import AccountFrozen, DomainError, InvalidParameter
from bourse.engine.clock import Clock, now_ms
from bourse.services.apikeys import NO_IP_TTL_MS, ApiKeys, ip_whitelist_of, normalize_permission
from bourse.services.brokers.bindings import Bindings
from bourse.services.brokers.keys import create_key as create_key_as
from bourse.services.brokers.keys import delete_key as delete_key_as
from bourse.services.subaccounts.directory import SubAccountDirectory
from bourse.services.subaccounts.errors import (
    KeyAccessKeyEmpty,
    KeyLimitReached,
    KeyNoteEmpty,
    KeyNotFound,
    KeyPermissionEmpty,
    KeyPermissionUnknown,
    SubAccountFrozen,
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
        actor: str | None = None,
    ) -> dict[str, Any]:
        """A key for the sub-account; returns its public fields plus ``secretKey`` (once).

        ``actor`` is the master's key signing the request (None: the owner); the new key is
        no wider than it (``KeyOutOfScope`` otherwise), see the module docstring. ``ip`` None
        (left out) takes the actor's whitelist; sent naming no address (``""``, ``","``) it
        asks for none, as on MEXC, which only an actor without a whitelist may give.

        A frozen sub-account gets no key (``SubAccountFrozen``, 140002), nor does a frozen
        master make one (``AccountFrozen``), decided in the key's insert transaction."""
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
        ips = ip_whitelist_of((ip or "").split(","), limit=tenant.max_key_ips)
        now = self.clock()
        try:
            if actor is None:
                symbols: tuple[str, ...] = ()
                expires = None if ips else now + NO_IP_TTL_MS
                key, secret = self.apikeys.create_key(
                    sub.account_id,
                    perms,
                    label=note,
                    ip_whitelist=ips,
                    expires=expires,
                    now_ms=now,
                    acting_account=tenant.master,
                )
            else:
                key, secret, limits = create_key_as(
                    self.apikeys,
                    actor,
                    sub.account_id,
                    perms,
                    None if ip is None else ips,
                    (),
                    now,
                    label=note,
                    actor_account=tenant.master,
                    max_ips=tenant.max_key_ips,
                )
                ips, symbols, expires = limits.ips, limits.symbols, limits.expires
        except AccountFrozen as exc:
            if exc.account == sub.account_id:
                raise SubAccountFrozen(f"sub account {sub.name!r} is frozen") from None
            raise  # the master: 30018, as for its own requests
        except InvalidParameter as exc:
            if "API keys per account" in exc.message:
                raise KeyLimitReached(exc.message) from None
            raise
        return {
            "subAccount": sub.name,
            "note": note,
            "permissions": ",".join(perms),
            "ip": ",".join(ips),
            "symbols": ",".join(symbols),
            "apiKey": key,
            "secretKey": secret,
            "createTime": now,
            "expireTime": expires,
        }

    def list(self, tenant: Tenant, name: str) -> tuple[SubAccount, list[dict[str, Any]]]:
        sub = self.directory.get(tenant, name)
        return sub, self.apikeys.list_keys(sub.account_id)

    def delete(
        self, tenant: Tenant, name: str, api_key: str | None, *, actor: str | None = None
    ) -> SubAccount:
        """Revoke one of the sub-account's keys and close its broker binding, if any.

        ``actor`` is the master's key signing the request (None: the owner); it deletes only a
        key no wider than itself (``KeyOutOfScope`` otherwise)."""
        sub = self.directory.get(tenant, name)
        key = (api_key or "").strip()
        if not key:
            raise KeyAccessKeyEmpty()
        if actor is None:
            if not self.apikeys.delete_key(key, sub.account_id):
                raise KeyNotFound()
        else:
            try:
                delete_key_as(
                    self.apikeys,
                    key,
                    sub.account_id,
                    self.clock(),
                    actor=actor,
                    actor_account=tenant.master,
                )
            except NotKeyOwner:
                raise KeyNotFound() from None
        self.bindings.on_key_deleted(key)
        return sub
