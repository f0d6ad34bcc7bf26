"""The pipelined commit: batch N+1 is applied while batch N commits, and answered only after.

A store that holds one commit open (and, when told, fails it) makes the overlap certain: batch
N is committing while N+1 is applied. Then, on SQLite and PostgreSQL:

* nothing of N+1 is answered before N committed, and a reader (``engine.read``) waits for the
  commits instead of seeing N+1 (or N) uncommitted;
* a failed commit of N fails every command of N and N+1 (N+1 was applied on N's state), the
  engine rebuilds its state from the store, and neither batch left a trace there; the client
  ids of the failed orders are free again and dedupe as before once an order commits.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import pytest

from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.engine import Engine, EngineUnavailable
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges
from bourse.engine.handlers import HANDLERS
from bourse.sandbox.listings import USDT
from bourse.store.db import make_engine
from bourse.store.sql import SqlStore
from tests.support.traders import SYMBOL, two_traders

WAIT = 20.0  # seconds: every wait is bounded
QTY = 100_000  # 0.1 BTC


class GatedStore(SqlStore):
    """A real store whose next commit, once armed, waits for ``release`` and then commits or
    raises ``fail``."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.armed = False
        self.fail: Exception | None = None
        self.entered = threading.Event()
        self.release = threading.Event()

    def commit(self, changes: BatchChanges) -> None:
        if self.armed:
            self.armed = False
            self.entered.set()
            assert self.release.wait(WAIT)
            if self.fail is not None:
                raise self.fail
        super().commit(changes)


def _limit(account: int, side: int, price: int, client_id: str = "") -> c.PlaceOrder:
    return c.PlaceOrder(
        OrderRequest(account, SYMBOL.name, side, OrderType.LIMIT, QTY, price, client_id=client_id)
    )


class Applied:
    """Counts the commands the engine has applied in memory (their handlers wrapped)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for cls in (c.PlaceOrder, c.Transfer):
            monkeypatch.setitem(HANDLERS, cls, self._wrap(HANDLERS[cls]))

    def _wrap(self, handler: Any) -> Any:
        def counted(s: Any, cmd: Any, now: int) -> Any:
            try:
                return handler(s, cmd, now)
            finally:
                self.count += 1

        return counted


def _start(url: str) -> tuple[Engine, GatedStore, int, int]:
    store = GatedStore(make_engine(url))
    engine = Engine(store)
    buyer, seller = two_traders(engine)
    return engine.start(), store, buyer, seller


def _overlap(
    engine: Engine,
    store: GatedStore,
    applied: Applied,
    first: list[c.Command],
    second: list[c.Command],
) -> tuple[list[Future[Any]], list[Future[Any]]]:
    """Submit ``first`` (batch N, whose commit the store holds open), then ``second`` (N+1), and
    return once N+1 is applied in memory while N still commits."""
    store.armed = True
    want = applied.count + len(first) + len(second)
    futs_n = [engine.submit(cmd) for cmd in first]
    assert store.entered.wait(WAIT)
    futs_n1 = [engine.submit(cmd) for cmd in second]
    for _ in range(int(WAIT / 0.01)):
        if applied.count >= want:
            break
        threading.Event().wait(0.01)
    assert applied.count == want, "batch N+1 was not applied while N committed"
    assert not any(f.done() for f in futs_n + futs_n1), "answered before its commit"
    return futs_n, futs_n1


def _reader(engine: Engine, buyer: int) -> tuple[threading.Thread, list[int]]:
    """A thread reading the buyer's locked USDT through ``engine.read``."""
    seen: list[int] = []

    def read() -> None:
        seen.append(engine.read(lambda e: e.exchange.ledger.balances[(buyer, USDT.code)][1]))

    th = threading.Thread(target=read, daemon=True)
    th.start()
    return th, seen


def test_batches_overlap_and_reads_wait_for_their_commits(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, store, buyer, _seller = _start(migrated_url)
    applied = Applied(monkeypatch)
    try:
        futs_n, futs_n1 = _overlap(
            engine,
            store,
            applied,
            [_limit(buyer, BUY, 100_00, "n")],
            [_limit(buyer, BUY, 99_00, "n1")],
        )
        th, seen = _reader(engine, buyer)
        th.join(0.3)
        assert th.is_alive() and not seen, "a read saw uncommitted state"
        store.release.set()
        orders = [f.result(WAIT) for f in futs_n + futs_n1]
        th.join(WAIT)
        # the read came after both commits: both orders' locks, nothing less
        assert seen == [sum(o.locked for o in orders)]
        reloaded = Engine(SqlStore(make_engine(migrated_url)))
        assert {o.id for o in orders} <= set(reloaded.exchange.open_orders)
    finally:
        engine.stop()
        store.close()


def test_a_failed_commit_fails_its_batch_and_the_next_then_recovers(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, store, buyer, seller = _start(migrated_url)
    applied = Applied(monkeypatch)
    try:
        locked_before = engine.read(lambda e: e.exchange.ledger.balances[(buyer, USDT.code)][1])
        store.fail = RuntimeError("disk full")
        futs_n, futs_n1 = _overlap(
            engine,
            store,
            applied,
            [_limit(buyer, BUY, 100_00, "a")],
            [_limit(seller, SELL, 100_00, "b"), c.Transfer(buyer, seller, USDT.code, 5, "t")],
        )
        th, seen = _reader(engine, buyer)
        store.release.set()
        for fut in futs_n + futs_n1:
            with pytest.raises(EngineUnavailable, match="disk full"):
                fut.result(WAIT)
        th.join(WAIT)
        assert seen == [locked_before], "the reader saw state of a failed batch"
        # rebuilt from the store: neither batch left anything, in memory or in the database
        assert not engine.read(lambda e: dict(e.exchange.open_orders))
        reloaded = Engine(SqlStore(make_engine(migrated_url)))
        assert not reloaded.exchange.open_orders
        assert [k for k in reloaded.idempotency if k[0] != "deposit"] == []
        # the engine goes on; the failed client ids apply now, once, and dedupe from then on
        store.fail = None
        first = engine.execute(_limit(buyer, BUY, 100_00, "a"), WAIT)
        again = engine.execute(_limit(buyer, BUY, 100_00, "a"), WAIT)
        assert again.id == first.id
        trade = engine.execute(_limit(seller, SELL, 100_00, "b"), WAIT)
        assert trade.filled_qty == QTY
        reloaded = Engine(SqlStore(make_engine(migrated_url)))
        assert reloaded.idempotency[("order", buyer, "a")][1] == first.id
        assert reloaded.exchange.ledger.balances == engine.read(
            lambda e: e.exchange.ledger.balances
        )
    finally:
        engine.stop()
        store.close()


def test_a_store_down_before_a_batch_fails_the_batch_not_the_engine(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reload a batch starts with (a failed commit left the state stale, or another writer
    wrote) may meet the store down: that batch fails with a retryable error and the engine
    answers the next one once the store is back (it once died there, holding its lock, so every
    later request timed out)."""
    engine, store, buyer, _seller = _start(migrated_url)
    try:
        down = {"on": True}

        def unreachable(*_: Any, **__: Any) -> bool:
            if down["on"]:
                raise ConnectionError("the database is down")
            return True

        monkeypatch.setattr(store, "ensure_writer", unreachable, raising=False)
        with pytest.raises(EngineUnavailable, match="the database is down"):
            engine.execute(_limit(buyer, BUY, 100_00, "down"), WAIT)
        down["on"] = False
        order = engine.execute(_limit(buyer, BUY, 100_00, "down"), WAIT)
        assert order.id in engine.read(lambda e: dict(e.exchange.open_orders))
    finally:
        engine.stop()
        store.close()
