"""The Exchange: places and cancels orders, running each through a fixed pipeline.

Placing an order is, in order (each stage in its own module):

1. ``validation``: stateless checks of the request against its symbol;
2. ``locking``: what the order locks and every refusal that needs the book or the balances;
3. the lock is posted (available -> locked) and the order exists; from here nothing can fail;
4. ``loop``: the order trades while prices cross, one code path for both sides, each fill
   posted to the ledger at once by the rules in ``settlement``, with self-trade prevention
   (``stp``) on the way;
5. it rests on its book (LIMIT, LIMIT_MAKER with a remainder) or finishes, releasing what it
   still has locked (``state``).

A command either succeeds as a whole or raises before changing anything. The engine drains
``changed_orders`` and ``trades`` after every batch to persist them.
"""

from __future__ import annotations

from bourse.domain.errors import OrderNotFound, UnknownSymbol
from bourse.domain.ledger import AVAILABLE, LOCKED, Posting
from bourse.domain.matching.locking import order_lock, walk
from bourse.domain.matching.loop import match
from bourse.domain.matching.state import ExchangeState
from bourse.domain.matching.validation import admit, find_symbol, validate
from bourse.domain.orderbook import OrderBook
from bourse.domain.orders import (
    BUY,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Trade,
)
from bourse.domain.symbols import Symbol

_CANCELED = OrderStatus.CANCELED
_PART_CANCELED = OrderStatus.PARTIALLY_CANCELED
_LIMIT = OrderType.LIMIT
_LIMIT_MAKER = OrderType.LIMIT_MAKER
_FOK = OrderType.FILL_OR_KILL
_new_posting = tuple.__new__  # Posting(...) without the namedtuple's Python-level __new__


class Exchange(ExchangeState):
    """Order books, matching and the ledger for every symbol (single-threaded by design)."""

    # --- set-up --------------------------------------------------------------------------------
    def add_symbol(self, symbol: Symbol) -> None:
        self.symbols[symbol.name] = symbol
        self.books.setdefault(symbol.name, OrderBook(symbol.name))

    def restore_order(self, order: Order) -> None:
        """Put an open order back on its book during recovery (balances come from the store)."""
        self.books[order.symbol].rest(order)
        self.open_orders[order.id] = order
        self.open_count[order.account] = self.open_count.get(order.account, 0) + 1
        if order.id >= self.next_order_id:
            self.next_order_id = order.id + 1

    def drain(self) -> tuple[dict[int, Order], list[Trade]]:
        changed, trades = self.changed_orders, self.trades
        self.changed_orders, self.trades = {}, []
        return changed, trades

    # --- validation ---------------------------------------------------------------------------
    def symbol(self, name: str) -> Symbol:
        return find_symbol(self.symbols, name)

    def validate(self, req: OrderRequest) -> Symbol:
        """All stateless checks of an order request; raises on the first problem."""
        return validate(self.symbols, req)

    # --- placing -------------------------------------------------------------------------------
    def place(self, req: OrderRequest, now: int) -> Order:
        """Validate, lock funds, match, and rest or finish the order. Returns the order."""
        sym, otype = admit(self.symbols, req)
        book = self.books[sym.name]
        opp = book.asks if req.side == BUY else book.bids
        stp = req.stp or self.stp_default
        account = req.account
        asset, lock, qty, bal, crossing = order_lock(self, sym, opp, req, otype, stp)
        # From here on nothing can fail. The order, and its lock posting (Ledger.lock, inlined).
        oid = self.next_order_id
        self.next_order_id = oid + 1
        order = Order(
            oid,
            account,
            sym.name,
            req.side,
            otype,
            req.price,
            qty,
            req.quote_qty,
            req.client_id,
            stp,
            req.source,
            req.broker_id,
            now,
        )
        self.changed_orders[oid] = order
        bal[AVAILABLE] -= lock
        bal[LOCKED] += lock
        ledger = self.ledger
        ledger.journal.append(
            _new_posting(
                Posting, (account, AVAILABLE, account, LOCKED, asset, lock, "order_lock", oid)
            )
        )
        ledger.touched.add((account, asset))
        order.locked = lock
        if otype is _FOK:
            peers = self.stp_peers.get(account)
            if walk(sym, opp, account, stp, order.price, qty, 0, peers)[0] < qty:
                self.finish(order, sym, now, 0)
                return order
        last = match(self, order, sym, book, opp, now) if crossing else 0
        if last:
            self.last_prices[sym.name] = last
        if order.status is _CANCELED or order.status is _PART_CANCELED:  # by self-trade prevention
            self.finish(order, sym, now, last)
        elif (otype is _LIMIT or otype is _LIMIT_MAKER) and order.remaining > 0:
            self.rest(book, order)
        else:
            self.finish(order, sym, now, last)
        return order

    # --- cancelling ----------------------------------------------------------------------------
    def find_order(
        self, account: int, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order:
        """An open order of ``account`` on ``symbol`` by id or client id."""
        book = self.books.get(symbol)
        if book is None:
            raise UnknownSymbol(f"invalid symbol {symbol!r}")
        if order_id is not None:
            order = book.orders.get(order_id)
            if order is not None and order.account == account:
                return order
        elif client_id:
            for order in book.orders.values():
                if order.account == account and order.client_id == client_id:
                    return order
        raise OrderNotFound("no such open order")

    def cancel(
        self,
        account: int,
        symbol: str,
        now: int,
        order_id: int | None = None,
        client_id: str | None = None,
        reason: str = "",
    ) -> Order:
        book = self.books.get(symbol)
        if book is not None and order_id is not None:
            order = book.orders.get(order_id)
            if order is None or order.account != account:
                raise OrderNotFound("no such open order")
        else:
            order = self.find_order(account, symbol, order_id, client_id)
            book = self.books[symbol]
        # OrderBook.remove, inlined
        side = book.bids if order.side == BUY else book.asks
        price = order.price
        level = side.levels[price]
        if level[0] is order:
            level.popleft()
        else:
            level.remove(order)
        if level:
            side.level_qty[price] -= order.remaining
        else:
            side.drop_level(price)
        del book.orders[order.id]
        self.close_resting(book, order, self.symbols[symbol], now, reason, in_book=False)
        return order

    def cancel_all(self, account: int, symbol: str, now: int) -> list[Order]:
        book = self.books.get(symbol)
        if book is None:
            raise UnknownSymbol(f"invalid symbol {symbol!r}")
        mine = sorted((o for o in book.orders.values() if o.account == account), key=_by_id)
        for order in mine:
            book.remove(order)
            self.close_resting(book, order, self.symbols[symbol], now, "", in_book=False)
        return mine

    def cancel_account(self, account: int, now: int, reason: str = "") -> list[Order]:
        """Cancel every open order of an account (used when an account is frozen)."""
        out: list[Order] = []
        for name in self.books:
            out.extend(self.cancel_all(account, name, now))
        if reason:
            for o in out:
                o.cancel_reason = reason
        return out


def _by_id(order: Order) -> int:
    return order.id
