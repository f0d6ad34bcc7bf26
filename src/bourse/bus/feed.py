"""From the engine to the bus: ``feed(engine, bus)`` publishes every committed batch.

The engine applies the next batch while one commits, so the feed is a staged listener
(``Engine.subscribe_staged``): it reads the books and balances right after the batch is
applied, exactly as the batch left them, and publishes once the batch committed. It only looks at what
the batch touched (a dict lookup per changed order, the best ``TOP_LEVELS`` levels of each
touched book, one entry per touched balance), then the bus hands the event off without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bourse.bus.events import TOP_LEVELS, BalanceUpdate, BookUpdate, Committed
from bourse.bus.port import Bus
from bourse.domain.ledger import (
    AVAILABLE,
    P_AMOUNT,
    P_ASSET,
    P_FROM_ACCOUNT,
    P_FROM_BUCKET,
    P_KIND,
    P_TO_ACCOUNT,
    P_TO_BUCKET,
)
from bourse.domain.orders import BUY
from bourse.engine import Engine
from bourse.engine.changes import BatchChanges


def capture(engine: Engine, changes: BatchChanges) -> Committed:
    """The ``Committed`` event of the batch the engine just committed (engine thread, locked,
    nothing of a later batch applied)."""
    return _committed(engine, changes, _books(engine, changes), _balances(changes))


def _committed(
    engine: Engine,
    changes: BatchChanges,
    books: dict[str, BookUpdate],
    balances: list[BalanceUpdate],
) -> Committed:
    return Committed(
        version=engine.batches,
        time=engine.clock(),
        changes=changes,
        books=books,
        balances=balances,
        commits=getattr(engine.store, "durable_commits", 0),
    )


def _books(engine: Engine, changes: BatchChanges) -> dict[str, BookUpdate]:
    books = engine.exchange.books
    touched: dict[str, tuple[dict[int, int], dict[int, int], list[int]]] = {}
    for order in changes.orders:
        if not order.price:  # market orders never rest
            continue
        book = books.get(order.symbol)
        if book is None:
            continue
        entry = touched.get(order.symbol)
        if entry is None:
            entry = touched[order.symbol] = ({}, {}, [0])
        side = book.bids if order.side == BUY else book.asks
        entry[0 if order.side == BUY else 1][order.price] = side.level_qty.get(order.price, 0)
        if order.created > entry[2][0]:
            entry[2][0] = order.created
    out = {}
    for symbol, (bids, asks, last) in touched.items():
        book = books[symbol]
        out[symbol] = BookUpdate(
            symbol,
            sorted(bids.items(), reverse=True),
            sorted(asks.items()),
            book.bids.depth(TOP_LEVELS),
            book.asks.depth(TOP_LEVELS),
            last[0],
        )
    return out


def _balances(changes: BatchChanges) -> list[BalanceUpdate]:
    if not changes.balances:
        return []
    moved: dict[tuple[int, str], list[Any]] = {}
    for p in changes.postings:
        asset, amount, kind = p[P_ASSET], p[P_AMOUNT], p[P_KIND]
        for account, bucket, sign in (
            (p[P_FROM_ACCOUNT], p[P_FROM_BUCKET], -1),
            (p[P_TO_ACCOUNT], p[P_TO_BUCKET], 1),
        ):
            entry = moved.get((account, asset))
            if entry is None:
                entry = moved[(account, asset)] = [0, 0, kind]
            entry[0 if bucket == AVAILABLE else 1] += sign * amount
            entry[2] = kind
    out = []
    for (account, asset), (available, locked) in changes.balances.items():
        d_avail, d_locked, kind = moved.get((account, asset), (0, 0, ""))
        out.append(BalanceUpdate(account, asset, available, locked, d_avail, d_locked, kind))
    return out


def feed(engine: Engine, bus: Bus) -> int:
    """Publish every batch ``engine`` commits from now on to ``bus``; return the version (batch
    count) at which the feed starts, read atomically with the subscription."""

    def stage(changes: BatchChanges) -> Callable[[], None]:
        # the books as this batch left them: the next batch may be applied before it commits
        books, balances = _books(engine, changes), _balances(changes)

        def publish() -> None:
            bus.publish(_committed(engine, changes, books, balances))

        return publish

    with engine.lock:
        engine.subscribe_staged(stage)
        return engine.batches


def announce(engine: Engine, bus: Bus) -> int:
    """``feed(engine, bus)``, and first an empty event at the engine's current version and the
    store's commit count: where a process that follows this engine starts. (The writer's
    versions start again at 0 when it restarts; a follower that still holds an older stream's
    events takes this one as a gap and reloads.)"""
    with engine.lock:
        bus.publish(
            Committed(
                version=engine.batches,
                time=engine.clock(),
                changes=BatchChanges(),
                commits=getattr(engine.store, "durable_commits", 0),
            )
        )
        return feed(engine, bus)
