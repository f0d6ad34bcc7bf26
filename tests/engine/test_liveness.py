"""``engine.liveness``: the heartbeat's probe tells a stuck engine thread from an idle or busy one.

On SQLite and PostgreSQL, with a real engine and its pipeline:

* an idle engine answers every probe: it stays responsive;
* an engine thread stuck with no command of a caller in flight (in a handler, in a commit, or
  waiting for the lock a reader holds) stops being responsive within ``WITHIN`` and one probe
  interval, and is responsive again once released;
* an engine working through a backlog whose every commit is slow (the probe waits behind many
  batches, far longer than ``WITHIN``) stays responsive: it acknowledges batch after batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest

from bourse.domain.accounts import AccountKind
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges
from bourse.engine.handlers import HANDLERS
from bourse.sandbox.listings import USDT
from bourse.store.db import make_engine
from bourse.store.sql import SqlStore

WAIT = 20.0  # seconds: every wait is bounded
#: the stall bound the tests give ``responsive`` (the heartbeat's ``STALL_S``)
WITHIN = 1.0
#: how often the tests ask (the heartbeat asks every ``INTERVAL_S``, 0.5 s)
PACE = 0.1
#: scheduling slack on a loaded machine
SLACK = 0.5


@dataclass(frozen=True, slots=True)
class Hang(c.Command):
    """A command whose handler waits for the test (registered by the ``hang`` test only)."""


class SlowStore(SqlStore):
    """A real store whose commits, once told, wait for ``release`` (``gate``) or take ``delay``."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.gate = False
        self.delay = 0.0
        self.entered = threading.Event()
        self.release = threading.Event()

    def commit(self, changes: BatchChanges) -> None:
        if self.gate:
            self.gate = False
            self.entered.set()
            assert self.release.wait(WAIT)
        time.sleep(self.delay)
        super().commit(changes)


@pytest.fixture
def started(migrated_url: str) -> Iterator[tuple[Engine, SlowStore, int, int]]:
    """A started engine on a ``SlowStore`` with two funded accounts."""
    store = SlowStore(make_engine(migrated_url))
    engine = Engine(store)
    engine.apply_batch_now([c.AddAsset(USDT)])
    a, b = (x.id for x in engine.apply_batch_now([c.OpenAccount(AccountKind.USER)] * 2))
    engine.apply_batch_now([c.CreditDeposit(a, USDT.code, 10**12, "a")])
    engine.start()
    try:
        yield engine, store, a, b
    finally:
        engine.stop()
        store.close()


def _asked(engine: Engine, seconds: float) -> list[bool]:
    """``responsive(WITHIN)`` every ``PACE`` for ``seconds``."""
    seen: list[bool] = []
    for _ in range(round(seconds / PACE)):
        seen.append(engine.liveness.responsive(WITHIN))
        time.sleep(PACE)
    return seen


def _until(engine: Engine, want: bool, within: float) -> float:
    """Seconds until ``responsive(WITHIN)`` says ``want`` (asking every ``PACE``; at most
    ``within``)."""
    started = time.monotonic()
    while engine.liveness.responsive(WITHIN) != want:
        took = time.monotonic() - started
        assert took < within, f"responsive is not {want} after {took:.1f} s"
        time.sleep(PACE)
    return time.monotonic() - started


def test_an_idle_engine_stays_responsive(started: tuple[Engine, SlowStore, int, int]) -> None:
    engine = started[0]
    seen = _asked(engine, 3 * WITHIN)  # well past the bound: each probe was answered
    assert all(seen), seen


def _in_handler(
    engine: Engine, store: SlowStore, a: int, b: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, Callable[[], None], Future[Any]]:
    entered, release = threading.Event(), threading.Event()

    def hang(state: Any, cmd: Hang, now: int) -> None:
        entered.set()
        assert release.wait(WAIT)

    monkeypatch.setitem(HANDLERS, Hang, hang)
    return entered, release.set, engine.submit(Hang())


def _in_commit(
    engine: Engine, store: SlowStore, a: int, b: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, Callable[[], None], Future[Any]]:
    store.gate = True
    return store.entered, store.release.set, engine.submit(c.Transfer(a, b, USDT.code, 1))


def _reader_holds_the_lock(
    engine: Engine, store: SlowStore, a: int, b: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, Callable[[], None], Future[Any]]:
    entered, release = threading.Event(), threading.Event()
    done: Future[Any] = Future()

    def read() -> None:
        done.set_result(engine.read(lambda e: (entered.set(), release.wait(WAIT))[1]))

    threading.Thread(target=read, daemon=True).start()
    return entered, release.set, done


@pytest.mark.parametrize("hang", [_in_handler, _in_commit, _reader_holds_the_lock])
def test_a_stuck_engine_thread_is_not_responsive_until_released(
    started: tuple[Engine, SlowStore, int, int],
    monkeypatch: pytest.MonkeyPatch,
    hang: Callable[..., tuple[threading.Event, Callable[[], None], Future[Any]]],
) -> None:
    engine, store, a, b = started
    assert all(_asked(engine, 2 * PACE))
    entered, release, done = hang(engine, store, a, b, monkeypatch)
    try:
        assert entered.wait(WAIT)
        took = _until(engine, False, WAIT)
        assert took <= WITHIN + PACE + SLACK, f"stuck and still responsive for {took:.1f} s"
        assert took >= WITHIN - PACE, f"not responsive after {took:.1f} s only"
        assert not done.done()
        assert not any(_asked(engine, 3 * PACE)), "stuck, yet responsive again"
    finally:
        release()
    done.result(WAIT)
    _until(engine, True, 2 * PACE + SLACK)
    assert all(_asked(engine, 2 * WITHIN)), "released, yet not responsive"


def test_a_busy_engine_with_slow_commits_stays_responsive(
    started: tuple[Engine, SlowStore, int, int],
) -> None:
    engine, store, a, b = started
    engine.max_batch = 2
    store.delay = 0.3
    # 30 commands: 15 batches of 2, committed one after another, 4.5 s for the last one,
    # while the probe waits behind them all
    assert all(_asked(engine, 2 * PACE))
    futs = [engine.submit(c.Transfer(a, b, USDT.code, 1)) for _ in range(30)]
    seen = _asked(engine, 3 * WITHIN)
    assert not all(f.done() for f in futs), "the backlog was gone too soon to tell"
    assert all(seen), seen
    for fut in futs:
        assert isinstance(fut.result(WAIT), int)
