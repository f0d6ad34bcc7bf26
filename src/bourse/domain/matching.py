"""Matching with full accounting: the spot exchange's state machine.

``Exchange`` owns the ledger, the symbols, one order book per symbol and the fee schedule. It
places and cancels orders; every fill is posted to the ledger as it happens:

* the buyer's locked quote moves to the seller's available quote, the seller's locked base to
  the buyer's available base;
* each side pays its fee out of what it received, into the fee revenue account;
* a limit buyer filled below its price gets the difference unlocked at once, so a resting buy
  always has exactly ``remaining x price`` locked and a resting sell ``remaining`` base.

A command either succeeds as a whole or raises before changing anything: all checks (symbol,
precision, limits, funds, post-only) happen before the first posting, and once funds are locked
nothing in the matching loop can fail.

The engine drains ``changed_orders`` and ``trades`` after every batch to persist them.
"""

from __future__ import annotations

from bourse.domain.accounts import FEE_REVENUE
from bourse.domain.errors import (
    AboveMaxNotional,
    AboveMaxQuantity,
    BelowMinNotional,
    BelowMinQuantity,
    InsufficientFunds,
    InvalidParameter,
    MissingParameter,
    NoLiquidity,
    OrderNotFound,
    OrderTypeNotAllowed,
    PostOnlyWouldTake,
    SymbolNotTrading,
    TooManyOpenOrders,
    UnknownSymbol,
)
from bourse.domain.fees import FeeSchedule, fee_for
from bourse.domain.ledger import AVAILABLE, LOCKED, Ledger
from bourse.domain.money import format_units
from bourse.domain.orderbook import BookSide, OrderBook
from bourse.domain.orders import (
    BUY,
    SELL,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    StpMode,
    Trade,
)
from bourse.domain.symbols import Symbol

MAX_OPEN_ORDERS = 500

_PRICED = frozenset(
    {
        OrderType.LIMIT,
        OrderType.LIMIT_MAKER,
        OrderType.IMMEDIATE_OR_CANCEL,
        OrderType.FILL_OR_KILL,
    }
)
_RESTING = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER})
_CANCELED = OrderStatus.CANCELED
_PART_CANCELED = OrderStatus.PARTIALLY_CANCELED
_FILLED = OrderStatus.FILLED
_PART_FILLED = OrderStatus.PARTIALLY_FILLED


class Exchange:
    """Order books, matching and the ledger for every symbol (single-threaded by design)."""

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
        self.next_order_id = 1
        self.next_trade_id = 1
        #: orders created or changed since the last drain, by id
        self.changed_orders: dict[int, Order] = {}
        #: trades since the last drain
        self.trades: list[Trade] = []

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
        sym = self.symbols.get(name)
        if sym is None:
            raise UnknownSymbol(f"invalid symbol {name!r}")
        return sym

    def validate(self, req: OrderRequest) -> Symbol:
        """All stateless checks of an order request; raises on the first problem."""
        sym = self.symbol(req.symbol)
        if not sym.trading:
            raise SymbolNotTrading(f"trading is suspended for {sym.name}")
        if req.type not in sym.order_types:
            raise OrderTypeNotAllowed(f"order type {req.type} is not allowed for {sym.name}")
        if req.side not in (BUY, SELL):
            raise InvalidParameter("side must be BUY or SELL")
        if req.type in _PRICED:
            if req.qty <= 0:
                raise MissingParameter("quantity is required for this order type")
            if req.price <= 0:
                raise MissingParameter("price is required for this order type")
            if req.quote_qty:
                raise InvalidParameter("quoteOrderQty is only allowed for MARKET orders")
            self._check_qty(sym, req.qty)
            self._check_notional(sym, sym.notional(req.price, req.qty))
        else:
            if req.price:
                raise InvalidParameter("price is not allowed for MARKET orders")
            if (req.qty > 0) == (req.quote_qty > 0):
                raise MissingParameter(
                    "MARKET orders need exactly one of quantity or quoteOrderQty"
                )
            if req.qty:
                self._check_qty(sym, req.qty)
            else:
                self._check_notional(sym, req.quote_qty)
        return sym

    @staticmethod
    def _check_qty(sym: Symbol, qty: int) -> None:
        if qty < sym.min_qty:
            raise BelowMinQuantity(
                f"quantity is below the minimum {format_units(sym.min_qty, sym.qty_scale)}"
            )
        if qty > sym.max_qty:
            raise AboveMaxQuantity(
                f"quantity is above the maximum {format_units(sym.max_qty, sym.qty_scale)}"
            )

    @staticmethod
    def _check_notional(sym: Symbol, notional: int) -> None:
        if notional < sym.min_notional:
            minimum = format_units(sym.min_notional, sym.quote.scale) + sym.quote.code
            raise BelowMinNotional(
                f"minimum transaction volume cannot be less than:{minimum}", minimum=minimum
            )
        if notional > sym.max_notional:
            raise AboveMaxNotional(
                "maximum transaction volume cannot be greater than:"
                f"{format_units(sym.max_notional, sym.quote.scale)}{sym.quote.code}"
            )

    # --- placing -------------------------------------------------------------------------------
    def place(self, req: OrderRequest, now: int) -> Order:
        """Validate, lock funds, match, and rest or finish the order. Returns the order."""
        sym = self.validate(req)
        book = self.books[sym.name]
        side = req.side
        stp = req.stp or self.stp_default
        opp = book.opposite(side)
        account = req.account
        qty = req.qty
        otype = req.type

        # Work out what to lock (and for MARKET orders, how far to go) before touching anything.
        if otype in _PRICED:
            best = opp.best()
            crosses = best is not None and (req.price >= best if side == BUY else req.price <= best)
            if otype is OrderType.LIMIT_MAKER and crosses:
                raise PostOnlyWouldTake("LIMIT_MAKER order would immediately match and take")
            if otype in _RESTING and self.open_count.get(account, 0) >= self.max_open_orders:
                raise TooManyOpenOrders(f"at most {self.max_open_orders} open orders")
            if side == BUY:
                lock_asset, lock = sym.quote.code, sym.notional(req.price, qty)
            else:
                lock_asset, lock = sym.base.code, sym.base_units(qty)
        else:
            if opp.best() is None:
                raise NoLiquidity("no opposing order")
            if side == BUY:
                lock_asset = sym.quote.code
                if qty:
                    fillable, cost = _walk(sym, opp, side, account, stp, None, qty, 0)
                    if fillable == 0:
                        raise NoLiquidity("no opposing order")
                    lock = cost
                else:
                    lock = req.quote_qty
            else:
                lock_asset = sym.base.code
                if not qty:
                    qty, _ = _walk(sym, opp, side, account, stp, None, 0, req.quote_qty)
                    if qty == 0:
                        raise NoLiquidity("no opposing order for that amount")
                    self._check_qty(sym, qty)
                lock = sym.base_units(qty)

        if self.ledger.available(account, lock_asset) < lock:
            raise InsufficientFunds("insufficient balance for the order")

        # From here on nothing can fail.
        oid = self.next_order_id
        self.next_order_id = oid + 1
        order = Order(
            oid,
            account,
            sym.name,
            side,
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
        self.ledger.lock(account, lock_asset, lock, "order_lock", oid)
        order.locked = lock
        self.changed_orders[oid] = order

        if otype is OrderType.FILL_OR_KILL:
            fillable, _ = _walk(sym, opp, side, account, stp, req.price, qty, 0)
            if fillable < qty:
                self._finish(order, sym, now)
                return order

        self._match(order, sym, book, opp, now)

        if order.status in (_CANCELED, _PART_CANCELED):  # cancelled by self-trade prevention
            self._finish(order, sym, now)
        elif order.remaining > 0 and otype in _RESTING:
            book.rest(order)
            self.open_orders[oid] = order
            self.open_count[account] = self.open_count.get(account, 0) + 1
        else:
            self._finish(order, sym, now)
        return order

    def _match(self, taker: Order, sym: Symbol, book: OrderBook, opp: BookSide, now: int) -> None:
        """Trade ``taker`` against the opposite side while prices cross."""
        buy = taker.side == BUY
        limit = taker.price  # 0 for MARKET
        by_budget = taker.type is OrderType.MARKET and buy and not taker.qty
        nm = sym.notional_mult
        levels, level_qty = opp.levels, opp.level_qty
        while opp.keys:
            price = opp.sign * opp.keys[-1]
            if limit and (price > limit if buy else price < limit):
                break
            level = levels[price]
            if by_budget:
                unit_cost = price * nm
                want = taker.locked // unit_cost
                if want == 0:
                    break
            else:
                want = taker.remaining
                if want == 0:
                    break
            while level and want:
                maker = level[0]
                if maker.account == taker.account and taker.stp is not StpMode.NONE:
                    mode = taker.stp
                    if mode is StpMode.CANCEL_TAKER or mode is StpMode.CANCEL_BOTH:
                        taker.status = _PART_CANCELED if taker.filled_qty else _CANCELED
                        taker.cancel_reason = "stp_cancel"
                    if mode is StpMode.CANCEL_MAKER or mode is StpMode.CANCEL_BOTH:
                        level.popleft()
                        level_qty[price] -= maker.remaining
                        self._close_resting(book, maker, sym, now, "stp_cancel")
                    if taker.cancel_reason:
                        if not level:
                            opp.drop_level(price)
                        return
                    continue
                q = maker.remaining if maker.remaining < want else want
                self._fill(sym, taker, maker, price, q, now)
                level_qty[price] -= q
                want -= q
                if maker.remaining == 0:
                    level.popleft()
                    del book.orders[maker.id]
                    del self.open_orders[maker.id]
                    self.open_count[maker.account] -= 1
            if not level:
                opp.drop_level(price)
            elif by_budget or not taker.remaining:
                break

    def _fill(self, sym: Symbol, taker: Order, maker: Order, price: int, q: int, now: int) -> None:
        ledger = self.ledger
        tid = self.next_trade_id
        self.next_trade_id = tid + 1
        notional = price * q * sym.notional_mult
        base = q * sym.base_mult
        quote_code, base_code = sym.quote.code, sym.base.code
        if taker.side == BUY:
            buyer, seller = taker, maker
            buyer_rate = self.fees.rates(buyer.account)[1]
            seller_rate = self.fees.rates(seller.account)[0]
        else:
            buyer, seller = maker, taker
            buyer_rate = self.fees.rates(buyer.account)[0]
            seller_rate = self.fees.rates(seller.account)[1]
        b_acc, s_acc = buyer.account, seller.account
        ledger.post(b_acc, LOCKED, s_acc, AVAILABLE, quote_code, notional, "trade", tid)
        buyer.locked -= notional
        if buyer is taker and buyer.price and price < buyer.price:
            refund = (buyer.price - price) * q * sym.notional_mult
            ledger.post(b_acc, LOCKED, b_acc, AVAILABLE, quote_code, refund, "order_refund", tid)
            buyer.locked -= refund
        ledger.post(s_acc, LOCKED, b_acc, AVAILABLE, base_code, base, "trade", tid)
        seller.locked -= base
        buyer_fee = fee_for(base, buyer_rate)
        seller_fee = fee_for(notional, seller_rate)
        ledger.post(b_acc, AVAILABLE, FEE_REVENUE, AVAILABLE, base_code, buyer_fee, "fee", tid)
        ledger.post(s_acc, AVAILABLE, FEE_REVENUE, AVAILABLE, quote_code, seller_fee, "fee", tid)

        for o in (taker, maker):
            o.filled_qty += q
            o.filled_quote += notional
            if o.qty:
                o.remaining -= q
            o.status = _FILLED if (o.qty and o.remaining == 0) else _PART_FILLED
            o.updated = now
        changed = self.changed_orders
        changed[maker.id] = maker
        self.trades.append(
            Trade(
                tid,
                sym.name,
                price,
                q,
                notional,
                buyer.id,
                seller.id,
                b_acc,
                s_acc,
                taker.side,
                buyer_fee,
                seller_fee,
                buyer.broker_id,
                seller.broker_id,
                now,
            )
        )

    def _finish(self, order: Order, sym: Symbol, now: int) -> None:
        """End a taker that will not rest: release what it still has locked, set final status."""
        if order.locked:
            asset = sym.quote.code if order.side == BUY else sym.base.code
            self.ledger.unlock(order.account, asset, order.locked, "order_unlock", order.id)
            order.locked = 0
        if order.status not in (_CANCELED, _PART_CANCELED):
            if order.qty:
                done = order.remaining == 0
            else:  # MARKET buy by quote: done when the budget is spent as far as it can go
                done = order.filled_qty > 0 and not self._budget_could_buy_more(order, sym)
            if done:
                order.status = _FILLED
            else:
                order.status = _PART_CANCELED if order.filled_qty else _CANCELED
        order.updated = now
        self.changed_orders[order.id] = order

    def _budget_could_buy_more(self, order: Order, sym: Symbol) -> bool:
        spent = order.filled_quote
        left = order.quote_qty - spent
        best = self.books[sym.name].asks.best()
        return best is not None and left >= best * sym.notional_mult

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
        raise OrderNotFound("Unknown order sent.")

    def cancel(
        self,
        account: int,
        symbol: str,
        now: int,
        order_id: int | None = None,
        client_id: str | None = None,
        reason: str = "",
    ) -> Order:
        order = self.find_order(account, symbol, order_id, client_id)
        book = self.books[symbol]
        book.remove(order)
        self._close_resting(book, order, self.symbols[symbol], now, reason, in_book=False)
        return order

    def cancel_all(self, account: int, symbol: str, now: int) -> list[Order]:
        book = self.books.get(symbol)
        if book is None:
            raise UnknownSymbol(f"invalid symbol {symbol!r}")
        mine = sorted((o for o in book.orders.values() if o.account == account), key=_by_id)
        for order in mine:
            book.remove(order)
            self._close_resting(book, order, self.symbols[symbol], now, "", in_book=False)
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

    def _close_resting(
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
            asset = sym.quote.code if order.side == BUY else sym.base.code
            self.ledger.unlock(order.account, asset, order.locked, "order_unlock", order.id)
            order.locked = 0
        order.status = _PART_CANCELED if order.filled_qty else _CANCELED
        order.cancel_reason = reason
        order.updated = now
        self.changed_orders[order.id] = order


def _by_id(order: Order) -> int:
    return order.id


def _walk(
    sym: Symbol,
    opp: BookSide,
    side: int,
    account: int,
    stp: StpMode,
    limit: int,
    qty: int,
    quote: int,
) -> tuple[int, int]:
    """Dry-run a taker against ``opp`` without changing anything.

    With ``qty``: how much of it could fill and what it would cost (quote ledger units).
    With ``quote``: how much quantity that quote amount reaches (rounded down), and its cost.
    Stops where self-trade prevention would stop the taker; skips orders it would cancel.
    """
    buy = side == BUY
    nm = sym.notional_mult
    filled = cost = 0
    for key in reversed(opp.keys):
        price = opp.sign * key
        if limit and (price > limit if buy else price < limit):
            break
        for maker in opp.levels[price]:
            if maker.account == account and stp is not StpMode.NONE:
                if stp is StpMode.CANCEL_MAKER:
                    continue
                return filled, cost
            if qty:
                q = min(maker.remaining, qty - filled)
            else:
                q = min(maker.remaining, (quote - cost) // (price * nm))
            if q <= 0:
                return filled, cost
            filled += q
            cost += price * q * nm
            if qty and filled == qty:
                return filled, cost
    return filled, cost
