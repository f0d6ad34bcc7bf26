"""What the bus carries: one ``Committed`` event per committed engine batch.

The engine's ``BatchChanges`` say what changed (orders, trades, postings, balances); the event
adds what a subscriber cannot recompute later without the engine's lock: the book levels the
batch touched with their new absolute size, the best levels after the batch, and each touched
balance with its change. ``version`` is the engine's batch counter (``Engine.batches``), the
same number ``GET /api/v3/depth`` answers as ``lastUpdateId``. ``commits`` ties the event to the
database: the store's count of committed batches once this batch was committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bourse.engine.changes import BatchChanges

#: how many best levels per side an event carries (MEXC's largest limit.depth is 20)
TOP_LEVELS = 20


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """One symbol's book after a batch, in integer price and quantity units."""

    symbol: str
    #: levels whose size changed: (price, new total size); size 0 means the level is gone
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    #: the best ``TOP_LEVELS`` levels after the batch, best first
    top_bids: list[tuple[int, int]]
    top_asks: list[tuple[int, int]]
    #: creation time (ms) of the newest order that touched the book in this batch
    last_order_time: int


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    """One (account, asset) balance after a batch and how much the batch moved it."""

    account: int
    asset: str
    available: int
    locked: int
    available_change: int
    locked_change: int
    #: the ledger posting kind that touched it last ("order_lock", "trade", "fee", ...)
    kind: str


@dataclass(frozen=True, slots=True)
class Committed:
    """A committed batch: its version, commit time (ms) and what changed."""

    version: int
    time: int
    changes: BatchChanges
    books: dict[str, BookUpdate] = field(default_factory=dict)
    balances: list[BalanceUpdate] = field(default_factory=list)
    #: batches committed to the database once this one was (the store's durable counter; 0 for
    #: a store without one): a follower that loaded the store at ``n`` applies the events past
    #: ``n``, and a jump in it is a gap
    commits: int = 0
