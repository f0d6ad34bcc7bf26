"""``GET /api/v3/depth``'s levels, formatted once per book version.

Bots poll the book far more often than it changes. A snapshot costs a hop to a worker thread
(``engine.read`` may wait for a commit) and a formatted string per price and quantity, so the
formatted levels are kept per engine, symbol and limit with the engine version they were read
at (``Engine.batches``, the answer's ``lastUpdateId``). While the engine's version is still that
one, no batch has committed since, so the kept levels are still the committed book at that
version: the answer is the one a fresh read would give. Versions only grow (a follower's copy
too), so a kept entry never answers for another book under the same number.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from bourse.domain.money import format_units
from bourse.domain.symbols import Symbol

#: (price, quantity) pairs as MEXC writes them
Levels = list[list[str]]
#: (lastUpdateId, bids, asks)
Snapshot = tuple[int, Levels, Levels]
#: entries kept per engine before they are all dropped (limits are free-form, 1..5000)
MAX_ENTRIES = 64

_kept: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], Snapshot]] = weakref.WeakKeyDictionary()


async def snapshot(
    engine: Any,
    sym: Symbol,
    limit: int,
    read: Callable[[Callable[[Any], Any]], Awaitable[Any]],
) -> Snapshot:
    """The book of ``sym`` to ``limit`` levels a side at the engine's current committed version;
    ``read`` runs a function on the engine's committed state (``Ctx.read``) on a miss."""
    kept = _kept.get(engine)
    if kept is None:
        kept = _kept.setdefault(engine, {})
    key = (sym.name, limit)
    hit = kept.get(key)
    if hit is not None and hit[0] == engine.batches:
        return hit

    def levels(e: Any) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        book = e.exchange.books[sym.name]
        return e.batches, book.bids.depth(limit), book.asks.depth(limit)

    version, bids, asks = await read(levels)
    ps, qs = sym.price_scale, sym.qty_scale
    snap = (
        version,
        [[format_units(p, ps), format_units(q, qs)] for p, q in bids],
        [[format_units(p, ps), format_units(q, qs)] for p, q in asks],
    )
    if len(kept) >= MAX_ENTRIES:
        kept.clear()
    kept[key] = snap
    return snap
