"""API key management: renewal (MEXC advertises "API Key renewal"; it has no public API), and
what a key may do to the account's other keys through ``/api/v3/user/apiKey``.

Renewing keeps the access key, so a key bound to a broker stays bound. It can:

* extend the expiry: a key without an IP whitelist gets at most ``NO_IP_TTL_MS`` (90 days,
  MEXC's rule) from now; a whitelisted key may be renewed to never expire;
* rotate the secret: a new secret is returned once; the old one stops working at once.

The owner (web console, operator CLI: ``actor=None``) renews any key of theirs. A key signing
the request (``actor``) is held to ``bourse.domain.keyscope``: it creates, renews, rotates,
deletes, binds and unbinds only keys no wider than itself (permissions, pairs, IPs; a bound key
only keys of its broker), renews only keys that expire no later than itself, and a renewal it
signs ends by its own expiry. The API never lets a key renew itself, so a stolen no-IP key
cannot keep itself alive, nor can two keys keep each other alive: the latest expiry among the
account's keys never moves by API, only the owner extends it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bourse.domain.brokers import KeyOutOfScope, NotKeyOwner
from bourse.domain.errors import InvalidParameter
from bourse.domain.keyscope import (
    KeyScope,
    cap,
    check_creates,
    check_manages,
    check_renews,
    expires_by,
)
from bourse.services.apikeys import NO_IP_TTL_MS, ApiKeys, split_csv

_UNSET = object()
_NO_IP_DAYS = NO_IP_TTL_MS // 86_400_000


@dataclass(frozen=True, slots=True)
class Renewal:
    api_key: str
    expires: int | None
    secret: str | None  # the new secret when rotated (shown once), else None


@dataclass(frozen=True, slots=True)
class NewKeyLimits:
    """The whitelists and expiry of a key that another key creates (``new_key_limits``)."""

    ips: tuple[str, ...]
    symbols: tuple[str, ...]
    expires: int | None


def _scope(row: Any, *, acting: bool = False) -> KeyScope:
    """The scope of a row read by ``ApiKeyRepository.change`` (or ``get_bound``). Its broker:
    for a key acted on, the one it is bound to now; for the acting key, the one it was ever
    bound to (unbinding does not take the secret back from the broker, so a key once given to
    a broker acts for that broker for good)."""
    bound = row.broker_id is not None and (acting or row.unbound_at is None)
    return KeyScope(
        frozenset(split_csv(row.permissions)),
        split_csv(row.ip_whitelist),
        split_csv(row.symbols),
        None if row.expires is None else int(row.expires),
        int(row.broker_id) if bound else None,
    )


def _own(row: Any | None, account_id: int) -> Any:
    if row is None or bool(row.revoked) or int(row.account_id) != account_id:
        raise NotKeyOwner("the API key does not exist or is not yours")
    return row


def _actor(row: Any | None, account_id: int, now_ms: int) -> KeyScope:
    """The signing key's scope, read again where the change is decided."""
    if row is None or bool(row.revoked) or int(row.account_id) != account_id:
        raise KeyOutOfScope("the signing key is no longer a key of this account")
    scope = _scope(row, acting=True)
    if scope.expires is not None and scope.expires <= now_ms:
        raise KeyOutOfScope("the signing key has expired")
    return scope


def new_key_limits(
    keys: ApiKeys,
    actor: str,
    account_id: int,
    permissions: Sequence[str],
    ips: Sequence[str],
    symbols: Sequence[str],
    now_ms: int,
    *,
    expires: int | None | object = _UNSET,
) -> NewKeyLimits:
    """The IP whitelist, pairs and expiry of the key ``actor`` (a key of ``account_id``)
    creates, for its own account or a sub-account's: those asked for, else the actor's own;
    the expiry asked for, else MEXC's default (90 days without IPs, never with) ended by the
    actor's own expiry. Raises ``KeyOutOfScope`` for a key wider than the actor,
    ``InvalidParameter`` for an expiry in the past or too far for a key without IPs."""
    a = _actor(keys.repository.get_bound(actor), account_id, now_ms)
    new_ips = tuple(ips) or a.ips
    new_symbols = tuple(symbols) or a.symbols
    if expires is _UNSET:
        exp = cap(None if new_ips else now_ms + NO_IP_TTL_MS, a.expires)
    else:
        exp = expires  # type: ignore[assignment]
        if exp is not None and exp <= now_ms:
            raise InvalidParameter("expireTime must be in the future")
        if not new_ips and (exp is None or exp > now_ms + NO_IP_TTL_MS):
            raise InvalidParameter(f"a key without IPs expires within {_NO_IP_DAYS} days")
    check_creates(a, KeyScope(frozenset(permissions), new_ips, new_symbols, exp))
    return NewKeyLimits(new_ips, new_symbols, exp)


def renew_key(
    keys: ApiKeys,
    api_key: str,
    account_id: int,
    now_ms: int,
    *,
    expires: int | None | object = _UNSET,
    rotate_secret: bool = False,
    actor: str | None = None,
) -> Renewal:
    """Renew ``api_key`` of ``account_id``; see the module docstring for the rules.

    ``expires`` left out: ``now + NO_IP_TTL_MS`` for a key without IPs, never for one with
    IPs, and with an ``actor`` (the signing key, never ``api_key`` itself) no later than the
    actor's own expiry; asked for beyond it, ``KeyOutOfScope``.
    """
    if actor == api_key:
        raise KeyOutOfScope("a key cannot renew itself")
    new_exp: int | None = None
    secret = None

    def decide(row: Any | None, actor_row: Any | None) -> dict[str, Any]:
        nonlocal new_exp, secret
        row = _own(row, account_id)
        a = _actor(actor_row, account_id, now_ms) if actor is not None else None
        if a is not None:
            check_renews(a, _scope(row))
        has_ip = bool(split_csv(row.ip_whitelist))
        limit = None if has_ip else now_ms + NO_IP_TTL_MS
        if expires is _UNSET:
            new_exp = limit if a is None else cap(limit, a.expires)
        else:
            new_exp = expires  # type: ignore[assignment]
            if new_exp is not None and new_exp <= now_ms:
                raise InvalidParameter("expireTime must be in the future")
            if limit is not None and (new_exp is None or new_exp > limit):
                raise InvalidParameter(
                    f"a key without an IP whitelist can be renewed for at most {_NO_IP_DAYS} days"
                )
            if a is not None and not expires_by(new_exp, a.expires):
                raise KeyOutOfScope("a key cannot renew another beyond its own expiry")
        values: dict[str, Any] = {"expires": new_exp}
        if rotate_secret:
            secret = secrets.token_hex(16)
            values["secret_enc"] = keys.encrypt(secret)
        return values

    keys.repository.change(api_key, account_id, decide, actor=actor)
    keys.forget(api_key)
    return Renewal(api_key, new_exp, secret)


def delete_key(
    keys: ApiKeys,
    api_key: str,
    account_id: int,
    now_ms: int,
    *,
    actor: str,
    actor_account: int | None = None,
) -> None:
    """Revoke ``api_key`` of ``account_id`` for the signing key ``actor``, a key of
    ``actor_account`` (left out: ``account_id``; a master's key deleting a sub-account's key:
    the master). The rule of ``domain.keyscope``; a key may always delete itself. Close its
    binding after this."""
    signer_account = account_id if actor_account is None else actor_account

    def decide(row: Any | None, actor_row: Any | None) -> dict[str, Any]:
        target = _scope(_own(row, account_id))
        if actor != api_key:
            check_manages(_actor(actor_row, signer_account, now_ms), target)
        return {"revoked": True}

    keys.repository.change(api_key, account_id, decide, actor=actor)
    keys.forget(api_key)


def check_binding_change(
    keys: ApiKeys, api_key: str, account_id: int, now_ms: int, *, actor: str
) -> None:
    """Raise unless the signing key ``actor`` may bind or unbind ``api_key``: ``NotKeyOwner``
    for a key that is not the account's, ``KeyOutOfScope`` for one wider than the actor or
    (for a bound actor) not bound to the actor's broker; a key may always bind itself."""
    target = _scope(_own(keys.repository.get_bound(api_key), account_id))
    if actor != api_key:
        check_manages(_actor(keys.repository.get_bound(actor), account_id, now_ms), target)
