"""A read-only copy of another engine's state, kept in step with the batches it commits.

A follower process (``bourse serve --bus nats://...`` on a database another process writes)
loads the engine state from the store like any engine, then ``apply_committed`` folds in each
batch the writer committed since, as it arrives on the bus: listings, accounts, balances (the
batch carries their new absolute values), MX fee settings, STP groups, last prices, reference
prices (the batch carries those its trades moved), withdrawals, and orders (each changed order
as it was after the batch: an open order replaces its old copy on the book, a finished one
leaves it). The books it keeps give the same levels as the writer's; time priority inside a
level is not kept, since a follower never matches.
"""

from __future__ import annotations

from bourse.domain.wallet import FINAL_WITHDRAWAL
from bourse.engine.changes import BatchChanges
from bourse.engine.state import EngineState


def apply_committed(state: EngineState, changes: BatchChanges) -> None:
    """Fold a batch another engine committed into ``state``."""
    ex, wallet = state.exchange, state.wallet
    for asset in changes.assets:
        wallet.assets[asset.code] = asset
    for sym in changes.symbols:
        ex.add_symbol(sym)
    for acc in changes.accounts:
        wallet.accounts[acc.id] = acc
        if acc.mx_deduct:
            ex.mx_deduct.add(acc.id)
        else:
            ex.mx_deduct.discard(acc.id)
    for group in changes.stp_groups:
        before = state.stp_groups.groups.pop(group.id, None)
        for member in before.members if before is not None else ():
            ex.stp_peers.pop(member, None)
        state.stp_groups.restore(group)
    balances = ex.ledger.balances
    ex.ledger.pairs.clear()  # it caches bucket lists, which the loop below replaces
    for key, (available, locked) in changes.balances.items():
        balances[key] = [available, locked]
    for w in changes.withdrawals:
        if w.status in FINAL_WITHDRAWAL:
            wallet.withdrawals.pop(w.id, None)
        else:
            wallet.withdrawals[w.id] = w
    for order in changes.orders:
        old = ex.open_orders.pop(order.id, None)
        book = ex.books.get(order.symbol)
        if old is not None:
            ex.open_count[old.account] -= 1
            if book is not None and old.id in book.orders:
                book.remove(old)
        if order.is_open and order.price and book is not None:
            ex.restore_order(order)
    if changes.trades:
        ex.next_trade_id = max(ex.next_trade_id, changes.trades[-1].id + 1)
        for trade in changes.trades:
            ex.last_prices[trade.symbol] = trade.price
    ex.references.update(changes.references)
