"""The exchange's mutable state and the moves that put an order on a book or take it off.

``ExchangeState`` owns the ledger, the symbols, one order book per symbol, the index of open
orders and the record of what changed since the engine last drained it. Its methods keep those
consistent with each other: an order rests on its book exactly while it is in ``open_orders``
and counted in ``open_count``, and it holds its lock exactly while it is open.
"""

from __future__ import annotations

from bisect import insort
from collections import defaultdict, deque
from typing import Final

from mypy_extensions import mypyc_attr

from bourse.domain.fees import FeeSchedule
from bourse.domain.ledger import AVAILABLE, LOCKED, Ledger, LedgerCorrupted
from bourse.domain.orderbook import OrderBook
from bourse.domain.orders import BUY, Order, OrderStatus, StpMode, Trade
from bourse.domain.reference_price import Reference
from bourse.domain.symbols import Symbol

MAX_OPEN_ORDERS: Final = 500
#: closed ids ``rested_by_account`` may hold beyond twice the open orders before a sweep
SWEEP_MARGIN = 65_536

_CANCELED: Final = OrderStatus.CANCELED
_PART_CANCELED: Final = OrderStatus.PARTIALLY_CANCELED
_FILLED: Final = OrderStatus.FILLED


@mypyc_attr(allow_interpreted_subclasses=True)
class ExchangeState:
    """Books, open orders and the ledger for every symbol (single-threaded by design)."""

    def __init__(
        self,
        fees: FeeSchedule | None = None,
        stp_default: StpMode = StpMode.CANCEL_TAKER,
        max_open_orders: int = MAX_OPEN_ORDERS,
    ) -> None:
        self.ledger = Ledger()
        self.fees = fees or FeeSchedule()
        self.stp_default = stp_default
        self.max_open_orders = max_open_orders
        self.symbols: dict[str, Symbol] = {}
        self.books: dict[str, OrderBook] = {}
        self.open_orders: dict[int, Order] = {}
        self.open_count: dict[int, int] = {}
        #: account -> ids of its orders that rested, a superset of its open ones: added when an
        #: order rests, never removed on the paths that close orders (the match loop would pay
        #: for it on every fill); ``open_of`` skips and drops the closed ones, and ``sweep``
        #: (from ``Exchange.drain``) every account's once they outnumber its open ones
        self.rested_by_account: defaultdict[int, set[int]] = defaultdict(set)
        #: orders changed since the last sweep (an upper bound of those that rested)
        self.unswept = 0
        self.next_order_id = 1
        self.next_trade_id = 1
        #: orders created or changed since the last drain, by id
        self.changed_orders: dict[int, Order] = {}
        #: trades since the last drain
        self.trades: list[Trade] = []
        #: the last trade price of each symbol that traded (prices MX fees, ``domain.mx``)
        self.last_prices: dict[str, int] = {}
        #: each traded symbol's reference price (``domain.reference_price``): MX fees and dust
        #: are valued at it too; the engine folds each batch's trades in
        self.references: dict[str, Reference] = {}
        #: accounts that pay their trading fees in MX when they hold enough (``mxDeduct``)
        self.mx_deduct: set[int] = set()
        #: account -> the members of its STP group (``domain.stp_groups``): self-trade
        #: prevention treats their orders as the account's own
        self.stp_peers: dict[int, set[int]] = {}

    def rest(self, book: OrderBook, order: Order) -> None:
        """Put a new order that keeps a remainder on its side of the book (time priority last)."""
        price = order.price
        side = book.bids if order.side == BUY else book.asks
        level = side.levels.get(price)  # BookSide.add, inlined: this is on every resting order
        if level is None:
            side.levels[price] = deque((order,))
            side.level_qty[price] = order.remaining
            insort(side.keys, side.sign * price)
        else:
            level.append(order)
            side.level_qty[price] += order.remaining
        book.orders[order.id] = order
        self.open_orders[order.id] = order
        open_count = self.open_count
        open_count[order.account] = open_count.get(order.account, 0) + 1
        self.rested_by_account[order.account].add(order.id)

    def open_of(self, account: int) -> list[Order]:
        """The account's open orders (any symbol, unordered): its index, not every book."""
        ids = self.rested_by_account.get(account)
        if not ids:
            return []
        open_orders = self.open_orders
        mine = [o for i in ids if (o := open_orders.get(i)) is not None and o.account == account]
        if len(mine) < len(ids):
            self.rested_by_account[account] = {o.id for o in mine}
        return mine

    def sweep(self, changed: int) -> None:
        """Count ``changed`` orders; once they outnumber twice the open ones plus
        ``SWEEP_MARGIN``, drop every account's closed ids from ``rested_by_account``: the index
        stays within about three times the open orders plus the margin, at an amortized O(1)
        per order."""
        self.unswept += changed
        if self.unswept <= 2 * len(self.open_orders) + SWEEP_MARGIN:
            return
        self.unswept = 0
        for account in list(self.rested_by_account):
            if not self.open_of(account):
                del self.rested_by_account[account]

    def close_resting(
        self,
        book: OrderBook,
        order: Order,
        sym: Symbol,
        now: int,
        reason: str,
        in_book: bool = True,
    ) -> None:
        """Cancel an order that was resting; the caller has already taken it off its level."""
        if in_book:
            del book.orders[order.id]
        del self.open_orders[order.id]
        self.open_count[order.account] -= 1
        if order.locked:
            self.release(order, sym)
        order.status = _PART_CANCELED if order.filled_qty else _CANCELED
        order.cancel_reason = reason
        order.updated = now
        self.changed_orders[order.id] = order

    def finish(self, order: Order, sym: Symbol, now: int, last: int) -> None:
        """End a taker that will not rest: release what it still has locked, set final status.

        ``last`` is the price of its last fill (0 if none).
        """
        if order.locked:
            self.release(order, sym)
        if order.status is not _CANCELED and order.status is not _PART_CANCELED:
            if order.qty:
                done = order.remaining == 0
            else:  # MARKET buy by quote: done when the budget is spent as far as it can go
                done = order.filled_qty > 0 and not self._budget_could_buy_more(order, sym, last)
            if done:
                order.status = _FILLED
            else:
                order.status = _PART_CANCELED if order.filled_qty else _CANCELED
        order.updated = now
        self.changed_orders[order.id] = order

    def release(self, order: Order, sym: Symbol) -> None:
        """Unlock everything ``order`` still holds (Ledger.unlock, inlined, with a bug check:
        an order never holds more than its account has locked)."""
        locked = order.locked
        ledger = self.ledger
        key = (order.account, sym.quote.code if order.side == BUY else sym.base.code)
        bal = ledger.balances[key]
        if bal[LOCKED] < locked:
            raise LedgerCorrupted(f"order {order.id} holds more than is locked")
        bal[LOCKED] -= locked
        bal[AVAILABLE] += locked
        ledger.journal.append(
            (key[0], LOCKED, key[0], AVAILABLE, key[1], locked, "order_unlock", order.id),
        )
        ledger.touched.add(key)
        order.locked = 0

    def _budget_could_buy_more(self, order: Order, sym: Symbol, last: int) -> bool:
        """Whether the unspent budget would buy one more quantity unit at the best ask, or, when
        the asks ran out, at the last fill price (then the order stopped short: not FILLED)."""
        left = order.quote_qty - order.filled_quote
        best = self.books[sym.name].asks.best()
        if best is None:
            best = last
        return best > 0 and left >= best * sym.notional_mult
