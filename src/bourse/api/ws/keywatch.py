"""The watcher of the private ``/ws`` connections: each is closed once its listenKey no longer
opens its account's streams (expired, closed, or its creator ended: ``services.listenkeys``).

One task per app checks every open key in one query (``ListenKeys.accounts_for``):

* at once when ``ListenKeys.recheck`` fires: a key closed or a credential revoked in this
  process, or in another one that said so over ``bus.cache_events`` (an API key change already
  travels as ``apikey``, a key closed, an OAuth revocation or a broker's suspension, which
  ends its OAuth grants, as ``listenkeys``);
* every ``StreamLimits.listen_key_check_s`` (2 s) otherwise, which bounds what no message says
  (a key or a credential expiring, a change made by a process without the bus, a lost message).

A database that cannot answer leaves the connections open until a check succeeds: an outage
of the store does not cut every private stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from bourse.engine.clock import now_ms
from bourse.services.listenkeys import ListenKeys

log = logging.getLogger("bourse.ws")


class Watched(Protocol):
    """What the watcher needs of a connection (``connection.Connection``)."""

    account: int | None

    def drop(self, reason: str, last_words: str | None = None) -> None: ...


class KeyWatch:
    def __init__(self, keys: ListenKeys, interval: float, last_words: str) -> None:
        self.keys = keys
        self.interval = interval
        self.last_words = last_words
        #: listenKey -> its open private connections
        self.open: dict[str, set[Watched]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        #: ``wake`` calls (a connection that looked its key up while one came checks again
        #: once watched: ``routes``)
        self.wakes = 0
        keys.watch(self.wake)

    def add(self, key: str, conn: Watched) -> None:
        """Watch ``conn`` (opened with ``key``); call in the connection's event loop."""
        self.open.setdefault(key, set()).add(conn)
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._task = asyncio.ensure_future(self._run())

    def remove(self, key: str, conn: Watched) -> None:
        conns = self.open.get(key)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.open[key]

    def wake(self) -> None:
        """Check every open key now (any thread; never blocks)."""
        self.wakes += 1
        loop, event = self._loop, self._wake
        if loop is None or event is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(event.set)

    async def _run(self) -> None:
        assert self._wake is not None
        wake = self._wake
        while self.open:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.interval)
            wake.clear()
            await self.check()

    async def check(self) -> None:
        """Close the connections whose key no longer opens their account's streams."""
        keys = list(self.open)
        if not keys:
            return
        try:
            live = await run_in_threadpool(self.keys.accounts_for, keys, now_ms())
        except Exception:  # the store is away: look again at the next check
            log.warning("listen key check failed; retrying in %.1f s", self.interval)
            return
        for key in keys:
            account = live.get(key)
            for conn in list(self.open.get(key, ())):
                if account is None or account != conn.account:
                    conn.drop("listen key no longer valid", self.last_words)
