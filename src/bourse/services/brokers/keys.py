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
from bourse.domain.errors import InvalidParameter, KeyTooManyIps
from bourse.domain.keyscope import (
    KeyScope,
    cap,
    check_creates,
    check_manages,
    check_renews,
    expires_by,
)
from bourse.engine.clock import now_ms as wall_ms
from bourse.services.apikeys import NO_IP_TTL_MS, ApiKeys, split_csv
from bourse.services.brokers.bindings import KeyRule

_UNSET = object()
_NO_IP_DAYS = NO_IP_TTL_MS // 86_400_000


@dataclass(frozen=True, slots=True)
class Renewal:
    api_key: str
    expires: int | None
    secret: str | None  # the new secret when rotated (shown once), else None


@dataclass(frozen=True, slots=True)
class NewKeyLimits:
    """The whitelists and expiry of a key that another key creates (``create_key``)."""

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
    """The signing key's scope, read again where the change is decided (under its row lock:
    ``ApiKeyRepository.locked_rows``), and judged then: a key that expired while its request
    waited acts no more."""
    if row is None or bool(row.revoked) or int(row.account_id) != account_id:
        raise KeyOutOfScope("the signing key is no longer a key of this account")
    scope = _scope(row, acting=True)
    if scope.expires is not None and scope.expires <= max(now_ms, wall_ms()):
        raise KeyOutOfScope("the signing key has expired")
    return scope


def _new_key_limits(
    a: KeyScope,
    permissions: Sequence[str],
    ips: Sequence[str] | None,
    symbols: Sequence[str],
    now_ms: int,
    expires: int | None | object,
) -> NewKeyLimits:
    """The IP whitelist, pairs and expiry of a key the key of scope ``a`` creates: those asked
    for, else (``ips`` None, ``symbols`` empty) ``a``'s own; the expiry asked for, else MEXC's
    default (90 days without IPs, never with) ended by ``a``'s. Raises ``KeyOutOfScope`` for a key wider than ``a``,
    ``InvalidParameter`` for an expiry in the past or too far for a key without IPs."""
    new_ips = a.ips if ips is None else tuple(ips)
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


def create_key(
    keys: ApiKeys,
    actor: str,
    account_id: int,
    permissions: Sequence[str],
    ips: Sequence[str] | None,
    symbols: Sequence[str],
    now_ms: int,
    *,
    label: str = "",
    expires: int | None | object = _UNSET,
    actor_account: int | None = None,
    max_ips: int | None = None,
) -> tuple[str, str, NewKeyLimits]:
    """Create a key of ``account_id`` signed by ``actor``, a key of ``actor_account`` (left
    out: ``account_id``; a master's key creating a sub-account's key: the master); returns
    ``(api_key, secret, limits)``. Its IPs, pairs and expiry are ``_new_key_limits``'s
    (``ips`` None: the actor's; empty: none); with ``max_ips``, the actor's IPs taken for
    ``ips`` left out must be no more than that (``KeyTooManyIps``).

    The actor is read and judged in the transaction that inserts the key, under its row lock
    (``ApiKeyRepository.insert_within_limit``): a revoke, renewal or binding of the actor
    either commits first and the creation is refused, or waits until the key is stored. No
    key is ever stored after its signer lost the right to create it."""
    signer_account = account_id if actor_account is None else actor_account
    decided: list[NewKeyLimits] = []

    def decide(row: Any | None) -> tuple[tuple[str, ...], tuple[str, ...], int | None]:
        limits = _new_key_limits(
            _actor(row, signer_account, now_ms), permissions, ips, symbols, now_ms, expires
        )
        if max_ips is not None and len(limits.ips) > max_ips:  # the actor's, for ips left out
            raise KeyTooManyIps(
                f"the signing key has {len(limits.ips)} IPs and this key may take at most "
                f"{max_ips}: name some of them in ip"
            )
        decided.append(limits)
        return limits.ips, limits.symbols, limits.expires

    api_key, secret = keys.create_key(
        account_id, list(permissions), label=label, now_ms=now_ms, actor=actor, decide=decide
    )
    return api_key, secret, decided[-1]


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

    # a frozen account's key lives no longer and gets no new secret (AccountFrozen)
    keys.repository.change(api_key, account_id, decide, actor=actor, refuse_if_frozen=True)
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
    rule = binding_rule(api_key, account_id, now_ms, actor=actor, actor_account=actor_account)

    def decide(row: Any | None, actor_row: Any | None) -> dict[str, Any]:
        rule(row, actor_row)
        return {"revoked": True}

    keys.repository.change(api_key, account_id, decide, actor=actor)
    keys.forget(api_key)


def binding_rule(
    api_key: str, account_id: int, now_ms: int, *, actor: str, actor_account: int | None = None
) -> KeyRule:
    """The rule of the signing key ``actor`` (a key of ``actor_account``, left out:
    ``account_id``) binding, unbinding or deleting ``api_key``, as a check of the two keys'
    rows (``Bindings.bind``/``unbind`` and ``delete_key`` apply it in their transaction):
    raises ``NotKeyOwner`` for a key that is not the account's, ``KeyOutOfScope`` for one wider
    than the actor or (for a bound actor) not bound to the actor's broker; a key may always
    bind or delete itself."""
    signer_account = account_id if actor_account is None else actor_account

    def rule(row: Any | None, actor_row: Any | None) -> None:
        target = _scope(_own(row, account_id))
        if actor != api_key:
            check_manages(_actor(actor_row, signer_account, now_ms), target)

    return rule


def check_binding_change(
    keys: ApiKeys, api_key: str, account_id: int, now_ms: int, *, actor: str
) -> None:
    """Raise unless the signing key ``actor`` may bind or unbind ``api_key`` now
    (``binding_rule``): the early check, before the binding's transaction checks again."""
    rule = binding_rule(api_key, account_id, now_ms, actor=actor)
    rule(keys.repository.get_bound(api_key), keys.repository.get_bound(actor))
