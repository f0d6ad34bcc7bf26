"""Idempotency: a retried command with the same client id returns the first result.

Every command a client may retry carries a client id (``newClientOrderId``, ``clientTranId``,
``withdrawOrderId``, a deposit's tx reference, a rebate settlement key). The engine keeps, per
(scope, account, client id), a fingerprint of the parameters and the id of the first result:
the same id with the same parameters returns that result and changes nothing; with other
parameters it is refused with ``IdempotencyConflict``. Keys are committed with the batch that
used them, so a retry after a restart is recognised too.

Retention. Only an order's client id (scope ``"order"``) is ever forgotten: it stays reserved
while its order is open, however long, and for ``retention_ms`` (an operator setting, default
24 hours, at least the replay window) after the order closed; then a retry is a new order.
Every other scope keeps its keys for ever: a transfer, a withdrawal, a deposit credit or a
rebate settlement repeated after any time must not move money twice. The engine tells the keys
which orders closed at the end of each batch (``collect``), from the batch's changed orders,
which carry their close time (``Order.updated``); a queue in close order then expires a few
keys per batch (never a scan), dropping each from memory and, in the same batch's commit, from
the store. A lookup checks the close time itself, so a retry after the window is a new order
even before the queue reaches its key. On start only the keys of open orders and of orders
closed within the window are kept (``Idempotency.loaded``); the older ones left in the store
are deleted by the same queue.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping

from bourse.domain.errors import IdempotencyConflict
from bourse.domain.orders import OPEN_STATUSES
from bourse.engine.changes import BatchChanges, ForgottenKey, IdempotencyRecord
from bourse.engine.clock import Clock
from bourse.engine.replays import WINDOW_MS

Key = tuple[str, int, str]
#: (scope, account, client id) -> (fingerprint, result id)
Keys = dict[Key, tuple[str, int]]

#: the one scope whose keys expire: an order's ``newClientOrderId``
ORDER = "order"
#: how long an order's client id stays reserved after the order closed, unless configured (ms)
DEFAULT_RETENTION_MS = 86_400_000
#: the shortest retention allowed (ms): an order with a client id carries no replay key
#: (``engine.replays``), so its id must outlive any replay of its signed request
MIN_RETENTION_MS = WINDOW_MS
#: keys expired per batch beyond the ones the batch closed: the queue drains at least as fast
#: as it fills, at a bounded cost per batch
EXPIRE_PER_BATCH = 64

#: the refusal of a client id reused with other parameters, by scope, in the words of what the
#: client sent (the MEXC parameter, a deposit's transaction reference); ``{id}`` is the id
CONFLICT = {
    "order": "newClientOrderId {id} was already used with different parameters",
    "transfer": "clientTranId {id} was already used with different parameters",
    "withdraw": "withdrawOrderId {id} was already used with different parameters",
    "deposit": "transaction reference {id} was already credited with another account, asset "
    "or amount",
    "rebate": "rebate settlement {id} was already paid with other payouts",
}


def fingerprint(*parts: object) -> str:
    """A short, stable digest of a command's parameters."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


class Idempotency:
    """The client ids already used, and the rule for a retry."""

    def __init__(self, keys: Keys, clock: Clock, retention_ms: int = DEFAULT_RETENTION_MS) -> None:
        if retention_ms < MIN_RETENTION_MS:
            raise ValueError(
                f"an order's client id must be kept at least {MIN_RETENTION_MS // 1000} s after "
                f"its order closed (longer than a signed request can be replayed), not "
                f"{retention_ms / 1000:g} s"
            )
        self.keys = keys
        self.clock = clock
        self.retention_ms = retention_ms
        #: order id -> when it closed (ms), for the order keys not yet expired
        self.closed: dict[int, int] = {}
        #: (closed at, key, order id) in close order: the keys ``collect`` expires
        self.due: deque[tuple[int, Key, int]] = deque()
        #: keys already expired when loaded, still in the store: deleted by ``collect``
        self.stale: list[ForgottenKey] = []

    @classmethod
    def loaded(
        cls,
        keys: Keys,
        closed: Mapping[Key, int],
        clock: Clock,
        retention_ms: int = DEFAULT_RETENTION_MS,
    ) -> Idempotency:
        """The keys as the store holds them, ``closed`` the close time of each order key whose
        order closed: the ones closed ``retention_ms`` ago or more are left out (and queued
        for deletion from the store), the others queued to expire in close order."""
        self = cls(keys, clock, retention_ms)
        cutoff = clock() - retention_ms
        for at, key in sorted((at, key) for key, at in closed.items()):
            hit = keys.get(key)
            if hit is None:
                continue
            if at <= cutoff:
                del keys[key]
                self.stale.append(ForgottenKey(*key, hit[1]))
            else:
                self.closed[hit[1]] = at
                self.due.append((at, key, hit[1]))
        return self

    def prior(
        self,
        scope: str,
        account: int,
        client_id: str,
        fp: str,
        now: int | None = None,
        *,
        legacy: str | None = None,
    ) -> int | None:
        """The stored result id for a retried client id, or None if it is new (or empty, or
        an order's whose retention ran out by ``now``). ``legacy``: the fingerprint an older
        version of the scope's digest gives the same parameters; a key stored before the
        digest changed holds it, and matches it."""
        if not client_id:
            return None
        hit = self.keys.get((scope, account, client_id))
        if hit is None:
            return None
        if now is not None and scope == ORDER and self.closed:
            at = self.closed.get(hit[1])
            if at is not None and at + self.retention_ms <= now:
                return None  # expired: the id may name a new order
        if hit[0] != fp and (legacy is None or hit[0] != legacy):
            words = CONFLICT.get(scope, "client id {id} was already used with different parameters")
            raise IdempotencyConflict(words.format(id=repr(client_id)))
        return hit[1]

    def remember(
        self,
        pending: BatchChanges,
        scope: str,
        account: int,
        client_id: str,
        fp: str,
        result_id: int,
    ) -> None:
        """Record the first result of a client id, and queue the key for the batch's commit
        (an upsert: it replaces an expired key's row)."""
        if not client_id:
            return
        self.keys[(scope, account, client_id)] = (fp, result_id)
        pending.idempotency.append(  # the NamedTuple without its Python ``__new__``
            tuple.__new__(
                IdempotencyRecord, (scope, account, client_id, fp, result_id, self.clock())
            )
        )

    def collect(self, changes: BatchChanges, now: int) -> None:
        """At the end of a batch: note the orders with a client id it closed, and expire
        the order keys whose retention ran out (at most as many as it closed, plus
        ``EXPIRE_PER_BATCH``), adding their deletion to ``changes``."""
        keys, closed, due = self.keys, self.closed, self.due
        budget = EXPIRE_PER_BATCH
        for o in changes.orders:  # each field read once (a compiled order's: a descriptor)
            client_id = o.client_id
            if client_id and o.status not in OPEN_STATUSES:
                key = (ORDER, o.account, client_id)
                hit = keys.get(key)
                order_id = o.id
                if hit is not None and hit[1] == order_id:
                    at = closed[order_id] = o.updated
                    due.append((at, key, order_id))
                    budget += 1
        if not (due or self.stale):
            return
        cutoff = now - self.retention_ms
        forgotten = changes.idempotency_forgotten
        while due and budget and due[0][0] <= cutoff:
            _, key, order_id = due.popleft()
            budget -= 1
            closed.pop(order_id, None)
            hit = keys.get(key)
            if hit is not None and hit[1] == order_id:  # else the id names a newer order
                del keys[key]
                forgotten.append(ForgottenKey(*key, order_id))
        stale = self.stale
        while stale and budget:
            forgotten.append(stale.pop())
            budget -= 1
