"""How the demo market maker's mid price moves, per symbol (``sandbox.market_maker``).

Each quoted symbol has a ``Book``: its reference price, grid step and current mid (integer
price units), and what moves the mid on every cycle (``move``):

* ``WALK``: the demo random walk, one grid step up or down half the time, mean-reverting toward
  the reference and never further than ``MAX_DRIFT_BPS`` from it;
* ``PATH``: linearly through scripted waypoints ``(ms from the start, price)``, then the walk;
* ``DRIFT``: a random walk with a drift and a volatility (ppm of the price per minute);
* ``REPLAY``: the price of each recorded trade as it falls due (at a speed factor), then the walk.

A new price far from the old one (a path, a drift, a replay, an operator's ``set_price``) gets a
new grid step (``rebase``). Every price is an int.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

#: distance between grid levels, in basis points of the reference price
GRID_BPS = 5
#: the mid never wanders further than this from the reference price (basis points)
MAX_DRIFT_BPS = 2000
#: how a symbol's mid moves: the demo walk, a scripted path, a drift, a replay
WALK, PATH, DRIFT, REPLAY = "walk", "path", "drift", "replay"
#: recorded trades printed per symbol and cycle at most (the rest follow next cycle)
REPLAY_PER_CYCLE = 20


@dataclass(slots=True)
class Book:
    """The maker's view of one symbol: grid step, reference and current mid (price units),
    and what moves the mid (``mode`` with its script)."""

    symbol: str
    reference: int
    step: int
    mid: int
    mode: str = WALK
    #: PATH: waypoints (ms from ``started``, price units), sorted
    path: list[tuple[int, int]] = field(default_factory=list)
    #: DRIFT: ppm per minute of drift and of volatility
    drift_ppm: int = 0
    vol_ppm: int = 0
    #: REPLAY: (ms from ``started`` at speed 1, price units, qty units, side), sorted; next index
    trades: list[tuple[int, int, int, int]] = field(default_factory=list)
    next_trade: int = 0
    speed: float = 1.0
    replayed: int = 0
    started: float = 0.0
    moved: float = 0.0


@dataclass(frozen=True, slots=True)
class RecordedTrade:
    """One row of a replay: ms since the first row, price and quantity units, BUY or SELL."""

    offset_ms: int
    price: int
    qty: int
    side: int


def grid_step(price: int) -> int:
    """The distance between grid levels around ``price`` (``GRID_BPS``, at least one unit)."""
    return max(1, price * GRID_BPS // 10_000)


def rebase(book: Book, price: int) -> None:
    """Make ``price`` the book's reference and mid; a new grid step when it moved far."""
    book.reference = book.mid = max(price, 1)
    step = grid_step(price)
    if not (book.step // 2 <= step <= book.step * 2):
        book.step = step


def clamp(mid: int, reference: int) -> int:
    """``mid``, kept within ``MAX_DRIFT_BPS`` of ``reference``."""
    span = reference * MAX_DRIFT_BPS // 10_000
    return min(max(mid, reference - span), reference + span)


def move(book: Book, rng: random.Random) -> None:
    """Move ``book``'s mid for one cycle by its mode (a finished path or replay turns into the
    walk)."""
    now = time.monotonic()
    if book.mode == WALK:
        _walk(book, rng)
    elif book.mode == PATH:
        rebase(book, along(book.path, int((now - book.started) * 1000)))
        if (now - book.started) * 1000 >= book.path[-1][0]:
            book.mode = WALK
    elif book.mode == DRIFT:
        minutes = max(0.0, now - (book.moved or now)) / 60
        book.moved = now
        shock = rng.gauss(0.0, 1.0) * math.sqrt(minutes)
        change_ppm = round(book.drift_ppm * minutes + book.vol_ppm * shock)
        rebase(book, book.mid + book.mid * change_ppm // 1_000_000)
    elif book.mode == REPLAY:
        due = book.trades[: replay_end(book, now)]
        if due:
            rebase(book, due[-1][1])


def replay_end(book: Book, now: float) -> int:
    """The index after the last recorded trade due at ``now`` (at most ``REPLAY_PER_CYCLE``
    past ``next_trade``)."""
    elapsed_ms = (now - book.started) * 1000 * book.speed
    end = book.next_trade
    while end < len(book.trades) and book.trades[end][0] <= elapsed_ms:
        end += 1
    return min(end, book.next_trade + REPLAY_PER_CYCLE)


def _walk(book: Book, rng: random.Random) -> None:
    # one grid step up or down half the time, nudged back toward the reference
    step = rng.choice((-1, 0, 0, 1)) * book.step
    pull = (book.reference - book.mid) // 50
    book.mid = clamp(book.mid + step + pull, book.reference)


def along(path: Sequence[tuple[int, int]], ms: int) -> int:
    """The price at ``ms`` on ``path`` (linear between waypoints, flat after the last)."""
    if ms <= path[0][0]:
        return path[0][1]
    for (t0, p0), (t1, p1) in zip(path, path[1:], strict=False):
        if ms <= t1:
            return p0 + (p1 - p0) * (ms - t0) // max(1, t1 - t0)
    return path[-1][1]
