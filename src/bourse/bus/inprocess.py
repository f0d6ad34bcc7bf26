"""The in-process bus: events handed from the engine thread to asyncio subscribers.

``publish`` only schedules a callback on each subscriber's event loop
(``call_soon_threadsafe``); the subscriber's queue is bounded and an overflowing subscriber is
dropped on the spot, so the engine thread never waits.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator

from bourse.bus.events import Committed


class InProcessSubscription:
    """One subscriber: a bounded queue filled on its own event loop."""

    def __init__(self, bus: InProcessBus, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self._bus = bus
        self._loop = loop
        self._maxsize = maxsize
        self._queue: deque[Committed] = deque()
        self._wake = asyncio.Event()
        self.closed = False
        self.dropped = False

    # --- called on the subscriber's loop ---------------------------------------------------------
    def _offer(self, event: Committed) -> None:
        if self.closed:
            return
        if len(self._queue) >= self._maxsize:
            self.dropped = True
            self.close()
            return
        self._queue.append(event)
        self._wake.set()

    async def __aiter__(self) -> AsyncIterator[Committed]:
        queue = self._queue
        while True:
            while queue:
                yield queue.popleft()
            if self.closed:
                return
            self._wake.clear()
            await self._wake.wait()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._bus._remove(self)
            self._wake.set()

    def _dropped(self) -> None:
        self.dropped = True
        self.close()

    # --- called on the publisher's thread ----------------------------------------------------
    def _drop(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._dropped)
        except RuntimeError:  # the subscriber's loop is closed
            self.closed = True
            self._bus._remove(self)

    def _deliver(self, event: Committed) -> None:
        try:
            self._loop.call_soon_threadsafe(self._offer, event)
        except RuntimeError:  # the subscriber's loop is closed
            self.closed = True
            self._bus._remove(self)


class InProcessBus:
    """``Bus`` for one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: tuple[InProcessSubscription, ...] = ()
        self.published = 0

    def publish(self, event: Committed) -> None:
        self.published += 1
        for sub in self._subs:  # a tuple swapped under the lock: safe to read without it
            sub._deliver(event)

    def subscribe(self, maxsize: int = 10_000) -> InProcessSubscription:
        sub = InProcessSubscription(self, asyncio.get_running_loop(), maxsize)
        with self._lock:
            self._subs = (*self._subs, sub)
        return sub

    def drop_all(self) -> None:
        """Drop every subscriber (as if each fell behind): the events it would need next are
        lost to it (a follower reloaded its state from the store)."""
        for sub in self._subs:
            sub._drop()

    def _remove(self, sub: InProcessSubscription) -> None:
        with self._lock:
            self._subs = tuple(s for s in self._subs if s is not sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
