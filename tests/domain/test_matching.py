"""matching: every order type with full accounting, STP, cancels and refusals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bourse.domain.accounts import FEE_REVENUE
from bourse.domain.errors import (
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
from bourse.domain.ledger import P_KIND
from bourse.domain.orders import BUY, SELL, OrderStatus, OrderType, StpMode
from tests.support.market import A, B, C, Market, new_market

LIMIT = OrderType.LIMIT
MARKET = OrderType.MARKET
IOC = OrderType.IMMEDIATE_OR_CANCEL
FOK = OrderType.FILL_OR_KILL
MAKER = OrderType.LIMIT_MAKER
S = OrderStatus


def consistent(m: Market) -> None:
    """Ledger balanced, every locked bucket equals what its open orders hold, book uncrossed."""
    m.ledger.check()
    want: dict[tuple[int, str], int] = {}
    for o in m.ex.open_orders.values():
        sym = m.ex.symbols[o.symbol]
        asset = sym.quote.code if o.side == BUY else sym.base.code
        want[(o.account, asset)] = want.get((o.account, asset), 0) + o.locked
        if o.side == BUY:
            assert o.locked == sym.notional(o.price, o.remaining)
        else:
            assert o.locked == sym.base_units(o.remaining)
    for (acc, asset), (_, locked) in m.ledger.balances.items():
        assert locked == want.get((acc, asset), 0), (acc, asset)
    for book in m.ex.books.values():
        assert not book.is_crossed()
        for side in (book.bids, book.asks):
            for price, level in side.levels.items():
                assert side.level_qty[price] == sum(o.remaining for o in level)


@pytest.fixture
def mk(m: Market) -> Market:
    for acc in (A, B, C):
        m.fund(acc, "USDT", "1000000")
        m.fund(acc, "BTC", "100")
        m.fund(acc, "ETH", "1000")
    m.ledger.drain()
    yield m
    consistent(m)


# --- limit orders ------------------------------------------------------------------------------
def test_limit_rests_and_locks_exactly(mk: Market):
    buy = mk.place(A, BUY, price="30000", qty="0.5")
    sell = mk.place(B, SELL, price="31000", qty="0.25")
    assert buy.status is S.NEW and sell.status is S.NEW
    assert mk.bal(A, "USDT") == (mk.u("985000"), mk.u("15000"))
    assert mk.bal(B, "BTC") == (mk.u("99.75"), mk.u("0.25"))
    assert buy.locked == mk.u("15000") and sell.locked == mk.u("0.25")
    assert mk.ex.books["BTCUSDT"].bids.depth(5) == [(mk.price("30000"), mk.qty("0.5"))]
    assert mk.ex.trades == []


def test_price_time_priority(mk: Market):
    first = mk.place(A, SELL, price="30000", qty="0.1")
    second = mk.place(B, SELL, price="30000", qty="0.1")
    better = mk.place(A, SELL, price="29990", qty="0.1")
    taker = mk.place(C, BUY, price="30000", qty="0.25")
    assert taker.status is S.FILLED
    fills = [(t.seller_order, t.price, t.qty) for t in mk.ex.trades]
    assert fills == [
        (better.id, mk.price("29990"), mk.qty("0.1")),
        (first.id, mk.price("30000"), mk.qty("0.1")),
        (second.id, mk.price("30000"), mk.qty("0.05")),
    ]
    assert first.status is S.FILLED and better.status is S.FILLED
    assert second.status is S.PARTIALLY_FILLED and second.remaining == mk.qty("0.05")
    assert mk.ex.books["BTCUSDT"].asks.depth(5) == [(mk.price("30000"), mk.qty("0.05"))]


def test_limit_buy_price_improvement_is_refunded(mk: Market):
    mk.place(B, SELL, price="29000", qty="0.1")
    buy = mk.place(A, BUY, price="30000", qty="0.3")
    # paid 2900 for 0.1, the 100 improvement is back in available; 0.2 rests at 30000
    assert buy.status is S.PARTIALLY_FILLED
    assert buy.locked == mk.u("6000")
    assert mk.bal(A, "USDT") == (mk.u("1000000") - mk.u("2900") - mk.u("6000"), mk.u("6000"))
    assert mk.bal(A, "BTC") == (mk.u("100.1"), 0)
    kinds = [p[P_KIND] for p in mk.ledger.journal]
    assert "order_refund" in kinds


def test_limit_sell_taker_gets_the_maker_price(mk: Market):
    mk.place(A, BUY, price="31000", qty="0.1")
    sell = mk.place(B, SELL, price="30000", qty="0.1")
    assert sell.status is S.FILLED and sell.filled_quote == mk.u("3100")
    assert mk.bal(B, "USDT") == (mk.u("1003100"), 0)
    assert mk.bal(A, "USDT") == (mk.u("996900"), 0)


def test_other_symbol_scales(mk: Market):
    # ETHUSDT: price scale 2, qty scale 5 -> base_mult 1000, notional_mult 10
    mk.place(A, SELL, price="2000.5", qty="1.23456", symbol="ETHUSDT")
    mk.place(B, BUY, price="2001", qty="1.23456", symbol="ETHUSDT")
    assert mk.bal(B, "ETH") == (mk.u("1001.23456"), 0)
    assert mk.bal(A, "USDT") == (mk.u("1000000") + mk.u("2469.73728"), 0)
    assert mk.bal(B, "USDT") == (mk.u("1000000") - mk.u("2469.73728"), 0)


# --- market orders -----------------------------------------------------------------------------
def test_market_buy_by_qty_walks_levels(mk: Market):
    mk.place(B, SELL, price="30000", qty="0.1")
    mk.place(B, SELL, price="30100", qty="0.1")
    o = mk.place(A, BUY, MARKET, qty="0.15")
    assert o.status is S.FILLED and o.remaining == 0 and o.locked == 0
    assert o.filled_quote == mk.u("3000") + mk.u("1505")
    assert mk.bal(A, "USDT") == (mk.u("1000000") - mk.u("4505"), 0)


def test_market_buy_by_qty_short_of_liquidity(mk: Market):
    mk.place(B, SELL, price="30000", qty="0.1")
    o = mk.place(A, BUY, MARKET, qty="0.5")
    assert o.status is S.PARTIALLY_CANCELED and o.filled_qty == mk.qty("0.1")
    assert mk.bal(A, "USDT") == (mk.u("997000"), 0)


def test_market_buy_by_quote_leaves_dust_unlocked(mk: Market):
    mk.place(B, SELL, price="30000", qty="1")
    o = mk.place(A, BUY, MARKET, quote="100.00000001")
    # one qty unit (0.000001 BTC) costs 0.03 USDT: 3333 units for 99.99, the rest is dust
    assert o.filled_qty == 3333
    assert o.filled_quote == mk.u("99.99")
    assert o.status is S.FILLED and o.locked == 0
    assert mk.bal(A, "USDT") == (mk.u("1000000") - mk.u("99.99"), 0)
    assert mk.bal(A, "BTC") == (mk.u("100.003333"), 0)


def test_market_buy_by_quote_walks_levels(mk: Market):
    mk.place(B, SELL, price="100", qty="1")
    mk.place(C, SELL, price="200", qty="1")
    o = mk.place(A, BUY, MARKET, quote="300")
    assert o.status is S.FILLED and o.filled_qty == mk.qty("2") and o.locked == 0


def test_market_buy_by_quote_running_out_of_book_is_partially_canceled(mk: Market):
    mk.place(B, SELL, price="100", qty="1")
    o = mk.place(A, BUY, MARKET, quote="500")
    assert o.filled_qty == mk.qty("1")
    assert o.status is S.PARTIALLY_CANCELED
    assert mk.bal(A, "USDT") == (mk.u("999900"), 0)


def test_market_sell_by_qty(mk: Market):
    mk.place(A, BUY, price="30000", qty="0.1")
    mk.place(C, BUY, price="29000", qty="0.1")
    o = mk.place(B, SELL, MARKET, qty="0.3")
    assert o.status is S.PARTIALLY_CANCELED and o.filled_qty == mk.qty("0.2")
    assert mk.bal(B, "BTC") == (mk.u("99.8"), 0)
    assert mk.bal(B, "USDT") == (mk.u("1005900"), 0)


def test_market_sell_by_quote(mk: Market):
    mk.place(A, BUY, price="100", qty="1")
    o = mk.place(B, SELL, MARKET, quote="50.00000123")
    assert o.qty == mk.qty("0.5") and o.status is S.FILLED
    assert mk.bal(B, "USDT") == (mk.u("1000050"), 0)


def test_market_without_liquidity_changes_nothing(mk: Market):
    before = dict((k, list(v)) for k, v in mk.ledger.balances.items())
    for kwargs in ({"qty": "1"}, {"quote": "100"}):
        for side in (BUY, SELL):
            with pytest.raises(NoLiquidity):
                mk.place(A, side, MARKET, **kwargs)
    assert mk.ledger.balances == before and mk.ledger.journal == []
    assert mk.ex.next_order_id == 1


def test_market_by_qty_is_worth_at_least_the_minimum_order_value(mk: Market):
    """A MARKET order by quantity is valued at the best opposite price (MEXC's
    quoteAmountPrecisionMarket): 0.00003 BTC at 30000 is 0.9 USDT, under the 1 USDT minimum."""
    mk.place(B, SELL, price="30000", qty="0.1")
    mk.place(C, BUY, price="30000", qty="0.1", symbol="ETHUSDT")  # a bid elsewhere
    mk.place(A, BUY, price="29000", qty="0.1")
    before = {k: list(v) for k, v in mk.ledger.balances.items()}
    orders = mk.ex.next_order_id
    for side in (BUY, SELL):
        with pytest.raises(BelowMinNotional) as refused:
            mk.place(C, side, MARKET, qty="0.00003")
        assert refused.value.minimum == "1USDT"
    assert mk.ledger.balances == before and mk.ex.next_order_id == orders
    # at the minimum it trades: 0.000035 BTC at 30000 (buy) is 1.05, at 29000 (sell) 1.015
    assert mk.place(C, BUY, MARKET, qty="0.000035").status is S.FILLED
    assert mk.place(C, SELL, MARKET, qty="0.000035").status is S.FILLED
    consistent(mk)


# --- IOC / FOK / LIMIT_MAKER -------------------------------------------------------------------
def test_ioc_remainder_is_unlocked(mk: Market):
    mk.place(B, SELL, price="29000", qty="0.1")
    o = mk.place(A, BUY, IOC, price="30000", qty="0.3")
    assert o.status is S.PARTIALLY_CANCELED and o.filled_qty == mk.qty("0.1") and o.locked == 0
    assert mk.bal(A, "USDT") == (mk.u("997100"), 0)
    assert mk.ex.books["BTCUSDT"].bids.depth(5) == []
    o2 = mk.place(A, SELL, IOC, price="40000", qty="0.3")
    assert o2.status is S.CANCELED and mk.bal(A, "BTC") == (mk.u("100.1"), 0)


def test_ioc_filled(mk: Market):
    mk.place(B, SELL, price="29000", qty="1")
    o = mk.place(A, BUY, IOC, price="30000", qty="0.3")
    assert o.status is S.FILLED and o.locked == 0


def test_fok_is_all_or_nothing(mk: Market):
    mk.place(B, SELL, price="30000", qty="0.1")
    mk.place(C, SELL, price="30100", qty="0.1")
    killed = mk.place(A, BUY, FOK, price="30100", qty="0.25")
    assert killed.status is S.CANCELED and killed.filled_qty == 0
    assert mk.ex.trades == [] and mk.bal(A, "USDT") == (mk.u("1000000"), 0)
    killed = mk.place(A, BUY, FOK, price="30000", qty="0.2")  # price limit cuts it short
    assert killed.status is S.CANCELED
    done = mk.place(A, BUY, FOK, price="30100", qty="0.2")
    assert done.status is S.FILLED and len(mk.ex.trades) == 2
    assert mk.bal(A, "USDT") == (mk.u("1000000") - mk.u("6010"), 0)


def test_limit_maker(mk: Market):
    mk.place(B, SELL, price="30000", qty="0.1")
    before = dict((k, list(v)) for k, v in mk.ledger.balances.items())
    with pytest.raises(PostOnlyWouldTake):
        mk.place(A, BUY, MAKER, price="30000", qty="0.1")
    assert mk.ledger.balances == before
    o = mk.place(A, BUY, MAKER, price="29999.99", qty="0.1")
    assert o.status is S.NEW and o.id in mk.ex.open_orders


# --- self-trade prevention ---------------------------------------------------------------------
def test_stp_cancel_taker(mk: Market):
    other = mk.place(B, SELL, price="30000", qty="0.1")
    mine = mk.place(A, SELL, price="30000", qty="0.1")
    o = mk.place(A, BUY, price="30000", qty="0.3", stp=StpMode.CANCEL_TAKER)
    assert other.status is S.FILLED
    assert o.status is S.PARTIALLY_CANCELED and o.cancel_reason == "stp_cancel"
    assert o.filled_qty == mk.qty("0.1") and o.locked == 0 and o.id not in mk.ex.open_orders
    assert mine.status is S.NEW and mine.id in mk.ex.open_orders
    none = mk.place(A, BUY, price="30000", qty="0.1", stp=StpMode.CANCEL_TAKER)
    assert none.status is S.CANCELED


def test_stp_default_is_cancel_taker(mk: Market):
    mk.place(A, SELL, price="30000", qty="0.1")
    o = mk.place(A, BUY, price="30000", qty="0.1")
    assert o.status is S.CANCELED and o.stp is StpMode.CANCEL_TAKER


def test_stp_cancel_maker(mk: Market):
    mine = mk.place(A, SELL, price="30000", qty="0.1")
    other = mk.place(B, SELL, price="30000", qty="0.1")
    o = mk.place(A, BUY, price="30000", qty="0.1", stp=StpMode.CANCEL_MAKER)
    assert mine.status is S.CANCELED and mine.cancel_reason == "stp_cancel"
    assert other.status is S.FILLED and o.status is S.FILLED
    assert mk.bal(A, "BTC") == (mk.u("100.1"), 0)  # sold nothing to itself, bought 0.1 from B
    assert mk.ex.trades[0].seller_account == B


def test_stp_cancel_both(mk: Market):
    mine = mk.place(A, SELL, price="30000", qty="0.1")
    mk.place(B, SELL, price="30000", qty="0.1")
    o = mk.place(A, BUY, price="30000", qty="0.1", stp=StpMode.CANCEL_BOTH)
    assert mine.status is S.CANCELED and o.status is S.CANCELED
    assert mk.ex.trades == [] and mk.bal(A, "USDT") == (mk.u("1000000"), 0)
    assert mk.ex.books["BTCUSDT"].asks.depth(5) == [(mk.price("30000"), mk.qty("0.1"))]


def test_stp_none_allows_self_trade(mk: Market):
    mk.place(A, SELL, price="30000", qty="0.1")
    o = mk.place(A, BUY, price="30000", qty="0.1", stp=StpMode.NONE)
    assert o.status is S.FILLED
    assert mk.bal(A, "USDT") == (mk.u("1000000"), 0) and mk.bal(A, "BTC") == (mk.u("100"), 0)


def test_stp_market_by_qty_stops_at_own_order(mk: Market):
    mk.place(B, SELL, price="30000", qty="0.1")
    mk.place(A, SELL, price="30100", qty="0.1")
    mk.place(C, SELL, price="30200", qty="0.1")
    o = mk.place(A, BUY, MARKET, qty="0.3")
    assert o.filled_qty == mk.qty("0.1") and o.status is S.PARTIALLY_CANCELED and o.locked == 0


def test_stp_fok_counts_only_what_it_may_take(mk: Market):
    mk.place(A, SELL, price="30000", qty="0.1")
    mk.place(B, SELL, price="30000", qty="0.1")
    o = mk.place(A, BUY, FOK, price="30000", qty="0.2", stp=StpMode.CANCEL_MAKER)
    assert o.status is S.CANCELED and mk.ex.trades == []
    o = mk.place(A, BUY, FOK, price="30000", qty="0.1", stp=StpMode.CANCEL_MAKER)
    assert o.status is S.FILLED


# --- cancels -----------------------------------------------------------------------------------
def test_cancel_unlocks_exactly(mk: Market):
    o = mk.place(A, BUY, price="30000", qty="0.3", client_id="c1")
    mk.place(B, SELL, price="30000", qty="0.1")
    assert o.status is S.PARTIALLY_FILLED
    done = mk.ex.cancel(A, "BTCUSDT", 99, client_id="c1")
    assert done is o and o.status is S.PARTIALLY_CANCELED and o.locked == 0
    assert mk.bal(A, "USDT") == (mk.u("997000"), 0)
    with pytest.raises(OrderNotFound):
        mk.ex.cancel(A, "BTCUSDT", 99, order_id=o.id)
    s = mk.place(B, SELL, price="31000", qty="0.1")
    with pytest.raises(OrderNotFound):  # not B's... as A
        mk.ex.cancel(A, "BTCUSDT", 99, order_id=s.id)
    mk.ex.cancel(B, "BTCUSDT", 99, order_id=s.id, reason="user")
    assert s.status is S.CANCELED and s.cancel_reason == "user"
    assert mk.bal(B, "BTC") == (mk.u("99.9"), 0)
    with pytest.raises(UnknownSymbol):
        mk.ex.cancel(A, "NOPE", 99, order_id=1)


def test_cancel_from_anywhere_in_a_long_level(mk: Market):
    """A level keeps time priority whichever of its orders is cancelled: the first, the last,
    one near the back (looked for from there) and one deep in a long level (a full scan)."""
    level = [mk.place(A if i % 2 else B, BUY, price="30000", qty="0.01") for i in range(40)]
    for k in (39, 0, 36, 5, 20):  # last, first, near the back, deep, middle
        o = level.pop(k if k < len(level) else -1)
        mk.ex.cancel(o.account, "BTCUSDT", 9, order_id=o.id)
        assert o.status is S.CANCELED and o.locked == 0
        assert list(mk.ex.books["BTCUSDT"].bids.levels[o.price]) == level
    assert mk.ex.books["BTCUSDT"].bids.depth(1) == [(mk.price("30000"), mk.qty("0.35"))]
    taker = mk.place(C, SELL, price="30000", qty="0.35")
    assert taker.status is S.FILLED and [o.status for o in level] == [S.FILLED] * 35


def test_cancel_all(mk: Market):
    mine = [mk.place(A, BUY, price=p, qty="0.1") for p in ("100", "200", "300")]
    mine.append(mk.place(A, SELL, price="40000", qty="0.5"))
    theirs = mk.place(B, BUY, price="300", qty="0.1")
    out = mk.ex.cancel_all(A, "BTCUSDT", 5)
    assert [o.id for o in out] == [o.id for o in mine]
    assert all(o.status is S.CANCELED and o.locked == 0 for o in mine)
    assert mk.bal(A, "USDT") == (mk.u("1000000"), 0) and mk.bal(A, "BTC") == (mk.u("100"), 0)
    assert list(mk.ex.open_orders) == [theirs.id] and mk.ex.open_count[A] == 0
    assert mk.ex.cancel_all(A, "BTCUSDT", 6) == []


def test_cancel_account_across_symbols(mk: Market):
    mk.place(A, BUY, price="100", qty="0.1")
    mk.place(A, SELL, price="3000", qty="1", symbol="ETHUSDT")
    out = mk.ex.cancel_account(A, 7, reason="account_frozen")
    assert len(out) == 2 and {o.cancel_reason for o in out} == {"account_frozen"}
    assert mk.ex.open_orders == {}


# --- fees --------------------------------------------------------------------------------------
def test_fees_are_postings_to_fee_revenue(mf: Market):
    for acc in (A, B):
        mf.fund(acc, "USDT", "100000")
        mf.fund(acc, "BTC", "10")
    mf.place(B, SELL, price="30000", qty="0.1")  # maker 0.1%
    o = mf.place(A, BUY, price="30000", qty="0.1")  # taker 0.2%
    t = mf.ex.trades[0]
    assert t.buyer_fee == mf.u("0.0002")  # base, taker rate
    assert t.seller_fee == mf.u("3")  # quote, maker rate
    assert mf.bal(A, "BTC") == (mf.u("10.0998"), 0)
    assert mf.bal(B, "USDT") == (mf.u("102997"), 0)
    assert mf.bal(FEE_REVENUE, "BTC") == (mf.u("0.0002"), 0)
    assert mf.bal(FEE_REVENUE, "USDT") == (mf.u("3"), 0)
    assert o.status is S.FILLED and t.taker_side == BUY and not t.is_buyer_maker
    consistent(mf)


def test_fee_rounds_up_to_a_unit(mf: Market):
    for acc in (A, B):
        mf.fund(acc, "USDT", "100000")
        mf.fund(acc, "BTC", "10")
    mf.ex.fees.set_account(A, 0, 3)  # 3 ppm
    mf.place(B, SELL, price="10000", qty="0.0001")
    mf.place(A, BUY, price="10000", qty="0.0001")
    assert mf.ex.trades[0].buyer_fee == 1  # 10000 units * 3e-6 = 0.03 units, rounded up


# --- refusals change nothing -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"side": BUY, "price": "30000", "qty": "100"}, InsufficientFunds),
        ({"side": SELL, "price": "30000", "qty": "101"}, InsufficientFunds),
        ({"side": BUY, "price": "30000", "qty": "0.0000001"}, InvalidParameter),
        ({"side": BUY, "price": "30000", "qty": "0"}, BelowMinQuantity),
        ({"side": BUY, "price": "0", "qty": "1"}, InvalidParameter),
        ({"side": BUY, "price": "1", "qty": "0.5"}, BelowMinNotional),
        ({"side": BUY, "price": "30000", "qty": "1001"}, InvalidParameter),
        ({"side": BUY, "type": MARKET, "price": "1", "qty": "1"}, InvalidParameter),
        ({"side": BUY, "type": MARKET, "qty": "1", "quote": "5"}, MissingParameter),
        ({"side": BUY, "type": MARKET}, MissingParameter),
        ({"side": BUY, "type": IOC, "price": "1", "qty": "1", "quote": "5"}, InvalidParameter),
        ({"side": 7, "price": "30000", "qty": "0.1"}, InvalidParameter),
    ],
)
def test_refused_orders_change_nothing(mk: Market, kwargs, error):
    mk.place(B, SELL, price="50000", qty="1")
    before = {k: list(v) for k, v in mk.ledger.balances.items()}
    journal = list(mk.ledger.journal)
    with pytest.raises(error):
        mk.place(A, **kwargs)
    assert mk.ledger.balances == before and mk.ledger.journal == journal


def test_min_qty_and_unknown_symbol(mk: Market):
    mk.ex.add_symbol(replace(mk.sym(), min_qty=mk.qty("0.001")))
    req = mk.req(A, BUY, price="30000", qty="0.0009")
    with pytest.raises(BelowMinQuantity):
        mk.ex.place(req, 1)
    with pytest.raises(BelowMinQuantity):  # a market sell by quote that reaches too little
        mk.place(B, BUY, price="30000", qty="1")
        mk.place(A, SELL, MARKET, quote="20")
    with pytest.raises(UnknownSymbol):
        mk.ex.validate(replace(req, symbol="NOPE"))


def test_trading_flag_and_order_types(mk: Market):
    sym = mk.sym()
    mk.ex.add_symbol(replace(sym, trading=False))
    with pytest.raises(SymbolNotTrading):
        mk.place(A, BUY, price="30000", qty="0.1")
    mk.ex.add_symbol(replace(sym, order_types=("LIMIT",)))
    with pytest.raises(OrderTypeNotAllowed):
        mk.place(A, BUY, IOC, price="30000", qty="0.1")
    mk.place(A, BUY, price="30000", qty="0.1")


def test_too_many_open_orders():
    m = new_market(max_open_orders=2)
    m.fund(A, "USDT", "100000")
    m.place(A, BUY, price="100", qty="0.1")
    m.place(A, BUY, price="101", qty="0.1")
    with pytest.raises(TooManyOpenOrders):
        m.place(A, BUY, price="102", qty="0.1")
    o = m.place(A, BUY, IOC, price="102", qty="0.1")  # does not rest: allowed
    assert o.status is S.CANCELED
    m.ex.cancel(A, "BTCUSDT", 9, order_id=1)
    m.place(A, BUY, price="102", qty="0.1")


def test_drain_hands_over_changes(mk: Market):
    s = mk.place(B, SELL, price="30000", qty="0.1")
    b = mk.place(A, BUY, price="30000", qty="0.1")
    changed, trades = mk.ex.drain()
    assert set(changed) == {s.id, b.id} and len(trades) == 1
    assert mk.ex.drain() == ({}, [])


def test_restore_order_puts_it_back(mk: Market):
    o = mk.place(A, BUY, price="30000", qty="0.1")
    ex2 = new_market().ex
    ex2.restore_order(o)
    assert ex2.books["BTCUSDT"].best_bid() == o.price
    assert ex2.open_count[A] == 1 and ex2.next_order_id == o.id + 1


def test_corrupted_lock_is_not_a_domain_error(m: Market):
    """A broken invariant must not look like a clean refusal (the engine then reloads)."""
    from bourse.domain.errors import DomainError
    from bourse.domain.ledger import LedgerCorrupted

    m.fund(A, "USDT", "100000")
    o = m.place(A, BUY, price="30000", qty="0.1")
    m.ledger.balances[(A, "USDT")][1] -= 1  # someone broke the books
    with pytest.raises(LedgerCorrupted) as err:
        m.ex.cancel(A, "BTCUSDT", 9, order_id=o.id)
    assert not isinstance(err.value, DomainError)


def test_plain_string_order_type(mk: Market):
    req = replace(mk.req(A, BUY, price="30000", qty="0.1"), type="LIMIT")
    o = mk.ex.place(req, 5)
    assert o.type is OrderType.LIMIT and o.status is S.NEW
    with pytest.raises(OrderTypeNotAllowed):
        mk.ex.place(replace(req, type="STOP_LOSS"), 6)
