"""Binding a user's API key to one broker (MEXC's "avoids multiple binding").

Rules:

* only the key's owner binds it, to an APPROVED broker, and never to a broker whose main or
  rebate account is the key's own account (no self-rebates);
* a key that can withdraw (``SPOT_WITHDRAW_WRITE``) cannot be bound: a broker trading for a
  user never needs to move the user's money out;
* a key is bound **at most once, ever**: ``key_bindings.api_key`` is UNIQUE, so a second bind
  is refused by the database itself, even under a race, even after an unbind;
* unbinding is explicit (by the owner, or by the broker letting the key go) and recorded
  (``unbound_at``, ``unbound_by``); deleting a key closes its binding (``key_deleted``);
* renewing a key (new expiry or a new secret) keeps the same access key and so the binding;
* listings give key metadata only, never secrets, and a broker sees only its own keys.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from bourse.domain.brokers import (
    BrokerStateError,
    BrokerStatus,
    KeyAlreadyBound,
    KeyNotBound,
    NotKeyOwner,
)
from bourse.domain.errors import InvalidParameter
from bourse.engine.clock import Clock, now_ms
from bourse.services.apikeys import split_csv
from bourse.services.brokers.registry import Broker, Registry
from bourse.store.repositories.brokers import BrokerRepository

#: a signing key's right to change a key (key row, signing key row; raises if it has none)
KeyRule = Callable[[Any | None, Any | None], None]

_CACHE_TTL_S = 2.0
_CACHE_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Binding:
    api_key: str
    account_id: int
    broker_id: int
    bound_at: int
    unbound_at: int | None
    unbound_by: str

    @property
    def active(self) -> bool:
        return self.unbound_at is None


def _binding(row: Any) -> Binding:
    return Binding(
        row.api_key,
        int(row.account_id),
        int(row.broker_id),
        int(row.bound_at),
        None if row.unbound_at is None else int(row.unbound_at),
        row.unbound_by or "",
    )


class Bindings:
    def __init__(self, db: Engine, registry: Registry, *, clock: Clock = now_ms) -> None:
        self.db = db
        self.repo = BrokerRepository(db)
        self.registry = registry
        self.clock = clock
        self._cache: dict[str, tuple[float, int | None]] = {}
        self._lock = threading.Lock()
        #: bumped by every ``_forget``: a lookup keeps what it read only if none happened since
        #: it started, so a lookup racing an unbind cannot put the old binding back
        self._generation = 0
        #: told every key this process bound or unbound (``bus.cache_events``)
        self.on_forget: Callable[[str], None] | None = None

    def _forget(self, api_key: str) -> None:
        self.forget(api_key)
        if self.on_forget is not None:
            self.on_forget(api_key)

    def forget(self, api_key: str) -> None:
        """Drop ``api_key``'s cached binding (another process bound or unbound it)."""
        with self._lock:
            self._generation += 1
            self._cache.pop(api_key, None)

    # --- reading -------------------------------------------------------------------------------
    def get(self, api_key: str) -> Binding | None:
        """The key's binding row (active or closed), if it was ever bound."""
        row = self.repo.binding(api_key)
        return _binding(row) if row is not None else None

    def get_own(self, api_key: str, account_id: int) -> Binding | None:
        """The binding of ``account_id``'s own key (``None`` if never bound); ``NotKeyOwner``
        for a key that does not exist or is another account's, as bind and unbind answer."""
        key = self.repo.key_row(api_key)
        if key is None or int(key.account_id) != account_id:
            raise NotKeyOwner("the API key does not exist or is not yours")
        return self.get(api_key)

    def bound_broker(self, api_key: str) -> int | None:
        """The broker id the key is bound to now (cached briefly: it is on every order; this
        process's binds and unbinds take effect at once)."""
        known, broker = self.cached_bound_broker(api_key)
        if known:
            return broker
        mono = time.monotonic()
        generation = self._generation
        b = self.get(api_key)
        broker = b.broker_id if b is not None and b.active else None
        with self._lock:
            if len(self._cache) > _CACHE_MAX:
                self._cache.clear()
            if generation == self._generation:
                self._cache[api_key] = (mono + _CACHE_TTL_S, broker)
        return broker

    def cached_bound_broker(self, api_key: str) -> tuple[bool, int | None]:
        """``(True, broker id or None)`` from the cache, ``(False, None)`` if only the database
        knows: a lock-free dict read, for the event loop (no worker thread, no SQL)."""
        hit = self._cache.get(api_key)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def list_for_broker(
        self, broker_id: int, include_unbound: bool = False
    ) -> list[dict[str, Any]]:
        """Keys bound to ``broker_id`` with their public metadata (never a secret)."""
        rows = self.repo.bound_keys(broker_id, include_unbound)
        return [
            {
                "apiKey": r.api_key,
                "uid": str(r.account_id),
                "note": r.label or "",
                "permissions": ",".join(split_csv(r.permissions)),
                "ip": ",".join(split_csv(r.ip_whitelist)),
                "symbols": ",".join(split_csv(r.symbols)),
                "expireTime": None if r.expires is None else int(r.expires),
                "revoked": bool(r.revoked),
                "bindTime": int(r.bound_at),
                "unbindTime": None if r.unbound_at is None else int(r.unbound_at),
                "unbindBy": r.unbound_by or "",
            }
            for r in rows
        ]

    # --- writing -------------------------------------------------------------------------------
    def check_bind(self, api_key: str, broker_id: int, account_id: int) -> Broker:
        """The broker ``bind`` would bind ``api_key`` to, after every check it makes that
        needs no write (a confirmation page asks only about a binding that can happen);
        raises what ``bind`` would raise. ``bind`` checks the key again in its transaction."""
        broker = self.registry.get(broker_id)
        if broker.status is not BrokerStatus.APPROVED:
            raise BrokerStateError(f"broker {broker_id} is {broker.status}, not APPROVED")
        if account_id in (broker.account_id, broker.rebate_account_id):
            raise InvalidParameter("a broker cannot earn rebates on its own account's keys")
        _check_key(self.repo.key_row(api_key), account_id)
        prior = self.get(api_key)
        if prior is not None:
            raise _already_bound(prior)
        return broker

    def bind(
        self,
        api_key: str,
        broker_id: int,
        account_id: int,
        *,
        actor: str | None = None,
        rule: KeyRule | None = None,
    ) -> Binding:
        """Bind ``api_key`` (owned by ``account_id``) to ``broker_id``; once per key, ever.

        ``rule(key row, actor row)`` (the signing key ``actor``'s right to bind it,
        ``brokers.keys.binding_rule``) is applied again in the binding's transaction, to the
        rows read there under their locks, and raises to bind nothing."""
        self.check_bind(api_key, broker_id, account_id)  # clean errors before any write
        now = self.clock()
        row = {
            "api_key": api_key,
            "account_id": account_id,
            "broker_id": broker_id,
            "bound_at": now,
            "unbound_at": None,
            "unbound_by": "",
        }

        def check(key: Any | None, actor_row: Any | None) -> None:
            _check_key(key, account_id)  # still ours, checked again in the transaction
            if rule is not None:
                rule(key, actor_row)

        if not self.repo.insert_binding(row, check, actor=actor):
            raise _already_bound(self.get(api_key))
        self._forget(api_key)
        return Binding(api_key, account_id, broker_id, now, None, "")

    def unbind(
        self,
        api_key: str,
        *,
        account_id: int | None = None,
        by: str = "user",
        actor: str | None = None,
        rule: KeyRule | None = None,
    ) -> Binding:
        """Close the key's binding. ``account_id`` limits it to the owner (``by="user"``) or
        to the bound broker's main account (``by="broker"``); ``None`` is an operator action.
        ``rule`` and ``actor``: as ``bind``'s, applied in the transaction that unbinds.
        """
        if account_id is not None and by != "broker":
            # the owner first: another account's key answers as bind does, bound or not
            b = self.get_own(api_key, account_id)
        else:
            b = self.get(api_key)
        if b is None or not b.active:
            raise KeyNotBound("this API key is not bound to a broker")
        if account_id is not None:
            if by == "broker":
                if self.registry.get(b.broker_id).account_id != account_id:
                    raise KeyNotBound("this API key is not bound to your broker")
            elif b.account_id != account_id:
                raise NotKeyOwner("the API key does not exist or is not yours")
        now = self.clock()
        closed = self.repo.close_binding(api_key, now, by[:16], rule, actor=actor)
        self._forget(api_key)
        if not closed:
            raise KeyNotBound("this API key is not bound to a broker")
        return Binding(b.api_key, b.account_id, b.broker_id, b.bound_at, now, by[:16])

    def on_key_deleted(self, api_key: str) -> None:
        """Close the binding of a deleted key, if it had one (call after ``delete_key``)."""
        with contextlib.suppress(KeyNotBound):
            self.unbind(api_key, by="key_deleted")


def _already_bound(prior: Binding | None) -> KeyAlreadyBound:
    return KeyAlreadyBound(
        "this API key was bound before; a key can be bound only once"
        if prior is not None and not prior.active
        else "this API key is already bound to a broker"
    )


def _check_key(key: Any | None, account_id: int) -> None:
    """The key exists, is not revoked, is ``account_id``'s and cannot withdraw."""
    if key is None or bool(key.revoked) or int(key.account_id) != account_id:
        raise NotKeyOwner("the API key does not exist or is not yours")
    if "SPOT_WITHDRAW_WRITE" in split_csv(key.permissions):
        raise InvalidParameter("a key with withdraw permission cannot be bound")
