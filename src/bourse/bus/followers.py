"""Followers: background work that keeps up with the engine's committed change feed.

A follower is a *catch-up function*: ``fn()`` brings one projection up to date with what the
store has committed (rebate accrual reads the trades after its cursor) and is safe to run any
number of times. The feed only says *when* to run it: ``on_batch(changes)`` is an engine
listener (``Engine.subscribe``) that asks each follower's ``wants(changes)`` and, if it wants
the batch, sets the follower's wake-up flag. Nothing else happens on the engine thread, so a
slow or failing follower never holds up a commit; batches that arrive while a follower runs
coalesce into one more run.

Each follower runs on its own daemon thread:

* once on ``start`` (catch-up on start: whatever was committed while nothing followed, say
  before a crash, is picked up from the store, not from the feed);
* after every wanted batch;
* every ``idle`` seconds even without a batch (a safety net for writes made by another
  process, such as a CLI run against the same database);
* a run that raises is retried ``retries`` times with doubling back-off (bounded), then
  given up until the next wake-up; ``stats`` says what happened.

    followers = Followers()
    followers.add("rebates", brokers.accrue, wants=has_attributed_trades)
    followers.attach(engine)   # engine.subscribe(followers.on_batch)
    followers.start()
    ...
    followers.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from bourse.engine.changes import BatchChanges

log = logging.getLogger("bourse.bus.followers")


class Feed(Protocol):
    """What followers attach to: the engine (``Engine.subscribe``)."""

    def subscribe(self, listener: Callable[[BatchChanges], None]) -> None: ...


def every_batch(_changes: BatchChanges) -> bool:
    return True


@dataclass(slots=True)
class FollowerStats:
    runs: int = 0  # completed runs
    failures: int = 0  # failed attempts (each retry counts)
    given_up: int = 0  # wake-ups whose runs all failed
    last_ok: float = 0.0  # time.time() of the last completed run
    last_error: str = ""
    #: time.time() of the oldest wanted batch not yet followed (0.0: caught up): the lag
    behind_since: float = 0.0

    def lag(self, now: float) -> float:
        """Seconds the follower is behind the engine's committed batches (0 when caught up)."""
        since = self.behind_since
        return max(0.0, now - since) if since else 0.0


class Follower:
    """One registered follower and its thread (see the module docstring)."""

    def __init__(
        self,
        name: str,
        fn: Callable[[], Any],
        wants: Callable[[BatchChanges], bool],
        *,
        retries: int,
        backoff: float,
        idle: float,
    ) -> None:
        self.name = name
        self.fn = fn
        self.wants = wants
        self.retries = retries
        self.backoff = backoff
        self.idle = idle
        self.stats = FollowerStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle_now = threading.Event()  # set while waiting with nothing to do
        self._thread: threading.Thread | None = None

    # --- engine thread -------------------------------------------------------------------------
    def offer(self, changes: BatchChanges) -> None:
        try:
            wanted = self.wants(changes)
        except Exception:  # a broken predicate must not cost a run
            log.exception("follower %s: wants() failed; running anyway", self.name)
            wanted = True
        if wanted:
            if not self.stats.behind_since:
                self.stats.behind_since = time.time()
            self._idle_now.clear()
            self._wake.set()

    # --- own thread ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._wake.set()  # catch up on start
            self._thread = threading.Thread(
                target=self._loop, name=f"bourse-follower-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the follower has nothing left to do (tests, shutdown); False on timeout."""
        return self._idle_now.wait(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._wake.is_set():
                self._idle_now.set()
                if self._wake.is_set():  # a batch arrived meanwhile
                    self._idle_now.clear()
            self._wake.wait(self.idle)
            if self._stop.is_set():
                return
            self._wake.clear()
            self._run()

    def _run(self) -> None:
        behind = self.stats.behind_since  # batches offered after this run starts stay behind
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                self.fn()
            except Exception as exc:
                self.stats.failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "follower %s failed (attempt %d of %d): %s",
                    self.name,
                    attempt + 1,
                    self.retries + 1,
                    exc,
                )
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, 5.0)
                continue
            self.stats.runs += 1
            self.stats.last_ok = time.time()
            if self.stats.behind_since == behind:
                self.stats.behind_since = 0.0
            return
        self.stats.given_up += 1
        log.error("follower %s gave up until the next batch: %s", self.name, self.stats.last_error)


class Followers:
    """The registry of followers and the engine listener that wakes them."""

    def __init__(self, *, retries: int = 5, backoff: float = 0.05, idle: float = 30.0) -> None:
        self.retries = retries
        self.backoff = backoff
        self.idle = idle
        self._followers: dict[str, Follower] = {}
        self._started = False

    def add(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        wants: Callable[[BatchChanges], bool] = every_batch,
    ) -> Follower:
        """Register ``fn`` (a catch-up function, safe to repeat) to run after batches that
        ``wants`` (cheap: it runs on the engine thread). Started now if ``start`` was called."""
        if name in self._followers:
            raise ValueError(f"follower {name!r} is already registered")
        f = Follower(name, fn, wants, retries=self.retries, backoff=self.backoff, idle=self.idle)
        self._followers = {**self._followers, name: f}  # swapped whole: on_batch reads it unlocked
        if self._started:
            f.start()
        return f

    def __getitem__(self, name: str) -> Follower:
        return self._followers[name]

    def __iter__(self) -> Iterator[Follower]:
        return iter(self._followers.values())

    def __contains__(self, name: object) -> bool:
        return name in self._followers

    def names(self) -> list[str]:
        return list(self._followers)

    def on_batch(self, changes: BatchChanges) -> None:
        """The engine listener: wake the followers that want this batch (never blocks)."""
        for f in self._followers.values():
            f.offer(changes)

    def attach(self, feed: Feed) -> Followers:
        feed.subscribe(self.on_batch)
        return self

    def start(self) -> Followers:
        self._started = True
        for f in self._followers.values():
            f.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._started = False
        for f in self._followers.values():
            f.stop(timeout)
