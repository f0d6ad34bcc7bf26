"""Cache invalidations between processes: "this API key changed", on plain NATS.

Each gateway caches API keys and key bindings for ``_CACHE_TTL_S`` (they are read on every
signed request). A change made by one process (a key deleted or edited, a key bound or
unbound) drops the entry from that process's cache at once; ``CacheEvents`` carries the same
drop to every other process of the exchange (subject ``bourse.<name>.caches``), so a deleted
key stops working everywhere within a message's flight, not after the TTL. Delivery is
best-effort (core NATS): a process that misses one (NATS away) still sees the change when its
entry expires, as before.

A message is ``[kind, key, origin]``; a process ignores its own (it already forgot the key).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg

from bourse.bus.nats import bus_names
from bourse.bus.nats_client import NatsClient

log = logging.getLogger("bourse.bus.cache_events")


class CacheEvents(NatsClient):
    """Publish this process's cache drops; apply the other processes' (``on(kind, fn)``)."""

    thread_name = "bourse-cache-events"
    purpose = "share cache changes"

    def __init__(self, url: str, name: str = "bourse") -> None:
        bus_names(name)  # the same rule for names as the bus
        super().__init__(url)
        self.subject = f"bourse.{name}.caches"
        self.origin = uuid.uuid4().hex
        self._handlers: dict[str, Callable[[str], None]] = {}
        #: drops received from other processes and applied
        self.received = 0

    def on(self, kind: str, forget: Callable[[str], None]) -> CacheEvents:
        """Call ``forget(key)`` when another process changed ``key`` of ``kind``."""
        self._handlers[kind] = forget
        return self

    async def _setup(self, nc: Client) -> None:
        await nc.subscribe(self.subject, cb=self._on_msg)
        await nc.flush()

    async def _on_msg(self, msg: Msg) -> None:
        try:
            kind, key, origin = json.loads(msg.data)
        except (ValueError, TypeError):
            log.warning("unreadable cache event on %s", msg.subject)
            return
        handler = self._handlers.get(kind)
        if origin == self.origin or handler is None:
            return
        handler(key)
        self.received += 1

    def publish(self, kind: str, key: str) -> None:
        """Tell the other processes ``key`` of ``kind`` changed (any thread; never waits)."""
        thread, nc = self._thread, self._nc
        if thread is None or nc is None:
            return
        data = json.dumps([kind, key, self.origin]).encode()
        thread.spawn(nc.publish(self.subject, data))
