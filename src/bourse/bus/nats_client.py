"""A NATS connection on an event loop thread of its own, for code that runs on other threads.

``NatsClient`` is the common part of the command stream's client (``bus.gateway``) and server
(``bus.engine_server``) and of the cache drops (``bus.cache_events``): ``start()`` connects and
runs the subclass's ``_setup(nc)`` on the loop thread, bounded in time, and says why it could
not (``BusUnavailable``); ``close()`` drains the connection (what is due still goes out) and
ends the thread.
"""

from __future__ import annotations

import logging
from typing import Self

from nats.aio.client import Client

from bourse.bus.loop_thread import LoopThread
from bourse.bus.nats import CONNECT_TIMEOUT_S, BusUnavailable, connect

log = logging.getLogger("bourse.bus.nats_client")


class NatsClient:
    #: the loop thread's name; what the client does, for the error ``start`` raises
    thread_name = "bourse-nats-client"
    purpose = "use NATS"

    def __init__(self, url: str) -> None:
        self.url = url
        self._thread: LoopThread | None = None
        self._nc: Client | None = None

    async def _setup(self, nc: Client) -> None:
        """Subscribe, create streams...: the subclass's part of ``start`` (on the loop)."""

    async def _open(self) -> None:
        nc = self._nc = await connect(self.url)
        await self._setup(nc)

    def start(self) -> Self:
        thread = self._thread = LoopThread(self.thread_name)
        try:
            thread.call(self._open(), CONNECT_TIMEOUT_S + 5)
        except Exception as exc:
            thread.stop()
            self._thread = None
            raise BusUnavailable(f"cannot {self.purpose} over {self.url}: {exc}") from exc
        return self

    def close(self, timeout: float = 5.0) -> None:
        thread, nc = self._thread, self._nc
        self._thread = None
        if thread is None:
            return
        if nc is not None:
            try:
                thread.call(nc.drain(), timeout)
            except Exception:
                log.debug("closing the NATS connection of %s", self.thread_name, exc_info=True)
        thread.stop()
