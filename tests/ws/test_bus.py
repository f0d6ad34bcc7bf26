"""The bus: committed batches reach asyncio subscribers in order, with the touched book levels
and balances; a subscriber that falls behind is dropped without blocking the publisher."""

from __future__ import annotations

import asyncio

from bourse.bus import Committed, InProcessBus, feed
from bourse.domain.accounts import AccountKind
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.memory import MemoryStore

#: 50,000.00 USDT and 0.1 BTC in BTCUSDT's units
P, Q = 5_000_000, 100_000


def _engine() -> tuple[Engine, int, int]:
    engine = Engine(MemoryStore())
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    a, b = (x.id for x in engine.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2))
    engine.apply_batch_now(
        [
            c.CreditDeposit(a, "USDT", 10**15, "a"),
            c.CreditDeposit(b, "BTC", 10**15, "b"),
        ]
    )
    return engine, a, b


def _order(account: int, side: int, price: int, qty: int) -> c.PlaceOrder:
    return c.PlaceOrder(OrderRequest(account, "BTCUSDT", side, OrderType.LIMIT, qty, price))


def test_batches_arrive_in_order_with_books_and_balances() -> None:
    engine, buyer, seller = _engine()
    bus = InProcessBus()

    async def run() -> list[Committed]:
        sub = bus.subscribe()
        start = feed(engine, bus)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, engine.apply_batch_now, [_order(buyer, BUY, P, 5 * Q)])
        await loop.run_in_executor(None, engine.apply_batch_now, [_order(seller, SELL, P, 2 * Q)])
        got = []
        async for event in sub:
            got.append(event)
            if len(got) == 2:
                sub.close()
        assert got[0].version == start + 1
        return got

    first, second = asyncio.run(run())
    assert second.version == first.version + 1
    assert first.books["BTCUSDT"].bids == [(P, 5 * Q)]
    assert first.books["BTCUSDT"].top_bids == [(P, 5 * Q)]
    assert second.books["BTCUSDT"].bids == [(P, 3 * Q)]
    assert second.books["BTCUSDT"].asks == [(P, 0)]  # the taker never rested
    assert len(second.changes.trades) == 1
    locks = [u for u in first.balances if u.account == buyer]
    assert locks and locks[0].kind == "order_lock" and locks[0].locked_change > 0
    assert locks[0].available_change == -locks[0].locked_change


def test_a_slow_subscriber_is_dropped_and_the_others_keep_going() -> None:
    engine, buyer, _ = _engine()
    bus = InProcessBus()

    async def run() -> tuple[bool, int]:
        slow = bus.subscribe(maxsize=3)
        fast = bus.subscribe()
        feed(engine, bus)
        for i in range(10):  # published without the subscribers' loop getting a turn
            engine.apply_batch_now([_order(buyer, BUY, P - i, Q)])
        n = 0
        async for _ in fast:
            n += 1
            if n == 10:
                fast.close()
        return slow.dropped, n

    dropped, n = asyncio.run(run())
    assert dropped and n == 10
    assert bus.subscribers == 0
