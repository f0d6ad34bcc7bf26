"""The mirror: a read-only engine kept in step with the writer's events on a ``NatsBus``.

A process in the follower role (a second ``bourse serve --bus nats://...`` on a database
another process writes) serves ``/ws`` and the market-data REST endpoints from a mirror of the
writer's engine. (Not to be confused with ``bus.followers``: background projections of this
process's own engine.) The mirror:

1. subscribe to the stream from its newest event (``start="last"``), then
2. load the engine state from the store: the store says how many batches it holds
   (``durable_commits``, ``N``);
3. for each event in stream order: one whose ``commits`` is at most ``N`` is already in the
   loaded state (only its ``version`` is taken); one at ``N + 1`` is folded in
   (``Engine.mirror``) and becomes the new ``N``; anything else is a gap.

An event is handed on to the process's own stream hubs (``attach``), exactly as the writer
built it, after the engine copy has it, so a push never runs ahead of ``GET /api/v3/depth``;
events older than the loaded state are not (their absolute level sizes are stale).
The follower is ready once it knows the version of the state it loaded (an event at ``N`` or
later arrived, or the stream was empty).

A gap (a ``version`` that does not follow, a ``commits`` that jumps: the writer restarted, or
events were lost) or a dropped subscription makes the follower start over from step 1: the
state is reloaded from the store, and the hubs' subscriptions are dropped so their clients
start over too (they never see a chain of versions that skips a batch).

Trades for the market-data projections (klines, tickers) go to ``add_trades``; trades already
in the store when the follower (re)loaded come from ``load_trades(after_id)``, so none is
counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from bourse.bus.events import Committed
from bourse.bus.inprocess import InProcessBus
from bourse.bus.nats import NatsBus
from bourse.domain.orders import Trade
from bourse.engine import Engine

log = logging.getLogger("bourse.bus.mirror")


class Mirror:
    """Follows ``bus`` into ``engine`` (which it makes read-only) on a thread of its own."""

    #: events the follower may fall behind the stream before it starts over
    backlog = 1_000_000

    def __init__(
        self,
        engine: Engine,
        bus: NatsBus,
        *,
        load_trades: Callable[[int], int] = lambda after: after,
        add_trades: Callable[[list[Trade]], None] = lambda trades: None,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self._load_trades = load_trades
        self._add_trades = add_trades
        engine.read_only = "this server follows another one (read-only); send orders to the writer"
        self._store: Any = engine.store
        self._locals: tuple[InProcessBus, ...] = ()
        self._commits = 0
        self._version: int | None = None
        self._trade_mark = 0
        self._ready = threading.Event()
        self._stop = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        #: how often the follower started over from the store (1 after the first load)
        self.loads = 0
        self.applied = 0

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Mirror:
        """Start following; wait (at most ``timeout`` s) until the copy is ready."""
        self._thread = threading.Thread(target=self._main, name="bourse-mirror", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            log.warning("follower not caught up after %.0f s; serving what it has", timeout)
        return self

    @property
    def commits(self) -> int:
        """The writer's committed batches folded into this copy (the metrics' lag)."""
        return self._commits

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def close(self, timeout: float = 5.0) -> None:
        self._stop = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def attach(self, bus: InProcessBus) -> int:
        """Hand every event from now on to ``bus`` (a stream hub's); return the version the
        engine copy is at, read atomically with joining."""
        with self.engine.lock:
            self._locals = (*self._locals, bus)
            return self.engine.batches

    # --- following -------------------------------------------------------------------------------
    def _main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            self._task = loop.create_task(self._follow())
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
            # let the closing connections finish before the loop goes
            rest = asyncio.all_tasks(loop)
            if rest:
                loop.run_until_complete(asyncio.wait(rest, timeout=2))
            rest = asyncio.all_tasks(loop)  # nats-py's heartbeat checks outlive their connection
            for task in rest:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        finally:
            loop.close()

    async def _follow(self) -> None:
        while not self._stop:
            try:
                await self._once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following %s failed; starting over", self.bus.stream)
            if not self._stop:
                await asyncio.sleep(0.2)

    async def _once(self) -> None:
        sub = self.bus.subscribe(maxsize=self.backlog, start="last")
        try:
            await sub.started()
            await asyncio.get_running_loop().run_in_executor(None, self._load)
            if await self._stream_is_empty():
                self._ready.set()
            async for event in sub:
                if not self._on(event):
                    log.warning(
                        "gap in %s at version %d (commits %d after %d); reloading from the store",
                        self.bus.stream,
                        event.version,
                        event.commits,
                        self._commits,
                    )
                    return
            if sub.dropped:
                log.error("the follower fell behind %s; reloading from the store", self.bus.stream)
        finally:
            await sub.aclose()

    async def _stream_is_empty(self) -> bool:
        return await self.bus.last() is None

    def _load(self) -> None:
        engine = self.engine
        with engine.lock:
            engine.reload()
            self._commits = self._store.durable_commits
            self._version = None
            for local in self._locals:  # their version chains broke: their clients start over
                local.drop_all()
            self.loads += 1
        self._trade_mark = self._load_trades(self._trade_mark)

    def _on(self, event: Committed) -> bool:
        """Fold ``event`` in; False on a gap."""
        engine = self.engine
        with engine.lock:
            if self._version is not None and event.version != self._version + 1:
                return False
            if event.commits > self._commits:
                if event.commits != self._commits + 1:
                    return False
                engine.mirror(event.changes, event.version)
                self._commits = event.commits
                self.applied += 1
            else:
                engine.batches = event.version
            self._version = event.version
            if event.commits >= self._commits:  # not an event older than the loaded state
                self._ready.set()
                for local in self._locals:
                    local.publish(event)
        trades = [t for t in event.changes.trades if t.id > self._trade_mark]
        if trades:
            self._trade_mark = trades[-1].id
            self._add_trades(trades)
        return True
