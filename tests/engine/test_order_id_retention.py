"""How long an order's client id (``newClientOrderId``) stays reserved (``engine.idempotency``),
on a real store, SQLite and PostgreSQL, with a controlled clock: for as long as its order is
open, then for the retention window after the order closed (a retry returns the order, other
parameters are refused), then it is forgotten (a reuse places a new order) in memory and in the
store; a restart keeps exactly these rules; every other scope keeps its keys for ever; two
retries racing at the window's edge place at most one order."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import select

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import IdempotencyConflict
from bourse.domain.orders import BUY, Order, OrderRequest, OrderStatus, OrderType
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.idempotency import DEFAULT_RETENTION_MS as WINDOW
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.store import tables as t
from bourse.store.queries import Queries
from bourse.store.sql import SqlStore

SYMBOL = SYMBOLS[0]
T0 = 1_700_000_000_000
DAY = 86_400_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _buy(account: int, client_id: str, price: int = 2_000_000) -> c.PlaceOrder:
    req = OrderRequest(account, SYMBOL.name, BUY, OrderType.LIMIT, 1000, price, client_id=client_id)
    return c.PlaceOrder(req)


def _place(engine: Engine, account: int, client_id: str, price: int = 2_000_000) -> Order:
    order: Order = engine.apply_batch_now([_buy(account, client_id, price)])[0]
    return order


def _setup(store: SqlStore, clock: Clock) -> tuple[Engine, int]:
    engine = Engine(store, clock=clock)
    engine.apply_batch_now([*(c.AddAsset(x) for x in ASSETS), c.AddSymbol(SYMBOL)])
    (acc,) = engine.apply_batch_now([c.OpenAccount(AccountKind.USER)])
    engine.apply_batch_now([c.CreditDeposit(acc.id, "USDT", 10**16, "funding")])
    return engine, acc.id


def _rows(store: SqlStore, scope: str = "order") -> dict[tuple[int, str], int]:
    """(account, client id) -> result id of the store's keys of ``scope``."""
    i = t.idempotency.c
    q = select(i.account_id, i.client_id, i.result_id).where(i.scope == scope)
    with store.engine.connect() as conn:
        return {(r[0], r[1]): r[2] for r in conn.execute(q)}


def _tick(engine: Engine, account: int) -> None:
    """Any batch (a deposit): expiry runs at the end of each."""
    engine.apply_batch_now([c.CreditDeposit(account, "USDT", 1, f"tick-{engine.clock()}")])


def test_an_open_order_keeps_its_client_id_however_old(store: SqlStore) -> None:
    clock = Clock()
    engine, a = _setup(store, clock)
    resting = _place(engine, a, "rest")
    clock.now += 30 * DAY
    _tick(engine, a)
    for e in (engine, Engine(store, clock=clock)):  # and after a restart
        assert _place(e, a, "rest").id == resting.id
        with pytest.raises(IdempotencyConflict):
            _place(e, a, "rest", price=2_000_001)
    assert _rows(store)[(a, "rest")] == resting.id
    restarted = Engine(store, clock=clock)
    (gone,) = restarted.apply_batch_now([c.CancelOrder(a, SYMBOL.name, client_id="rest")])
    assert gone.id == resting.id and gone.status is OrderStatus.CANCELED
    # the window starts now, when the order closed: a retry still answers it
    clock.now += WINDOW - 1
    again = _place(restarted, a, "rest")
    assert again.id == resting.id and again.status is OrderStatus.CANCELED


def test_a_closed_order_keeps_its_client_id_for_the_window_then_a_reuse_is_a_new_order(
    store: SqlStore,
) -> None:
    clock = Clock()
    engine, a = _setup(store, clock)
    first = _place(engine, a, "c1")
    clock.now += 5_000
    engine.apply_batch_now([c.CancelOrder(a, SYMBOL.name, client_id="c1")])
    closed_at = clock.now
    clock.now = closed_at + WINDOW - 1  # the last moment of the window
    for e in (engine, Engine(store, clock=clock)):
        retry = _place(e, a, "c1")
        assert retry.id == first.id and retry.status is OrderStatus.CANCELED
        with pytest.raises(IdempotencyConflict):
            _place(e, a, "c1", price=2_000_001)
    clock.now = closed_at + WINDOW  # past it: forgotten, even before any batch expired it
    assert ("order", a, "c1") in engine.idempotency
    second = _place(engine, a, "c1", price=2_000_001)  # other parameters are no conflict now
    assert second.id != first.id and second.status is OrderStatus.NEW
    assert _place(engine, a, "c1", price=2_000_001).id == second.id
    with pytest.raises(IdempotencyConflict):
        _place(engine, a, "c1")
    restarted = Engine(store, clock=clock)
    assert _place(restarted, a, "c1", price=2_000_001).id == second.id
    assert _rows(store)[(a, "c1")] == second.id  # the row was replaced
    # cancel by client id names the new order; query by it finds the newest of the two
    queries = Queries(store.engine)
    found = queries.order(a, SYMBOL.name, client_id="c1")
    assert found is not None and found.id == second.id
    (gone,) = restarted.apply_batch_now([c.CancelOrder(a, SYMBOL.name, client_id="c1")])
    assert gone.id == second.id
    old = queries.order(a, SYMBOL.name, order_id=first.id)
    assert old is not None and old.client_id == "c1"


def test_expired_keys_leave_memory_and_store_a_few_per_batch(store: SqlStore) -> None:
    clock = Clock()
    engine, a = _setup(store, clock)
    orders = [_place(engine, a, f"x{i}") for i in range(5)]
    engine.apply_batch_now([c.CancelOrder(a, SYMBOL.name, o.id) for o in orders[:4]])
    clock.now += WINDOW - 1
    _tick(engine, a)
    assert all(("order", a, f"x{i}") in engine.idempotency for i in range(5))
    clock.now += 1
    _tick(engine, a)  # the window of the four cancelled ones ran out
    assert [("order", a, f"x{i}") in engine.idempotency for i in range(5)] == [False] * 4 + [True]
    assert _rows(store) == {(a, "x4"): orders[4].id}
    # the store still finds an expired order by its client id (orders are kept)
    found = Queries(store.engine).order(a, SYMBOL.name, client_id="x0")
    assert found is not None and found.id == orders[0].id


def test_a_restart_loads_no_expired_key_and_deletes_its_row(store: SqlStore) -> None:
    clock = Clock()
    engine, a = _setup(store, clock)
    done = _place(engine, a, "done")
    resting = _place(engine, a, "resting")
    engine.apply_batch_now([c.CancelOrder(a, SYMBOL.name, done.id)])
    clock.now += 3 * WINDOW  # the engine is down meanwhile: nothing expired the key
    restarted = Engine(store, clock=clock)
    assert ("order", a, "done") not in restarted.idempotency
    assert ("order", a, "resting") in restarted.idempotency
    assert set(_rows(store)) == {(a, "done"), (a, "resting")}
    _tick(restarted, a)
    assert set(_rows(store)) == {(a, "resting")}
    assert _place(restarted, a, "done").id not in (done.id, resting.id)
    assert _place(restarted, a, "resting").id == resting.id


def test_every_other_scope_keeps_its_keys_for_ever(store: SqlStore) -> None:
    clock = Clock()
    engine, a = _setup(store, clock)
    (b,) = engine.apply_batch_now([c.OpenAccount(AccountKind.USER)])
    move = c.Transfer(a, b.id, "USDT", 10, client_id="t1")
    tid = engine.apply_batch_now([move])[0]
    _place(engine, a, "o1")
    engine.apply_batch_now([c.CancelOrder(a, SYMBOL.name, client_id="o1")])
    clock.now += 3650 * DAY
    _tick(engine, a)
    for e in (engine, Engine(store, clock=clock)):
        assert ("order", a, "o1") not in e.idempotency
        assert e.apply_batch_now([move]) == [tid]  # the transfer is not made again
        e.apply_batch_now([c.CreditDeposit(a, "USDT", 10**16, "funding")])  # nor the deposit
        assert e.wallet.ledger.available(b.id, "USDT") == 10
        assert ("deposit", 0, "funding") in e.idempotency
    assert (0, "funding") in _rows(store, "deposit") and (a, "t1") in _rows(store, "transfer")


def test_retention_is_at_least_the_replay_window(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="at least 65 s"):
        Engine(store, order_id_retention_ms=60_000)
    clock = Clock()
    _, a = _setup(store, clock)
    short = Engine(store, clock=clock, order_id_retention_ms=3_600_000)  # an operator's choice
    first = _place(short, a, "h")
    short.apply_batch_now([c.CancelOrder(a, SYMBOL.name, first.id)])
    clock.now += 3_600_000
    assert _place(short, a, "h").id != first.id


def _race(engine: Engine, commands: list[c.Command]) -> list[Any]:
    """Submit ``commands`` from as many threads at once; their results (or errors)."""
    gate = threading.Barrier(len(commands))
    futures: list[Future[Any] | None] = [None] * len(commands)

    def send(i: int) -> None:
        gate.wait()
        futures[i] = engine.submit(commands[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(commands))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out: list[Any] = []
    for f in futures:
        assert f is not None
        try:
            out.append(f.result(30))
        except Exception as exc:  # reported to the test
            out.append(exc)
    return out


@pytest.mark.parametrize("edge", [-1, 0, 1])
def test_retries_racing_at_the_window_edge_place_at_most_one_order(
    store: SqlStore, edge: int
) -> None:
    clock = Clock()
    engine, a = _setup(store, clock)
    ids = [f"r{i}" for i in range(8)]
    firsts = {cid: _place(engine, a, cid).id for cid in ids}
    engine.apply_batch_now([c.CancelOrder(a, SYMBOL.name, oid) for oid in firsts.values()])
    clock.now += WINDOW + edge
    engine.start()
    try:
        results = _race(engine, [_buy(a, cid) for cid in ids for _ in range(4)])
    finally:
        engine.stop()
    by_id: dict[str, set[int]] = {}
    for cid, result in zip([cid for cid in ids for _ in range(4)], results, strict=True):
        assert isinstance(result, Order), result
        by_id.setdefault(cid, set()).add(result.id)
    queries = Queries(store.engine)
    for cid in ids:
        (answered,) = by_id[cid]  # every retry of one id got the same order
        if edge < 0:
            assert answered == firsts[cid]
        else:
            assert answered != firsts[cid]
        placed = [o for o in queries.orders(a, SYMBOL.name, limit=1000) if o.client_id == cid]
        assert len(placed) == (1 if edge < 0 else 2)
    for e in (engine, Engine(store, clock=clock)):  # a restart answers the same orders
        for cid in ids:
            assert _place(e, a, cid).id == next(iter(by_id[cid]))
