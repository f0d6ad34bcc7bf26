"""orderbook: price-time priority, best prices, level totals, removal."""

from __future__ import annotations

from bourse.domain.orderbook import OrderBook
from bourse.domain.orders import BUY, ORDER_FIELDS, SELL, Order, OrderType, StpMode


def order(oid: int, side: int, price: int, qty: int) -> Order:
    return Order(
        oid, 100, "X", side, OrderType.LIMIT, price, qty, 0, "", StpMode.NONE, "", None, oid
    )


def test_best_prices_and_depth():
    book = OrderBook("X")
    assert book.best_bid() is None and book.best_ask() is None
    for o in [
        order(1, BUY, 100, 5),
        order(2, BUY, 102, 1),
        order(3, BUY, 101, 2),
        order(4, BUY, 102, 3),
    ]:
        book.rest(o)
    for o in [order(5, SELL, 110, 4), order(6, SELL, 105, 1), order(7, SELL, 107, 2)]:
        book.rest(o)
    assert book.best_bid() == 102
    assert book.best_ask() == 105
    assert book.bids.depth(10) == [(102, 4), (101, 2), (100, 5)]
    assert book.asks.depth(2) == [(105, 1), (107, 2)]
    assert len(book.bids) == 3 and len(book.asks) == 3
    assert not book.is_crossed()
    assert set(book.orders) == {1, 2, 3, 4, 5, 6, 7}


def test_time_priority_within_level():
    book = OrderBook("X")
    for i in range(1, 5):
        book.rest(order(i, SELL, 100, i))
    assert [o.id for o in book.asks.levels[100]] == [1, 2, 3, 4]
    book.remove(book.orders[2])
    assert [o.id for o in book.asks.levels[100]] == [1, 3, 4]
    assert book.asks.level_qty[100] == 1 + 3 + 4


def test_remove_drops_empty_levels_anywhere():
    book = OrderBook("X")
    orders = [order(i, BUY, p, 1) for i, p in enumerate([100, 90, 95, 80], start=1)]
    for o in orders:
        book.rest(o)
    book.remove(orders[2])  # a middle level
    assert book.bids.depth(10) == [(100, 1), (90, 1), (80, 1)]
    book.remove(orders[0])  # the best level
    assert book.best_bid() == 90
    book.remove(orders[3])
    book.remove(orders[1])
    assert book.best_bid() is None and book.bids.levels == {} and book.bids.level_qty == {}
    assert book.orders == {}


def test_crossed_detection():
    book = OrderBook("X")
    book.rest(order(1, BUY, 100, 1))
    book.rest(order(2, SELL, 100, 1))
    assert book.is_crossed()


def test_side_helpers():
    book = OrderBook("X")
    assert book.side(BUY) is book.bids and book.opposite(BUY) is book.asks
    assert book.side(SELL) is book.asks and book.opposite(SELL) is book.bids


def test_order_copy_is_a_full_snapshot():
    import copy

    o = order(1, BUY, 100, 5)
    o.locked, o.cancel_reason, o.filled_qty = 7, "why", 2
    c = copy.copy(o)
    assert c is not o and type(c) is Order
    assert all(getattr(c, f) == getattr(o, f) for f in ORDER_FIELDS)
    c.remaining = 0
    assert o.remaining == 5
