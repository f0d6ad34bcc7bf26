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

from bisect import insort
from collections import deque

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
from bourse.domain.ledger import AVAILABLE, LOCKED, Ledger, LedgerCorrupted, Posting
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
_CANCELED = OrderStatus.CANCELED
_PART_CANCELED = OrderStatus.PARTIALLY_CANCELED
_FILLED = OrderStatus.FILLED
_PART_FILLED = OrderStatus.PARTIALLY_FILLED
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_LIMIT_MAKER = OrderType.LIMIT_MAKER
#: a Symbol's default ``order_types`` (the same tuple object): every type allowed
_ALL_TYPES = Symbol.__dataclass_fields__["order_types"].default
_FOK = OrderType.FILL_OR_KILL
_STP_NONE = StpMode.NONE
_STP_CANCEL_TAKER = StpMode.CANCEL_TAKER
_STP_CANCEL_MAKER = StpMode.CANCEL_MAKER
_STP_CANCEL_BOTH = StpMode.CANCEL_BOTH
_new_posting = tuple.__new__  # Posting(...) without the namedtuple's Python-level __new__


def _bucket(balances: dict, touch, key: tuple[int, str]) -> list[int]:
    """The [available, locked] list of ``key``, created if missing, marked touched."""
    bal = balances.get(key)
    if bal is None:
        bal = balances[key] = [0, 0]
    touch(key)
    return bal


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
            raise BelowMinNotional(f"order value is below the minimum {minimum}", minimum=minimum)
        if notional > sym.max_notional:
            maximum = format_units(sym.max_notional, sym.quote.scale) + sym.quote.code
            raise AboveMaxNotional(f"order value is above the maximum {maximum}", maximum=maximum)

    # --- placing -------------------------------------------------------------------------------
    def place(self, req: OrderRequest, now: int) -> Order:
        """Validate, lock funds, match, and rest or finish the order. Returns the order."""
        sym = self.symbols.get(req.symbol)
        otype = req.type
        if otype.__class__ is not OrderType:  # a plain string: check it, then use the member
            self.validate(req)
            try:
                otype = OrderType(otype)
            except ValueError:
                raise OrderTypeNotAllowed(f"order type {otype} is not supported") from None
        side = req.side
        qty = req.qty
        price = req.price
        priced = otype is not _MARKET
        # Fast path for the common, valid priced order; anything else goes through validate(),
        # which raises exactly the error it always raised (or accepts a MARKET order).
        if (
            sym is None
            or not priced
            or qty <= 0
            or price <= 0
            or req.quote_qty
            or not sym.trading
            or side not in (BUY, SELL)
            or qty < sym.min_qty
            or qty > sym.max_qty
            or (sym.order_types is not _ALL_TYPES and otype not in sym.order_types)
        ):
            sym = self.validate(req)
        else:
            notional = price * qty * sym.notional_mult
            if notional < sym.min_notional or notional > sym.max_notional:
                sym = self.validate(req)
        book = self.books[sym.name]
        stp = req.stp or self.stp_default
        buy = side == BUY
        opp = book.asks if buy else book.bids
        account = req.account
        resting = otype is _LIMIT or otype is _LIMIT_MAKER

        # Work out what to lock (and for MARKET orders, how far to go) before touching anything.
        if priced:
            keys = opp.keys
            if otype is _LIMIT_MAKER and keys:
                best = opp.sign * keys[-1]
                if price >= best if buy else price <= best:
                    raise PostOnlyWouldTake("LIMIT_MAKER order would immediately match and take")
            if resting and self.open_count.get(account, 0) >= self.max_open_orders:
                raise TooManyOpenOrders(f"at most {self.max_open_orders} open orders")
            if buy:
                lock_asset, lock = sym.quote.code, price * qty * sym.notional_mult
            else:
                lock_asset, lock = sym.base.code, qty * sym.base_mult
        else:
            if not opp.keys:
                raise NoLiquidity("no opposing order")
            if buy:
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
                lock = qty * sym.base_mult

        ledger = self.ledger
        lock_key = (account, lock_asset)
        bal = ledger.balances.get(lock_key)
        if bal is None or bal[AVAILABLE] < lock:
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
            price,
            qty,
            req.quote_qty,
            req.client_id,
            stp,
            req.source,
            req.broker_id,
            now,
        )
        # the lock posting (Ledger.lock, inlined)
        bal[AVAILABLE] -= lock
        bal[LOCKED] += lock
        ledger.journal.append(
            _new_posting(
                Posting, (account, AVAILABLE, account, LOCKED, lock_asset, lock, "order_lock", oid)
            )
        )
        ledger.touched.add(lock_key)
        order.locked = lock
        self.changed_orders[oid] = order

        if otype is _FOK:
            fillable, _ = _walk(sym, opp, side, account, stp, price, qty, 0)
            if fillable < qty:
                self._finish(order, sym, now, 0)
                return order

        keys = opp.keys
        if keys and (
            not price or (price >= opp.sign * keys[-1] if buy else price <= opp.sign * keys[-1])
        ):
            last = self._match(order, sym, book, opp, now)
        else:
            last = 0

        if order.status is _CANCELED or order.status is _PART_CANCELED:  # by self-trade prevention
            self._finish(order, sym, now, last)
        elif resting and order.remaining > 0:
            side_book = book.bids if buy else book.asks
            # BookSide.add, inlined
            level = side_book.levels.get(price)
            if level is None:
                side_book.levels[price] = deque((order,))
                side_book.level_qty[price] = order.remaining
                insort(side_book.keys, side_book.sign * price)
            else:
                level.append(order)
                side_book.level_qty[price] += order.remaining
            book.orders[oid] = order
            self.open_orders[oid] = order
            open_count = self.open_count
            open_count[account] = open_count.get(account, 0) + 1
        else:
            self._finish(order, sym, now, last)
        return order

    def _match(self, taker: Order, sym: Symbol, book: OrderBook, opp: BookSide, now: int) -> int:
        """Trade ``taker`` against the opposite side while prices cross; post every fill.

        This is the hot path, written flat: the taker's state lives in locals and is written
        back once; each fill moves ledger buckets directly (the postings ``Ledger.post`` would
        make, in the same order: quote, price-improvement refund, base, buyer fee, seller fee).
        Returns the price of the last fill (0 if none).
        """
        buy = taker.side == BUY
        limit = taker.price  # 0 for MARKET
        by_budget = not taker.qty  # a MARKET buy by quote amount
        stp = taker.stp
        stp_on = stp is not _STP_NONE
        t_acc = taker.account
        t_id = taker.id
        t_side = taker.side
        t_broker = taker.broker_id
        t_remaining = taker.remaining
        t_locked = taker.locked
        t_filled = taker.filled_qty
        t_fquote = taker.filled_quote

        nm = sym.notional_mult
        bm = sym.base_mult
        name = sym.name
        base_code = sym.base.code
        quote_code = sym.quote.code
        ledger = self.ledger
        balances = ledger.balances
        jappend = ledger.journal.append
        tadd = ledger.touched.add
        fees = self.fees
        overrides = fees.overrides
        default_maker = fees.maker
        ov = overrides.get(t_acc)
        t_rate = ov[1] if ov else fees.taker
        changed = self.changed_orders
        trades_append = self.trades.append
        book_orders = book.orders
        open_orders = self.open_orders
        open_count = self.open_count
        tid = self.next_trade_id
        t_base = t_quote = fr_base = fr_quote = None
        makers: dict[int, tuple[list[int], list[int], int]] = {}  # account -> buckets, rate
        keys, levels, level_qty, sign = opp.keys, opp.levels, opp.level_qty, opp.sign
        price = last = 0
        stopped = False

        while keys:
            price = sign * keys[-1]
            if limit and (price > limit if buy else price < limit):
                break
            if by_budget:
                unit_cost = price * nm
                want = t_locked // unit_cost
            else:
                want = t_remaining
            if not want:
                break
            level = levels[price]
            lq = level_qty[price]
            while level and want:
                maker = level[0]
                m_acc = maker.account
                if m_acc == t_acc and stp_on:
                    if stp is _STP_CANCEL_TAKER or stp is _STP_CANCEL_BOTH:
                        taker.status = _PART_CANCELED if t_filled else _CANCELED
                        taker.cancel_reason = "stp_cancel"
                        stopped = True
                    if stp is _STP_CANCEL_MAKER or stp is _STP_CANCEL_BOTH:
                        level.popleft()
                        lq -= maker.remaining
                        self._close_resting(book, maker, sym, now, "stp_cancel")
                    if stopped:
                        break
                    continue
                if t_base is None:
                    t_base = balances.get((t_acc, base_code))
                    if t_base is None:
                        t_base = balances[(t_acc, base_code)] = [0, 0]
                    t_quote = balances.get((t_acc, quote_code))
                    if t_quote is None:
                        t_quote = balances[(t_acc, quote_code)] = [0, 0]
                m_rem = maker.remaining
                q = m_rem if m_rem < want else want
                notional = price * q * nm
                base = q * bm
                mb = makers.get(m_acc)
                if mb is None:  # first fill against this account in this match
                    ov = overrides.get(m_acc)
                    mb = makers[m_acc] = (
                        _bucket(balances, tadd, (m_acc, base_code)),
                        _bucket(balances, tadd, (m_acc, quote_code)),
                        ov[0] if ov else default_maker,
                    )
                m_base, m_quote, m_rate = mb
                if buy:
                    # quote: taker's locked -> maker's available; refund of price improvement
                    t_quote[1] -= notional
                    m_quote[0] += notional
                    jappend(
                        _new_posting(
                            Posting, (t_acc, 1, m_acc, 0, quote_code, notional, "trade", tid)
                        )
                    )
                    t_locked -= notional
                    if limit and price < limit:
                        refund = (limit - price) * q * nm
                        t_quote[1] -= refund
                        t_quote[0] += refund
                        jappend(
                            _new_posting(
                                Posting,
                                (t_acc, 1, t_acc, 0, quote_code, refund, "order_refund", tid),
                            )
                        )
                        t_locked -= refund
                    # base: maker's locked -> taker's available
                    m_base[1] -= base
                    t_base[0] += base
                    jappend(
                        _new_posting(Posting, (m_acc, 1, t_acc, 0, base_code, base, "trade", tid))
                    )
                    maker.locked -= base
                    if m_base[1] < 0 or t_quote[1] < 0:
                        raise LedgerCorrupted(f"locked funds overdrawn in trade {tid}")
                    buyer_fee = fee_for(base, t_rate)
                    if buyer_fee:
                        if fr_base is None:
                            fr_base = _bucket(balances, tadd, (FEE_REVENUE, base_code))
                        t_base[0] -= buyer_fee
                        fr_base[0] += buyer_fee
                        jappend(
                            _new_posting(
                                Posting,
                                (t_acc, 0, FEE_REVENUE, 0, base_code, buyer_fee, "fee", tid),
                            )
                        )
                    seller_fee = fee_for(notional, m_rate)
                    if seller_fee:
                        if fr_quote is None:
                            fr_quote = _bucket(balances, tadd, (FEE_REVENUE, quote_code))
                        m_quote[0] -= seller_fee
                        fr_quote[0] += seller_fee
                        jappend(
                            _new_posting(
                                Posting,
                                (m_acc, 0, FEE_REVENUE, 0, quote_code, seller_fee, "fee", tid),
                            )
                        )
                    trades_append(
                        Trade(
                            tid,
                            name,
                            price,
                            q,
                            notional,
                            t_id,
                            maker.id,
                            t_acc,
                            m_acc,
                            t_side,
                            buyer_fee,
                            seller_fee,
                            t_broker,
                            maker.broker_id,
                            now,
                        )
                    )
                else:
                    # quote: maker's locked -> taker's available
                    m_quote[1] -= notional
                    t_quote[0] += notional
                    jappend(
                        _new_posting(
                            Posting, (m_acc, 1, t_acc, 0, quote_code, notional, "trade", tid)
                        )
                    )
                    maker.locked -= notional
                    # base: taker's locked -> maker's available
                    t_base[1] -= base
                    m_base[0] += base
                    jappend(
                        _new_posting(Posting, (t_acc, 1, m_acc, 0, base_code, base, "trade", tid))
                    )
                    t_locked -= base
                    if m_quote[1] < 0 or t_base[1] < 0:
                        raise LedgerCorrupted(f"locked funds overdrawn in trade {tid}")
                    buyer_fee = fee_for(base, m_rate)
                    if buyer_fee:
                        if fr_base is None:
                            fr_base = _bucket(balances, tadd, (FEE_REVENUE, base_code))
                        m_base[0] -= buyer_fee
                        fr_base[0] += buyer_fee
                        jappend(
                            _new_posting(
                                Posting,
                                (m_acc, 0, FEE_REVENUE, 0, base_code, buyer_fee, "fee", tid),
                            )
                        )
                    seller_fee = fee_for(notional, t_rate)
                    if seller_fee:
                        if fr_quote is None:
                            fr_quote = _bucket(balances, tadd, (FEE_REVENUE, quote_code))
                        t_quote[0] -= seller_fee
                        fr_quote[0] += seller_fee
                        jappend(
                            _new_posting(
                                Posting,
                                (t_acc, 0, FEE_REVENUE, 0, quote_code, seller_fee, "fee", tid),
                            )
                        )
                    trades_append(
                        Trade(
                            tid,
                            name,
                            price,
                            q,
                            notional,
                            maker.id,
                            t_id,
                            m_acc,
                            t_acc,
                            t_side,
                            buyer_fee,
                            seller_fee,
                            maker.broker_id,
                            t_broker,
                            now,
                        )
                    )
                tid += 1
                last = price
                # the maker
                maker.filled_qty += q
                maker.filled_quote += notional
                maker.updated = now
                changed[maker.id] = maker
                lq -= q
                want -= q
                if m_rem == q:
                    maker.remaining = 0
                    maker.status = _FILLED
                    level.popleft()
                    del book_orders[maker.id]
                    del open_orders[maker.id]
                    open_count[m_acc] -= 1
                else:
                    maker.remaining = m_rem - q
                    maker.status = _PART_FILLED
                # the taker
                t_filled += q
                t_fquote += notional
                if not by_budget:
                    t_remaining -= q
            if level:
                level_qty[price] = lq
                break
            # BookSide.drop_level of the best level, inlined
            del levels[price]
            del level_qty[price]
            keys.pop()
            if stopped:
                break

        self.next_trade_id = tid
        if t_base is not None:
            tadd((t_acc, base_code))
            tadd((t_acc, quote_code))
        if t_filled != taker.filled_qty:
            taker.filled_qty = t_filled
            taker.filled_quote = t_fquote
            taker.remaining = t_remaining
            taker.locked = t_locked
            taker.updated = now
            if not stopped:
                taker.status = _FILLED if (not by_budget and t_remaining == 0) else _PART_FILLED
        return last

    def _finish(self, order: Order, sym: Symbol, now: int, last: int) -> None:
        """End a taker that will not rest: release what it still has locked, set final status.

        ``last`` is the price of its last fill (0 if none).
        """
        if order.locked:
            asset = sym.quote.code if order.side == BUY else sym.base.code
            self.ledger.unlock(order.account, asset, order.locked, "order_unlock", order.id)
            order.locked = 0
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

    def _budget_could_buy_more(self, order: Order, sym: Symbol, last: int) -> bool:
        """Whether the unspent budget would buy one more quantity unit at the best ask, or, when
        the asks ran out, at the last fill price (then the order stopped short: not FILLED)."""
        left = order.quote_qty - order.filled_quote
        best = self.books[sym.name].asks.best()
        if best is None:
            best = last
        return best > 0 and left >= best * sym.notional_mult

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
        locked = order.locked
        if locked:
            # Ledger.unlock, inlined
            ledger = self.ledger
            key = (order.account, sym.quote.code if order.side == BUY else sym.base.code)
            bal = ledger.balances[key]
            if bal[LOCKED] < locked:
                raise LedgerCorrupted(f"order {order.id} holds more than is locked")
            bal[LOCKED] -= locked
            bal[AVAILABLE] += locked
            ledger.journal.append(
                _new_posting(
                    Posting,
                    (key[0], LOCKED, key[0], AVAILABLE, key[1], locked, "order_unlock", order.id),
                )
            )
            ledger.touched.add(key)
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
