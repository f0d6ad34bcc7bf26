"""The common MARKET order, placed without the general pipeline's stages.

A MARKET order by quantity (``qty``, no ``quoteOrderQty``) on a trading symbol with every
order type allowed is checked here with ``validation``'s and ``locking``'s rules written out
in expressions, then locked, matched and finished as ``Exchange._place`` would. Anything
else, and any order failing one of the checks (no liquidity, funds, limits), returns None:
the caller then runs the general pipeline, which raises exactly the error it always raised.
"""

from __future__ import annotations

from typing import Final

from bourse.domain.ledger import AVAILABLE, LOCKED
from bourse.domain.matching.locking import walk
from bourse.domain.matching.loop import match
from bourse.domain.matching.state import ExchangeState
from bourse.domain.matching.validation import ALL_TYPES
from bourse.domain.orders import BUY, SELL, Order, OrderRequest, OrderType
from bourse.domain.symbols import Symbol

_MARKET: Final = OrderType.MARKET


def place_market(state: ExchangeState, sym: Symbol, req: OrderRequest, now: int) -> Order | None:
    """Place a MARKET order by quantity, or None when it needs the general pipeline."""
    qty = req.qty
    side = req.side
    if (
        qty <= 0
        or req.price
        or req.quote_qty
        or not sym.trading
        or qty < sym.min_qty
        or qty > sym.max_qty
        or sym.order_types is not ALL_TYPES
    ):
        return None
    book = state.books[sym.name]
    account = req.account
    stp = req.stp or state.stp_default
    if side == BUY:
        opp = book.asks
        if not opp.keys or not _valued(sym, opp.sign * opp.keys[-1] * qty):
            return None
        fillable, lock = walk(sym, opp, account, stp, 0, qty, 0, state.stp_peers.get(account))
        if not fillable:
            return None
        asset = sym.quote.code
    elif side == SELL:
        opp = book.bids
        if not opp.keys or not _valued(sym, opp.sign * opp.keys[-1] * qty):
            return None
        asset = sym.base.code
        lock = qty * sym.base_mult
    else:
        return None
    ledger = state.ledger
    key = (account, asset)
    bal = ledger.balances.get(key)
    if bal is None or bal[AVAILABLE] < lock:
        return None
    # From here on nothing can fail: as Exchange._place from the lock on
    oid = state.next_order_id
    state.next_order_id = oid + 1
    order = Order(
        oid, account, sym.name, side, _MARKET, 0, qty, 0, req.client_id, stp,
        req.source, req.broker_id, now,
    )  # fmt: skip
    state.changed_orders[oid] = order
    bal[AVAILABLE] -= lock
    bal[LOCKED] += lock
    ledger.journal.append((account, AVAILABLE, account, LOCKED, asset, lock, "order_lock", oid))
    ledger.touched.add(key)
    order.locked = lock
    last = match(state, order, sym, book, opp, now)
    if last:
        state.last_prices[sym.name] = last
    state.finish(order, sym, now, last)
    return order


def _valued(sym: Symbol, price_x_qty: int) -> bool:
    """Whether an order of ``price x qty`` is within the symbol's order values
    (``locking.check_market_value`` raises the refusal)."""
    return sym.min_notional <= price_x_qty * sym.notional_mult <= sym.max_notional
