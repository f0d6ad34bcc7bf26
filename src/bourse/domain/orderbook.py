"""Price-time priority order book.

Each side keeps a FIFO queue per price level and a sorted list of level keys whose *last*
element is the best price (bids keyed by price, asks by -price), so reading or dropping the
best level is O(1). Level quantities are kept as running totals for depth snapshots.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

from bourse.domain.orders import BUY, Order


class BookSide:
    __slots__ = ("levels", "keys", "sign", "level_qty")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 for bids, -1 for asks
        self.levels: dict[int, deque[Order]] = {}
        self.keys: list[int] = []
        self.level_qty: dict[int, int] = {}

    def best(self) -> int | None:
        keys = self.keys
        return self.sign * keys[-1] if keys else None

    def add(self, order: Order) -> None:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            self.levels[price] = deque((order,))
            self.level_qty[price] = order.remaining
            insort(self.keys, self.sign * price)
        else:
            level.append(order)
            self.level_qty[price] += order.remaining

    def drop_level(self, price: int) -> None:
        """Forget an emptied level."""
        del self.levels[price]
        del self.level_qty[price]
        keys = self.keys
        key = self.sign * price
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def remove(self, order: Order) -> None:
        """Remove a resting order (cancel)."""
        price = order.price
        level = self.levels[price]
        level.remove(order)
        self.level_qty[price] -= order.remaining
        if not level:
            self.drop_level(price)

    def depth(self, limit: int) -> list[tuple[int, int]]:
        """Best ``limit`` levels as (price, total remaining qty)."""
        sign, lq = self.sign, self.level_qty
        out = []
        for key in reversed(self.keys[-limit:] if limit < len(self.keys) else self.keys):
            price = sign * key
            out.append((price, lq[price]))
        return out

    def __len__(self) -> int:
        return len(self.keys)


class OrderBook:
    __slots__ = ("symbol", "bids", "asks", "orders")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids = BookSide(+1)
        self.asks = BookSide(-1)
        self.orders: dict[int, Order] = {}  # resting orders by id

    def side(self, side: int) -> BookSide:
        return self.bids if side == BUY else self.asks

    def opposite(self, side: int) -> BookSide:
        return self.asks if side == BUY else self.bids

    def rest(self, order: Order) -> None:
        (self.bids if order.side == BUY else self.asks).add(order)
        self.orders[order.id] = order

    def remove(self, order: Order) -> None:
        (self.bids if order.side == BUY else self.asks).remove(order)
        del self.orders[order.id]

    def best_bid(self) -> int | None:
        return self.bids.best()

    def best_ask(self) -> int | None:
        return self.asks.best()

    def is_crossed(self) -> bool:
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid >= ask
