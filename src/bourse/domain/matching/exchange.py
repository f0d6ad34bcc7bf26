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

from bisect import insort
from collections import deque
from typing import Any, Final

from mypy_extensions import mypyc_attr

from bourse.domain.errors import OrderNotFound, UnknownSymbol
from bourse.domain.ledger import AVAILABLE, LOCKED, LedgerCorrupted
from bourse.domain.matching.locking import order_lock, walk
from bourse.domain.matching.loop import match
from bourse.domain.matching.market import place_market
from bourse.domain.matching.state import ExchangeState
from bourse.domain.matching.validation import ALL_TYPES, admit, find_symbol, validate
from bourse.domain.orderbook import OrderBook
from bourse.domain.orders import (
    BUY,
    SELL,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Trade,
)
from bourse.domain.symbols import Symbol

_CANCELED: Final = OrderStatus.CANCELED
_PART_CANCELED: Final = OrderStatus.PARTIALLY_CANCELED
_FILLED: Final = OrderStatus.FILLED
_MARKET: Final = OrderType.MARKET
#: how far from the back of its level ``cancel`` looks for the order before a full scan
_BACK_SCAN: Final = 16
_LIMIT: Final = OrderType.LIMIT
_LIMIT_MAKER: Final = OrderType.LIMIT_MAKER
_FOK: Final = OrderType.FILL_OR_KILL
_IOC: Final = OrderType.IMMEDIATE_OR_CANCEL
_ALL_TYPES: Final = ALL_TYPES


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled: tests subclass it
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
        self.rested_by_account[order.account].add(order.id)
        if order.id >= self.next_order_id:
            self.next_order_id = order.id + 1

    def drain(self) -> tuple[dict[int, Order], list[Trade]]:
        changed, trades = self.changed_orders, self.trades
        self.changed_orders, self.trades = {}, []
        self.sweep(len(changed))
        return changed, trades

    # --- validation ---------------------------------------------------------------------------
    def symbol(self, name: str) -> Symbol:
        return find_symbol(self.symbols, name)

    def validate(self, req: OrderRequest) -> Symbol:
        """All stateless checks of an order request; raises on the first problem."""
        return validate(self.symbols, req)

    # --- placing -------------------------------------------------------------------------------
    def place(self, req: OrderRequest, now: int) -> Order:
        """Validate, lock funds, match, and rest or finish the order. Returns the order.

        The common case, a valid LIMIT or IOC order the account can pay for, runs here with
        ``admit`` and ``order_lock`` inlined (the same checks, in expressions: this is every
        order's path); any other order, and any order that fails one of those checks, goes
        through the full pipeline, which raises exactly the error it always raised.
        """
        sym = self.symbols.get(req.symbol)
        # an ``object``: the type may be a plain string (``admit`` converts it), which compiled
        # code would refuse on reading it into an ``OrderType`` local
        rtype: object = req.type
        if sym is None or (rtype is not _LIMIT and rtype is not _IOC):
            if sym is not None and rtype is _MARKET:
                return place_market(self, sym, req, now) or self._place(req, now)
            return self._place(req, now)
        otype = _LIMIT if rtype is _LIMIT else _IOC
        qty = req.qty
        price = req.price
        side = req.side
        account = req.account
        nm = sym.notional_mult
        notional = price * (qty * nm)  # qty x nm is small: a one-word product when compiled
        if (
            qty <= 0
            or price <= 0
            or req.quote_qty
            or not sym.trading
            or qty < sym.min_qty
            or qty > sym.max_qty
            or (sym.order_types is not _ALL_TYPES and otype not in sym.order_types)
            or notional < sym.min_notional
            or notional > sym.max_notional
        ):
            return self._place(req, now)
        book = self.books[sym.name]
        if side == BUY:
            opp, own = book.asks, book.bids
            asset = sym.quote.code
            lock = notional
        elif side == SELL:
            opp, own = book.bids, book.asks
            asset = sym.base.code
            lock = qty * sym.base_mult
        else:
            return self._place(req, now)
        if otype is _LIMIT and self.open_count.get(account, 0) >= self.max_open_orders:
            return self._place(req, now)  # it may rest: over the open-order cap
        ledger = self.ledger
        key = (account, asset)
        bal = ledger.balances.get(key)
        if bal is None or bal[AVAILABLE] < lock:
            return self._place(req, now)
        # keys are ``sign x price``, best last: one comparison serves both sides
        keys = opp.keys
        crossing = keys[-1] >= opp.sign * price if keys else False
        stp = req.stp or self.stp_default
        # From here on nothing can fail. The order, and its lock posting (Ledger.lock, inlined).
        oid = self.next_order_id
        self.next_order_id = oid + 1
        order = Order(
            oid, account, sym.name, side, otype, price, qty, 0, req.client_id, stp,
            req.source, req.broker_id, now,
        )  # fmt: skip
        # the id as one Python int for every dict and the journal (compiled, an ``int`` local is
        # a machine word, boxed again at each use); ``x[i] = x[i] - y`` likewise
        oid_o: Any = oid
        lock_o: Any = lock
        self.changed_orders[oid_o] = order
        bal[AVAILABLE] = bal[AVAILABLE] - lock_o
        bal[LOCKED] = bal[LOCKED] + lock_o
        ledger.journal.append(
            (account, AVAILABLE, account, LOCKED, asset, lock_o, "order_lock", oid_o)
        )
        ledger.touched.add(key)
        order.locked = lock
        if crossing:
            last = match(self, order, sym, book, opp, now)
            if last:
                self.last_prices[sym.name] = last
            status = order.status
            if status is _CANCELED or status is _PART_CANCELED:  # by self-trade prevention
                self.finish(order, sym, now, last)
                return order
        else:
            last = 0
        rem = order.remaining
        if otype is _LIMIT and rem > 0:
            # ExchangeState.rest, inlined: this is every resting order's path
            level = own.levels.get(price)
            if level is None:
                own.levels[price] = deque((order,))
                own.level_qty[price] = rem
                insort(own.keys, own.sign * price)
            else:
                level.append(order)
                own.level_qty[price] += rem
            book.orders[oid_o] = order
            self.open_orders[oid_o] = order
            open_count = self.open_count
            open_count[account] = open_count.get(account, 0) + 1
            self.rested_by_account[account].add(oid_o)
        else:  # ExchangeState.finish of an IOC (or a filled LIMIT), inlined
            if order.locked:
                self.release(order, sym)
            if rem:
                order.status = _PART_CANCELED if order.filled_qty else _CANCELED
            else:
                order.status = _FILLED
            order.updated = now
        return order

    def _place(self, req: OrderRequest, now: int) -> Order:
        """``place`` through the full pipeline: every order type and every refusal."""
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
            oid, account, sym.name, req.side, otype, req.price, qty, req.quote_qty,
            req.client_id, stp, req.source, req.broker_id, now,
        )  # fmt: skip
        self.changed_orders[oid] = order
        bal[AVAILABLE] -= lock
        bal[LOCKED] += lock
        ledger = self.ledger
        ledger.journal.append((account, AVAILABLE, account, LOCKED, asset, lock, "order_lock", oid))
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
        elif level[-1] is order:
            level.pop()
        elif len(level) <= _BACK_SCAN:
            level.remove(order)
        else:
            # the orders cancelled most are the recent ones, at the back of their level:
            # on a long level, look there first (a few steps) before deque.remove's scan
            i = len(level) - 2
            stop = max(i - _BACK_SCAN, 0)
            while i > stop and level[i] is not order:
                i -= 1
            if i > stop:
                del level[i]
            else:
                level.remove(order)
        if level:
            side.level_qty[price] -= order.remaining
        else:
            side.drop_level(price)
        oid = order.id
        del book.orders[oid]
        # ExchangeState.close_resting and release, inlined: this is every cancel's path
        del self.open_orders[oid]
        acc = order.account
        self.open_count[acc] -= 1
        locked = order.locked
        if locked:
            sym = self.symbols[symbol]
            ledger = self.ledger
            key = (acc, sym.quote.code if order.side == BUY else sym.base.code)
            bal = ledger.balances[key]
            if bal[LOCKED] < locked:
                raise LedgerCorrupted(f"order {oid} holds more than is locked")
            bal[LOCKED] -= locked
            bal[AVAILABLE] += locked
            ledger.journal.append(
                (acc, LOCKED, acc, AVAILABLE, key[1], locked, "order_unlock", oid)
            )
            ledger.touched.add(key)
            order.locked = 0
        order.status = _PART_CANCELED if order.filled_qty else _CANCELED
        order.cancel_reason = reason
        order.updated = now
        self.changed_orders[oid] = order
        return order

    def cancel_all(self, account: int, symbol: str, now: int) -> list[Order]:
        book = self.books.get(symbol)
        if book is None:
            raise UnknownSymbol(f"invalid symbol {symbol!r}")
        mine = sorted((o for o in self.open_of(account) if o.symbol == symbol), key=_by_id)
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
