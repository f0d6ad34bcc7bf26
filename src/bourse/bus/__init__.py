"""The bus: committed engine batches, published once and fanned out to subscribers.

``Bus`` (``port.py``) is the interface; ``InProcessBus`` (``inprocess.py``) the default adapter;
``feed(engine, bus)`` (``feed.py``) publishes every committed batch as a ``Committed`` event
(``events.py``). Events leave only after commit, so whatever a subscriber sees is durable.
"""

from bourse.bus.events import BalanceUpdate, BookUpdate, Committed
from bourse.bus.feed import capture, feed
from bourse.bus.inprocess import InProcessBus
from bourse.bus.port import Bus, Subscription

__all__ = [
    "BalanceUpdate",
    "BookUpdate",
    "Bus",
    "Committed",
    "InProcessBus",
    "Subscription",
    "capture",
    "feed",
]
