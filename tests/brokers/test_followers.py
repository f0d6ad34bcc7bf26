"""``bus.followers``: followers wake on wanted batches, never hold up the engine, retry a bounded
number of times, and catch up on start; live accrual through them is idempotent, also across
a crash in the middle of an accrual, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bourse.bus.followers import Followers
from bourse.domain.accounts import AccountKind
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges
from bourse.services.brokers import rebates as rb
from bourse.services.brokers.rebates import has_attributed_trades
from bourse.store.repositories.rebates import RebateRepository
from tests.support.brokers import World


def _until(cond: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return bool(cond())


def _broker(world: World, name: str) -> int:
    acc = world.open(fund=False)
    b = world.brokers.registry.apply(acc, "API", name)
    world.brokers.registry.approve(b.id)
    return int(b.id)


def _trade(world: World, buyer: int, seller: int, broker: int | None) -> None:
    world.engine.execute(
        c.PlaceOrder(OrderRequest(seller, "BTCUSDT", SELL, OrderType.LIMIT, 100_000, 3_000_000))
    )
    world.engine.execute(
        c.PlaceOrder(
            OrderRequest(
                buyer, "BTCUSDT", BUY, OrderType.LIMIT, 100_000, 3_000_000, broker_id=broker
            )
        )
    )


def test_followers_wake_only_on_wanted_batches_and_catch_up_on_start() -> None:
    runs: list[int] = []
    followers = Followers(idle=60)
    f = followers.add("count", lambda: runs.append(1), wants=lambda ch: bool(ch.trades))
    with pytest.raises(ValueError):
        followers.add("count", lambda: None)
    followers.start()
    try:
        assert _until(lambda: len(runs) == 1)  # catch-up on start
        assert f.wait_idle(5)
        followers.on_batch(BatchChanges())  # not wanted
        time.sleep(0.1)
        assert len(runs) == 1
        followers.on_batch(BatchChanges(trades=[object()]))  # type: ignore[list-item]
        assert _until(lambda: len(runs) == 2)
    finally:
        followers.stop()
    assert f.stats.runs == 2 and f.stats.failures == 0


def test_a_failing_follower_retries_a_bounded_number_of_times() -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError("database away")

    def broken() -> None:
        raise RuntimeError("always")

    followers = Followers(retries=3, backoff=0.01, idle=60)
    ok = followers.add("flaky", flaky)
    bad = followers.add("broken", broken)
    followers.start()
    try:
        assert _until(lambda: ok.stats.runs == 1)
        assert ok.stats.failures == 2 and len(calls) == 3
        assert _until(lambda: bad.stats.given_up == 1)
        assert bad.stats.failures == 4  # 1 + 3 retries, then it waits for the next batch
        time.sleep(0.1)
        assert bad.stats.failures == 4
        assert "always" in bad.stats.last_error
    finally:
        followers.stop()


def test_a_slow_follower_never_holds_up_the_engine(world: World) -> None:
    release = threading.Event()
    followers = Followers(idle=60)
    slow = followers.add("slow", lambda: release.wait(10))
    followers.attach(world.engine).start()
    world.engine.start()
    try:
        # the follower is stuck in its run; commands still commit at full speed
        t0 = time.monotonic()
        for _ in range(20):
            world.engine.execute(c.OpenAccount(AccountKind.USER))
        assert time.monotonic() - t0 < 2.0
    finally:
        release.set()
        followers.stop()
        world.engine.stop()
    assert slow.stats.runs >= 1


def test_live_accrual_follows_fills_exactly_once(world: World) -> None:
    a = _broker(world, "A")
    b1, s1 = world.users[0], world.users[1]
    followers = Followers(idle=60)
    followers.add("rebates", world.brokers.accrue, wants=has_attributed_trades)
    followers.attach(world.engine).start()
    world.engine.start()
    try:
        for _ in range(5):
            _trade(world, b1, s1, a)
        _trade(world, b1, s1, None)  # unattributed: no rebate, no wake-up needed
        assert _until(lambda: rb.records(world.db, a)[0] == 5)
        # running it again by hand (the CLI, the daily job) adds nothing
        assert world.brokers.accrue().records == 0
        assert rb.records(world.db, a)[0] == 5
    finally:
        followers.stop()
        world.engine.stop()


def test_a_crash_mid_accrual_commits_nothing_and_the_next_run_counts_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _broker(world, "A")
    for _ in range(3):
        _trade(world, world.users[0], world.users[1], a)

    def crash(*_: Any) -> None:
        raise RuntimeError("killed after the rows, before the cursor")

    with monkeypatch.context() as m:
        m.setattr(RebateRepository, "set_cursor", staticmethod(crash))
        with pytest.raises(RuntimeError):
            world.brokers.accrue()
    assert rb.records(world.db, a)[0] == 0  # the chunk was one transaction
    # the follower catches up on start from what is unaccrued
    followers = Followers(idle=60)
    f = followers.add("rebates", world.brokers.accrue, wants=has_attributed_trades)
    followers.start()
    try:
        assert _until(lambda: f.stats.runs >= 1)
    finally:
        followers.stop()
    assert rb.records(world.db, a)[0] == 3
    # a cursor that lags (a crash after an older commit) re-reads trades: still once each
    with RebateRepository(world.db).begin() as conn:
        RebateRepository.set_cursor(conn, rb.CURSOR, 0)
    assert world.brokers.accrue().records == 0
    assert rb.records(world.db, a)[0] == 3


def test_concurrent_accruals_count_each_trade_once(world: World) -> None:
    """Several accruals at once (the follower, the CLI, another process) against a stream of
    fills: on SQLite they take turns (BEGIN IMMEDIATE), on PostgreSQL an advisory lock."""
    a = _broker(world, "A")
    world.engine.start()
    stop = threading.Event()
    errors: list[BaseException] = []

    def accruer() -> None:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                # ``_accrue`` skips the in-process lock: as if each thread were a process
                rb._accrue(world.db, world.clock, 3, 10_000)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=accruer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(12):
            _trade(world, world.users[i % 2], world.users[2 + i % 2], a)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        world.engine.stop()
    assert errors == []
    rb.accrue(world.db, clock=world.clock)
    total, rows = rb.records(world.db, a, page_size=1000)
    assert total == 12 and len({r["trade_id"] for r in rows}) == 12
