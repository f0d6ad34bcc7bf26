"""The store as handlers read it while the previous batch is still committing.

With the pipelined commit (``engine.pipeline``) the engine applies batch N+1 while batch N's
transaction runs, so N's orders, withdrawals and dust conversions are in memory but not yet in
the database. The few handlers that read the store (an idempotent retry's earlier order or
withdrawal, the daily count of dust conversions) read it through ``InFlightReads``, which looks
at the committing batch first: they see what the in-memory state already implies, exactly as
if N had committed. Everything else goes straight to the store.
"""

from __future__ import annotations

import copy

from bourse.domain.orders import Order
from bourse.domain.wallet import Withdrawal
from bourse.engine.changes import BatchChanges, EngineStore, Snapshot


class InFlightReads:
    """``EngineStore`` reads with the committing batch (``inflight``) laid over the store."""

    def __init__(self, store: EngineStore) -> None:
        self.store = store
        #: the batch whose commit is running, if any (set and cleared by the engine thread)
        self.inflight: BatchChanges | None = None

    def load(self) -> Snapshot:
        return self.store.load()

    def commit(self, changes: BatchChanges) -> None:
        self.store.commit(changes)

    def get_order(self, order_id: int) -> Order | None:
        if self.inflight is not None:
            for order in reversed(self.inflight.orders):  # the batch's last copy is its latest
                if order.id == order_id:
                    return copy.copy(order)
        return self.store.get_order(order_id)

    def get_withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        if self.inflight is not None:
            for w in reversed(self.inflight.withdrawals):
                if w.id == withdrawal_id:
                    return copy.copy(w)
        return self.store.get_withdrawal(withdrawal_id)

    def dust_conversions_since(self, account: int, since: int) -> int:
        done = self.store.dust_conversions_since(account, since)
        if self.inflight is not None:
            done += len(
                {d.id for d in self.inflight.dust if d.account == account and d.time >= since}
            )
        return done
