"""Idempotency: a retried command with the same client id returns the first result.

Every command a client may retry carries a client id (``newClientOrderId``, ``clientTranId``,
``withdrawOrderId``, a deposit's tx reference, a rebate settlement key). The engine keeps, per
(scope, account, client id), a fingerprint of the parameters and the id of the first result:
the same id with the same parameters returns that result and changes nothing; with other
parameters it is refused with ``IdempotencyConflict``. Keys are committed with the batch that
used them, so a retry after a restart is recognised too.
"""

from __future__ import annotations

import hashlib

from bourse.domain.errors import IdempotencyConflict
from bourse.engine.changes import BatchChanges, IdempotencyRecord
from bourse.engine.clock import Clock

#: (scope, account, client id) -> (fingerprint, result id)
Keys = dict[tuple[str, int, str], tuple[str, int]]

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

    def __init__(self, keys: Keys, clock: Clock) -> None:
        self.keys = keys
        self.clock = clock

    def prior(self, scope: str, account: int, client_id: str, fp: str) -> int | None:
        """The stored result id for a retried client id, or None if it is new (or empty)."""
        if not client_id:
            return None
        hit = self.keys.get((scope, account, client_id))
        if hit is None:
            return None
        if hit[0] != fp:
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
        """Record the first result of a client id, and queue the key for the batch's commit."""
        if not client_id:
            return
        self.keys[(scope, account, client_id)] = (fp, result_id)
        pending.idempotency.append(
            IdempotencyRecord(scope, account, client_id, fp, result_id, self.clock())
        )
