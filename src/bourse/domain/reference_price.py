"""A symbol's reference price: the time-weighted average of its last trade price, which one burst
of trades cannot set.

Dust conversion (``domain.dust``) and fees paid in MX (``domain.mx``) value one asset in another.
At the last trade price alone an account could set that value itself: the price band
(``domain.price_band``) lets each trade go to 0.2x or 5x the last price, so seven tiny trades
between two accounts of one owner walk MXUSDT from 2.5 to 0.0001 in milliseconds. They therefore
also read the reference, an exponential moving average over time of the last price (the step
function the trades draw), kept by the engine from its own trades. At a trade at time ``t``
(ms), the price that stood since the previous one (``last``) counts for the time it stood:

    ref += (last - ref) x min(t - time, AVERAGING_MS) / AVERAGING_MS

and then ``last`` is the trade's price and ``time`` is ``t``. A price moves the reference at most
by the share of ``AVERAGING_MS`` it has stood: a burst undone within seconds moves it by about a
hundredth of the way, a price that stands the whole ``AVERAGING_MS`` replaces it. It is read at
any time the same way (``value_at``) without changing it. A symbol's first trade starts it.

A reference is only as good as its history: at a newly listed pair's first trade (or a pair that
has barely traded) it is whatever that trade's price was, set by whoever made it. So a reference
records when its symbol first traded (``since``) and counts as settled only ``AVERAGING_MS``
after that (``settled``); until then the symbol is unsettled like one whose price strays.

Everything is integer: the reference is kept in billionths of a price unit (``SCALE``), so a
slow move over frequent trades is not lost to rounding, and it is a function of the trades
alone (their prices and times, in id order). The engine folds each batch's trades in (``fold``)
and commits the references the batch changed with it, so a restart or a follower has the same.

Valuations take each symbol's last price and reference as a band (``prices``): the caller picks
the end in the platform's favour, and treats a symbol whose last price strays more than
``MAX_DEVIATION_PPM`` from its reference as not priced at all (``Prices.unsettled``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from bourse.domain.orders import Trade

#: how long a price must stand to replace the reference (and about how long a move takes to
#: show: after AVERAGING_MS at a new price the reference is 63 % of the way there or more)
AVERAGING_MS = 5 * 60_000
#: the reference is kept in billionths of a price unit
SCALE = 10**9
#: a last price further than this from the reference (parts per million of it) is not used
MAX_DEVIATION_PPM = 100_000
PPM = 1_000_000


class Reference(NamedTuple):
    """A symbol's reference as of its last trade folded in."""

    value: int  # the reference, in billionths of a price unit (``SCALE``)
    last: int  # the last trade price folded in (price units)
    time: int  # that trade's time (ms)
    #: the symbol's first trade's time (ms); 0 for a reference whose history predates ``since``
    #: being kept (it came from real trades: settled)
    since: int


def start(price: int, time: int) -> Reference:
    """The reference of a symbol whose first trade was at ``price`` at ``time``."""
    return Reference(price * SCALE, price, time, time)


def settled(ref: Reference, now: int) -> bool:
    """Whether ``ref`` has ``AVERAGING_MS`` of history at ``now`` (its first trade's price has
    had the time to be averaged with what came after)."""
    return now - ref.since >= AVERAGING_MS


def value_at(ref: Reference, now: int) -> int:
    """The reference at ``now`` in billionths of a price unit, ``ref.last`` counted for the time
    it has stood since ``ref.time`` (a clock that went back counts nothing)."""
    return _moved(ref.value, ref.last, ref.time, now)


def _moved(value: int, last: int, time: int, now: int) -> int:
    """``value`` moved towards ``last`` (price units) for the time ``last`` has stood since
    ``time``: the averaging step of ``value_at`` and ``fold``."""
    dt = now - time
    if dt <= 0:
        return value
    if dt >= AVERAGING_MS:
        return last * SCALE
    return value + (last * SCALE - value) * dt // AVERAGING_MS


def fold(refs: dict[str, Reference], trades: Iterable[Trade]) -> dict[str, Reference]:
    """Fold ``trades`` (in id order) into ``refs``; returns the references they changed.

    Folding a trade again changes nothing: its time is not after the reference's."""
    work: dict[str, list[int]] = {}  # name -> [value, last, time, since]
    for trade in trades:
        name, price, t = trade.symbol, trade.price, trade.time
        w = work.get(name)
        if w is None:
            w = work[name] = list(refs.get(name) or start(price, t))
        if t > w[2]:
            w[0] = _moved(w[0], w[1], w[2], t)
            w[2] = t
        w[1] = price
    changed = {name: Reference(w[0], w[1], w[2], w[3]) for name, w in work.items()}
    refs.update(changed)
    return changed


@dataclass(frozen=True, slots=True)
class Prices:
    """Symbols' last prices and references at one time, as the two ends of a band (price units):
    ``low`` the lower of the last price and the reference (rounded down), ``high`` the higher
    (rounded up). A symbol that has no last price or no reference is in neither; ``unsettled``
    names those whose last price strays more than ``MAX_DEVIATION_PPM`` from the reference, and
    those whose reference is not yet ``settled`` (too little history to stand for a price)."""

    low: dict[str, int]
    high: dict[str, int]
    unsettled: frozenset[str]


def prices(
    refs: Mapping[str, Reference], last: Mapping[str, int], now: int, names: Iterable[str]
) -> Prices:
    """The band of each symbol of ``names`` at ``now`` (``last``: the last prices to use)."""
    low: dict[str, int] = {}
    high: dict[str, int] = {}
    unsettled: set[str] = set()
    for name in names:
        ref, price = refs.get(name), last.get(name)
        if ref is None or not price:
            continue
        value = value_at(ref, now)
        low[name] = min(price, value // SCALE)
        high[name] = max(price, -(-value // SCALE))
        if not settled(ref, now) or abs(price * SCALE - value) * PPM > value * MAX_DEVIATION_PPM:
            unsettled.add(name)
    return Prices(low, high, frozenset(unsettled))
