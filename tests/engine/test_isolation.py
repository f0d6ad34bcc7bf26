"""One bad command does not fail the other commands of its batch (``Engine._recover``).

On SQLite and PostgreSQL, with a real engine and its pipeline: a batch of concurrent commands
holds one the store refuses (a trigger refuses its order row, as a database refuses a value out
of range or a text it cannot store) or one whose handler raises. The engine reloads, commits the
commands again one at a time, refuses only the one that fails alone (``CommandFailed``) and
answers every other after its own commit: the ledger audits clean, the store holds what the
engine holds, a retried client id answers the first order, and the refused command's client id
and replay key are free. A failure of the store itself (down, the reload failing, the writer
lock lost, every batch refused) still fails the batch, after a bounded number of commits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine as Db

from bourse.domain.ledger_check import audit
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.engine import CommandFailed, Engine, EngineUnavailable
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges, Snapshot
from bourse.engine.crash import Fault, InjectedFault
from bourse.engine.engine import ISOLATE_STREAK
from bourse.engine.handlers import HANDLERS
from bourse.sandbox.listings import USDT
from bourse.store.db import make_engine
from bourse.store.ledger_check import ledger_figures
from bourse.store.sql import SqlStore
from tests.support.traders import SYMBOL, two_traders

WAIT = 20.0  # seconds: every wait is bounded
QTY = 100_000  # 0.1 BTC
POISON = "poison"  # the client id whose order row the store refuses


class Store(SqlStore):
    """A real store that counts the commits it is asked for; once ``hold`` is set, the next
    waits for ``release``; ``fail(changes)``, if set, says what a commit raises instead."""

    def __init__(self, db: Db) -> None:
        super().__init__(db)
        self.asked = 0
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail: Callable[[BatchChanges], Exception | None] | None = None
        self.load_fails: Exception | None = None

    def commit(self, changes: BatchChanges) -> None:
        self.asked += 1
        if self.hold:
            self.hold = False
            self.entered.set()
            assert self.release.wait(WAIT)
        failure = self.fail(changes) if self.fail is not None else None
        if failure is not None:
            raise failure
        super().commit(changes)

    def load(self) -> Snapshot:
        if self.load_fails is not None:
            raise self.load_fails
        return super().load()


def poison_orders(db: Db) -> None:
    """Make the database refuse the order row of client id ``POISON`` (a constraint)."""
    with db.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON orders WHEN NEW.client_id = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            )
            return
        conn.exec_driver_sql(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.client_id = 'poison' THEN RAISE EXCEPTION 'poisoned row' "
            "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER poison BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION poison()"
        )


def cure_orders(db: Db) -> None:
    with db.begin() as conn:
        conn.exec_driver_sql(
            "DROP TRIGGER poison"
            if conn.dialect.name == "sqlite"
            else "DROP TRIGGER poison ON orders"
        )


@dataclass
class World:
    db: Db
    store: Store
    engine: Engine
    buyer: int
    seller: int

    def check(self) -> None:
        """The ledger audits clean, and the store holds exactly what the engine holds."""
        assert audit(ledger_figures(self.db)) == []
        fresh = SqlStore(self.db)
        try:
            again = Engine(fresh)
        finally:
            fresh.close()
        held = self.engine.read(
            lambda e: (
                dict(e.exchange.ledger.balances),
                set(e.exchange.open_orders),
                dict(e.idempotency),
            )
        )
        assert (again.exchange.ledger.balances, set(again.exchange.open_orders)) == held[:2]
        assert dict(again.idempotency) == held[2]


@pytest.fixture
def world(migrated_url: str) -> Iterator[World]:
    """A started engine on a ``Store`` with BTCUSDT, a buyer holding USDT, a seller BTC."""
    db = make_engine(migrated_url)
    store = Store(db)
    engine = Engine(store)
    buyer, seller = two_traders(engine)
    engine.start()
    try:
        yield World(db, store, engine, buyer, seller)
    finally:
        engine.stop()
        store.close()
        db.dispose()


def _limit(account: int, side: int, price: int, client_id: str, replay: str = "") -> c.PlaceOrder:
    request = OrderRequest(
        account, SYMBOL.name, side, OrderType.LIMIT, QTY, price, client_id=client_id
    )
    return c.PlaceOrder(request, replay=replay)


class Applied:
    """Counts the commands the engine applied in memory (their handlers wrapped); a transfer
    with client id ``boom`` raises (a handler's bug), once ``boom`` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.boom = False
        for cls in (c.PlaceOrder, c.Transfer, c.CancelOrder):
            monkeypatch.setitem(HANDLERS, cls, self._wrap(HANDLERS[cls]))

    def _wrap(self, handler: Any) -> Any:
        def counted(s: Any, cmd: Any, now: int) -> Any:
            try:
                if self.boom and getattr(cmd, "client_id", "") == "boom":
                    raise KeyError("a handler's bug")
                return handler(s, cmd, now)
            finally:
                self.count += 1

        return counted

    def wait(self, want: int) -> None:
        for _ in range(int(WAIT / 0.01)):
            if self.count >= want:
                return
            threading.Event().wait(0.01)
        raise AssertionError(f"{self.count} commands applied, not {want}")


def _together(
    w: World, applied: Applied, first: list[c.Command], rest: list[c.Command]
) -> list[Future[Any]]:
    """Submit ``first`` (batch N, whose commit the store holds), then ``rest`` from as many
    threads at once (batch N+1, applied while N commits); release N; the futures, in order."""
    want = applied.count + len(first) + len(rest)
    w.store.hold = True
    futs = [w.engine.submit(cmd) for cmd in first]
    assert w.store.entered.wait(WAIT)
    start = threading.Barrier(len(rest))

    def send(cmd: c.Command) -> Future[Any]:
        start.wait(WAIT)
        return w.engine.submit(cmd)

    with ThreadPoolExecutor(len(rest)) as pool:
        futs += list(pool.map(send, rest))
    applied.wait(want)
    assert not any(f.done() for f in futs), "answered before its commit"
    w.store.release.set()
    for f in futs:
        f.exception(WAIT)  # settled, one way or the other
    return futs


@pytest.mark.parametrize("where", ["committing", "applied on top"])
def test_a_row_the_store_refuses_fails_only_its_command(
    world: World, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The poisoned order is in batch N (N and N+1 fail, N+1 applied on top of it) or in N+1
    (N commits): either way, only the poisoned order is refused."""
    w, b, s = world, world.buyer, world.seller
    applied = Applied(monkeypatch)
    poison_orders(w.db)
    poisoned = _limit(b, BUY, 99_00, POISON, replay="r-poison")
    maker = _limit(b, BUY, 100_00, "n")
    order = _limit(b, BUY, 98_00, "g1")
    transfer = c.Transfer(b, s, USDT.code, 5, "t1")
    rest: list[c.Command] = [
        order,
        _limit(s, SELL, 100_00, "cross"),  # trades with "n", whichever is applied first
        _limit(s, SELL, 120_00, "g2", replay="r-g2"),
        transfer,
        _limit(b, BUY, 97_00, "g3"),
    ]
    if where == "committing":
        first, rest = [poisoned], [maker, *rest]
    else:
        first, rest = [maker], [*rest, poisoned]
    futs = _together(w, applied, first, rest)
    by_cmd = dict(zip(first + rest, futs, strict=True))
    with pytest.raises(CommandFailed, match="poisoned row"):
        by_cmd.pop(poisoned).result(0)
    results = {cmd: fut.result(0) for cmd, fut in by_cmd.items()}  # every other one committed
    assert not w.store.writer_lost.is_set(), "a refused row cost the writer lock"
    w.check()
    # a retry of a committed command answers its first result; nothing moves twice
    before = w.engine.read(lambda e: dict(e.exchange.ledger.balances))
    for cmd in (maker, order, transfer):
        again = w.engine.execute(cmd, WAIT)
        assert getattr(again, "id", again) == getattr(results[cmd], "id", results[cmd])
    assert w.engine.read(lambda e: dict(e.exchange.ledger.balances)) == before
    # the refused command left nothing: its client id and replay key apply once the row can be
    cure_orders(w.db)
    placed = w.engine.execute(poisoned, WAIT)
    assert placed.client_id == POISON
    assert placed.id in w.engine.read(lambda e: set(e.exchange.open_orders))
    w.check()


def test_a_command_whose_handler_raises_fails_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Applying one command raises (a bug) in the open batch N+1: N commits, every command of
    N+1 but that one is committed one at a time; outside the pipeline (``apply_batch_now``)
    too."""
    w, b, s = world, world.buyer, world.seller
    applied = Applied(monkeypatch)
    applied.boom = True
    boom = c.Transfer(b, s, USDT.code, 7, "boom")
    rest = [
        _limit(b, BUY, 98_00, "h1"),
        c.Transfer(b, s, USDT.code, 3, "t2"),
        boom,
        _limit(b, BUY, 97_00, "h2"),
    ]
    want = applied.count + 1 + rest.index(boom) + 1  # up to the bug
    w.store.hold = True
    futs = [w.engine.submit(_limit(b, BUY, 100_00, "m"))]
    assert w.store.entered.wait(WAIT)
    futs += [w.engine.submit(cmd) for cmd in rest]
    applied.wait(want)
    w.store.release.set()
    with pytest.raises(CommandFailed, match="a handler's bug"):
        futs.pop(1 + rest.index(boom)).result(WAIT)
    for fut in futs:
        fut.result(WAIT)
    w.check()
    # the same without the engine thread: the batch runs on the caller's thread
    w.engine.stop()
    asked = w.store.asked
    batch: list[c.Command] = [c.Transfer(b, s, USDT.code, 1, "u1"), boom]
    batch.append(c.Transfer(b, s, USDT.code, 2, "u2"))
    with pytest.raises(CommandFailed, match="a handler's bug"):
        w.engine.apply_batch_now(batch)
    assert w.store.asked - asked == 2, "not one commit for each command that applies alone"
    keys = w.engine.read(lambda e: dict(e.idempotency))
    assert ("transfer", b, "u1") in keys and ("transfer", b, "u2") in keys
    assert ("transfer", b, "boom") not in keys
    w.check()


def _down(dialect: str) -> Exception:
    """The error a store that is out of reach raises."""
    if dialect == "sqlite":
        return sqlite3.OperationalError("disk I/O error")
    return psycopg.OperationalError("the connection is lost")


def _refusal(dialect: str) -> Exception:
    """The error a database raises for a row it refuses."""
    if dialect == "sqlite":
        return sqlite3.IntegrityError("refused")
    return psycopg.IntegrityError("refused")


def _batch(w: World, applied: Applied, commands: list[c.Command]) -> list[BaseException | None]:
    """``commands`` in one batch (applied while a batch of one transfer commits); each one's
    error, in order."""
    want = applied.count + 1 + len(commands)
    w.store.hold = True
    w.engine.submit(c.Transfer(w.buyer, w.seller, USDT.code, 1, ""))
    assert w.store.entered.wait(WAIT)
    futs = [w.engine.submit(cmd) for cmd in commands]
    applied.wait(want)
    w.store.release.set()
    return [f.exception(WAIT) for f in futs]


def _orders(w: World, n: int, tag: str) -> list[c.Command]:
    return [_limit(w.buyer, BUY, 90_00 - i, f"{tag}{i}") for i in range(n)]


def test_a_store_that_is_down_fails_the_batch_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that fails because the store failed is not tried again command by command."""
    w = world
    w.engine.execute(c.Transfer(w.buyer, w.seller, USDT.code, 1, "warm"), WAIT)
    down = _down(w.store.dialect)
    w.store.fail = lambda ch: down if ch.orders else None
    asked = w.store.asked
    errors = _batch(w, Applied(monkeypatch), _orders(w, 6, "d"))
    assert all(type(e) is EngineUnavailable for e in errors), errors
    assert w.store.asked - asked == 2, "the failed batch was committed again"  # the held one, it
    w.store.fail = None
    w.check()
    assert w.engine.execute(_orders(w, 1, "d")[0], WAIT).client_id == "d0"


def test_isolation_stops_when_the_store_refuses_every_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that refuses every batch: ``ISOLATE_STREAK`` commands in a row fail alone, then
    the rest fail at once (no command is committed again and again)."""
    w = world
    refusal = _refusal(w.store.dialect)
    w.store.fail = lambda ch: refusal if ch.orders else None
    asked = w.store.asked
    errors = _batch(w, Applied(monkeypatch), _orders(w, 10, "e"))
    assert [type(e) for e in errors] == [CommandFailed] * (ISOLATE_STREAK - 1) + [
        EngineUnavailable
    ] * (10 - ISOLATE_STREAK + 1), errors
    assert w.store.asked - asked == 2 + ISOLATE_STREAK  # held, the batch, each one tried alone
    w.store.fail = None
    w.check()


@pytest.mark.parametrize("why", ["reload fails", "writer lock lost"])
def test_no_command_alone_when_the_store_cannot_go_on(
    world: World, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    """A refused batch whose reload then fails, or whose store lost the writer lock, fails
    every command, as before: nothing is committed again."""
    w = world
    refusal = _refusal(w.store.dialect)
    w.store.fail = lambda ch: refusal if ch.orders else None
    if why == "reload fails":
        w.store.load_fails = _down(w.store.dialect)
    else:
        w.store.writer_lost.set()
    asked = w.store.asked
    errors = _batch(w, Applied(monkeypatch), _orders(w, 5, "f"))
    assert all(type(e) is EngineUnavailable for e in errors), errors
    assert w.store.asked - asked == 2
    w.store.fail = w.store.load_fails = None
    w.store.writer_lost.clear()
    assert w.engine.execute(_orders(w, 1, "f")[0], WAIT).client_id == "f0"
    w.check()


def test_a_bug_closing_a_command_alone_leaves_nothing_of_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the engine thread (``apply_batch_now``), closing a command run alone raises (a
    bug: it escapes, crash-only): that command, applied and not committed, is not left in the
    engine's state for readers to see and the next batch to commit (its caller was told it
    failed), though no crash handler reloads here."""
    w, b, s = world, world.buyer, world.seller
    w.engine.stop()
    applied = Applied(monkeypatch)
    applied.boom = True
    w.engine._fault = Fault(1)  # the next batch that closes raises: the first command alone
    batch: list[c.Command] = [c.Transfer(b, s, USDT.code, 1, "v1")]
    batch.append(c.Transfer(b, s, USDT.code, 7, "boom"))
    with pytest.raises(InjectedFault):
        w.engine.apply_batch_now(batch)
    w.engine._fault = None  # the bug is gone
    w.check()
    w.engine.apply_batch_now([c.Transfer(b, s, USDT.code, 2, "v2")])
    assert ("transfer", b, "v1") not in w.engine.read(lambda e: dict(e.idempotency))
    w.check()
