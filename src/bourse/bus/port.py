"""The bus port: publish committed batches, subscribe to them.

Publishing happens on the engine's thread right after a commit and must never block it; a
subscriber that falls behind is dropped (its iteration ends and ``dropped`` is set), so one slow
consumer can stall neither the engine nor the others. Adapters: ``InProcessBus`` (one process,
the default) and ``NatsBus`` (``bus/nats.py``: a JetStream stream, so several processes serve
the same streams; events cross as ``bus/codec.py`` writes them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from bourse.bus.events import Committed


class Subscription(Protocol):
    """A subscriber's stream of events, in commit order; iterate it from its event loop."""

    #: set when the bus dropped this subscriber for falling behind
    dropped: bool

    def __aiter__(self) -> AsyncIterator[Committed]: ...

    def close(self) -> None: ...


class Bus(Protocol):
    def publish(self, event: Committed) -> None:
        """Hand ``event`` to every subscriber without waiting for any of them."""
        ...

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        """A new subscription delivered on the calling (running) event loop; at most
        ``maxsize`` undelivered events before it is dropped."""
        ...
