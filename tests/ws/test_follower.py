"""A mirror keeps a read-only copy of another engine in step through the NATS bus: books
(every level), balances, open orders and trades as the writer commits them, on SQLite and
PostgreSQL; it refuses commands; after a gap in the stream it reloads from the store and
converges again; the writer's engine never waits for it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bourse.bus import Committed, InProcessBus, feed
from bourse.bus.feed import announce
from bourse.bus.mirror import Mirror
from bourse.domain.accounts import AccountKind
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType, Trade
from bourse.engine import Engine, EngineUnavailable
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store.db import make_engine
from bourse.store.sql import SqlStore
from tests.support.nats import nats_bus

P, Q = 5_000_000, 100_000


def _order(account: int, side: int, price: int, qty: int) -> c.PlaceOrder:
    return c.PlaceOrder(OrderRequest(account, "BTCUSDT", side, OrderType.LIMIT, qty, price))


def _view(engine: Engine, accounts: tuple[int, ...]) -> Any:
    def read(e: Engine) -> Any:
        book = e.exchange.books["BTCUSDT"]
        balances = {k: tuple(v) for k, v in e.exchange.ledger.balances.items() if k[0] in accounts}
        open_orders = sorted(
            (o.id, o.remaining, str(o.status)) for o in e.exchange.open_orders.values()
        )
        return book.bids.depth(10**6), book.asks.depth(10**6), balances, open_orders

    return engine.read(read)


def _until(pred: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "the mirror did not catch up"
        time.sleep(0.02)


def _trade(writer: Engine, a: int, b: int, i: int) -> None:
    writer.apply_batch_now(
        [_order(a, BUY, P - 100 * (i % 7), 3 * Q), _order(b, SELL, P + 100 * (i % 5), Q)]
    )
    writer.apply_batch_now([_order(b, SELL, P - 100 * (i % 7), Q)])  # crosses the bid


def test_follower_mirrors_the_writer_and_reloads_after_a_gap(migrated_url: str) -> None:
    dbs = make_engine(migrated_url), make_engine(migrated_url)
    writer = Engine(SqlStore(dbs[0]))
    writer.apply_batch_now([c.AddAsset(x) for x in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    a, b = (x.id for x in writer.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2))
    writer.apply_batch_now(
        [c.CreditDeposit(a, "USDT", 10**15, "a"), c.CreditDeposit(b, "BTC", 10**15, "b")]
    )
    mirror: Mirror | None = None
    try:
        with nats_bus() as bus:
            feed(writer, bus)
            for i in range(5):
                _trade(writer, a, b, i)  # before the mirror: it loads these from the store
            seen: list[Trade] = []
            copy = Engine(SqlStore(dbs[1]))
            mirror = Mirror(copy, bus, add_trades=seen.extend).start(timeout=15)
            assert mirror.ready and mirror.loads == 1
            t0 = time.perf_counter()
            for i in range(5, 25):
                _trade(writer, a, b, i)
            writer_s = time.perf_counter() - t0
            _until(lambda: copy.batches == writer.batches)
            assert _view(copy, (a, b)) == _view(writer, (a, b))
            assert mirror.applied >= 40
            assert len(seen) == len({t.id for t in seen}) >= 20  # every trade once
            assert writer_s < 10  # the writer never waited for anyone

            with pytest.raises(EngineUnavailable, match="follows another"):
                copy.execute(_order(a, BUY, P, Q))

            # a hole in the stream (events lost): the mirror reloads from the store
            # ... and drops the subscriptions of its hubs, whose version chains broke
            async def gap() -> bool:
                assert mirror is not None
                local = InProcessBus()
                sub = local.subscribe()
                mirror.attach(local)
                bus.publish(Committed(writer.batches + 5, 0, BatchChanges(), commits=10**9))

                async def drain() -> None:
                    async for _ in sub:
                        pass

                await asyncio.wait_for(drain(), 15)
                return sub.dropped

            assert asyncio.run(gap())
            _until(lambda: mirror is not None and mirror.loads >= 2)
            for i in range(25, 30):
                _trade(writer, a, b, i)
            _until(
                lambda: (
                    copy.batches == writer.batches and _view(copy, (a, b)) == _view(writer, (a, b))
                )
            )
    finally:
        if mirror is not None:
            mirror.close()
        writer.store.close()
        for db in dbs:
            db.dispose()


def test_a_restarted_writer_announces_where_followers_start(migrated_url: str) -> None:
    """The stream still holds another incarnation's events (versions and commit counts of a
    writer that ran before): the writer's announcement on start is where a new follower
    starts, so it is ready at once, at the writer's version, and follows from there."""
    dbs = make_engine(migrated_url), make_engine(migrated_url)
    writer = Engine(SqlStore(dbs[0]))
    writer.apply_batch_now([c.AddAsset(x) for x in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    a, b = (x.id for x in writer.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2))
    writer.apply_batch_now(
        [c.CreditDeposit(a, "USDT", 10**15, "a"), c.CreditDeposit(b, "BTC", 10**15, "b")]
    )
    mirror: Mirror | None = None
    try:
        with nats_bus() as bus:
            for v in (700, 701):  # the previous incarnation's last events
                bus.publish(Committed(v, 0, BatchChanges(), commits=900 + v))
            start = announce(writer, bus)
            _trade(writer, a, b, 0)
            copy = Engine(SqlStore(dbs[1]))
            mirror = Mirror(copy, bus).start(timeout=15)
            assert mirror.ready and mirror.loads == 1
            _until(lambda: copy.batches == writer.batches == start + 2)
            for i in range(1, 6):
                _trade(writer, a, b, i)
            _until(lambda: copy.batches == writer.batches)
            assert _view(copy, (a, b)) == _view(writer, (a, b))
            assert mirror.loads == 1
    finally:
        if mirror is not None:
            mirror.close()
        writer.store.close()
        for db in dbs:
            db.dispose()
