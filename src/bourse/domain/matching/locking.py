"""What a new order locks, decided before anything changes.

An order locks what it gives: a buy the quote it may spend, a sell the base it may sell. A
priced order's lock is exact (``price x qty`` or ``qty``); a MARKET order's is found by a dry
run over the book (``walk``), which also sizes FILL_OR_KILL orders. Every refusal that needs the
book or the balances (post-only, the open-order cap, no liquidity, insufficient funds) is raised
here, so that once the lock is posted nothing in matching can fail.
"""

from __future__ import annotations

from typing import Final

from bourse.domain.errors import (
    InsufficientFunds,
    NoLiquidity,
    PostOnlyWouldTake,
    TooManyOpenOrders,
)
from bourse.domain.ledger import AVAILABLE
from bourse.domain.matching.state import ExchangeState
from bourse.domain.matching.stp import ACTIONS
from bourse.domain.matching.validation import check_notional, check_qty
from bourse.domain.orderbook import BookSide
from bourse.domain.orders import BUY, OrderRequest, OrderType, StpMode
from bourse.domain.symbols import Symbol

_MARKET: Final = OrderType.MARKET
_LIMIT: Final = OrderType.LIMIT
_LIMIT_MAKER: Final = OrderType.LIMIT_MAKER


#: what an accepted order locks: (asset, amount, order quantity, the account's [available,
#: locked] bucket of the asset), and whether it crosses the book; a MARKET sell by quote amount
#: gets the quantity its amount reaches on the book (a plain tuple: this is on every order)
Lock = tuple[str, int, int, list[int], bool]


def order_lock(
    state: ExchangeState,
    sym: Symbol,
    opp: BookSide,
    req: OrderRequest,
    otype: OrderType,
    stp: StpMode,
) -> Lock:
    """The lock of an order about to be placed against ``opp`` and whether it crosses the
    book; raises if the order must be refused."""
    qty = req.qty
    if otype is _MARKET:
        asset, amount, qty = _market_lock(sym, opp, req, stp, state.stp_peers.get(req.account))
        crossing = True  # _market_lock refuses an empty side
    else:
        # keys are ``sign x price``, best last: one comparison serves both sides
        keys = opp.keys
        crossing = keys[-1] >= opp.sign * req.price if keys else False
        if otype is _LIMIT_MAKER and crossing:
            raise PostOnlyWouldTake("LIMIT_MAKER order would immediately match and take")
        if otype is _LIMIT or otype is _LIMIT_MAKER:  # it may rest: the open-order cap
            cap = state.max_open_orders
            if state.open_count.get(req.account, 0) >= cap:
                raise TooManyOpenOrders(f"at most {cap} open orders")
        if req.side == BUY:
            asset, amount = sym.quote.code, req.price * qty * sym.notional_mult
        else:
            asset, amount = sym.base.code, qty * sym.base_mult
    bal = state.ledger.balances.get((req.account, asset))
    if bal is None or bal[AVAILABLE] < amount:
        raise InsufficientFunds("insufficient balance for the order")
    return asset, amount, qty, bal, crossing


def _market_lock(
    sym: Symbol, opp: BookSide, req: OrderRequest, stp: StpMode, peers: set[int] | None
) -> tuple[str, int, int]:
    """A MARKET buy locks what its quantity costs on the book, or its quote budget; a MARKET
    sell locks its quantity, or the quantity its quote amount reaches on the book."""
    if not opp.keys:
        raise NoLiquidity("no opposing order")
    qty = req.qty
    if qty:
        check_market_value(sym, opp, qty)
    if req.side == BUY:
        if not qty:
            return sym.quote.code, req.quote_qty, 0
        fillable, cost = walk(sym, opp, req.account, stp, 0, qty, 0, peers)
        if fillable == 0:
            raise NoLiquidity("no opposing order")
        return sym.quote.code, cost, qty
    if not qty:
        qty, _ = walk(sym, opp, req.account, stp, 0, 0, req.quote_qty, peers)
        if qty == 0:
            raise NoLiquidity("no opposing order for that amount")
        check_qty(sym, qty)
    return sym.base.code, qty * sym.base_mult, qty


def check_market_value(sym: Symbol, opp: BookSide, qty: int) -> None:
    """A MARKET order by quantity is worth between the symbol's minimum and maximum order value
    (MEXC's ``quoteAmountPrecisionMarket``: 30002 below it), valued at the best opposite price,
    where it trades first (``opp`` holds at least one level)."""
    check_notional(sym, opp.sign * opp.keys[-1] * qty * sym.notional_mult)


def walk(
    sym: Symbol,
    opp: BookSide,
    account: int,
    stp: StpMode,
    limit: int,
    qty: int,
    quote: int,
    peers: set[int] | None = None,
) -> tuple[int, int]:
    """Dry-run a taker against ``opp`` (up to ``limit``, 0 for none) without changing anything.

    With ``qty``: how much of it could fill and what it would cost (quote ledger units).
    With ``quote``: how much quantity that quote amount reaches (rounded down), and its cost.
    Stops where self-trade prevention would stop the taker; skips orders it would cancel
    (the account's own and those of its STP group, ``peers``).
    """
    nm = sym.notional_mult
    sign = opp.sign
    limit_key = sign * limit
    cancel_taker, cancel_maker = ACTIONS[stp]
    filled = cost = 0
    for key in reversed(opp.keys):
        if limit and key < limit_key:
            break
        price = sign * key
        for maker in opp.levels[price]:
            mine = maker.account == account or (peers is not None and maker.account in peers)
            if mine and (cancel_taker or cancel_maker):
                if cancel_taker:
                    return filled, cost
                continue
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
