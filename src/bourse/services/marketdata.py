"""Market-data projections built from trades: recent trades, klines, 24h rolling statistics.

``MarketData.from_store`` replays every stored trade once at start, then subscribes to the
engine so each committed batch's trades are folded in (on the engine thread, after commit).
Everything is integers in the symbol's units: prices in price units, volumes in quantity units,
quote volumes in quote ledger units; the wire layer formats them.

Kline intervals are MEXC's: ``1m 5m 15m 30m 60m 4h 1d 1W 1M``. All are aligned to UTC; weeks
start on Monday 00:00 UTC and months on the 1st. A candle exists only for a period that had a
trade (no gap filling), as on MEXC/Binance.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

MINUTE = 60_000
DAY = 1440 * MINUTE
WEEK = 7 * DAY
#: Monday 1970-01-05 00:00 UTC (the epoch was a Thursday)
_FIRST_MONDAY = 4 * DAY

FIXED_INTERVALS = {
    "1m": MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "60m": 60 * MINUTE,
    "4h": 240 * MINUTE,
    "1d": DAY,
}
INTERVALS = (*FIXED_INTERVALS, "1W", "1M")
RECENT_TRADES = 1000

# candle layout: [open_time, open, high, low, close, volume, quote_volume, count]
OPEN_T, OPEN, H, L, C, VOL, QVOL, COUNT = range(8)


def _month_start(ms: int) -> tuple[int, int]:
    d = datetime.fromtimestamp(ms / 1000, UTC)
    start = datetime(d.year, d.month, 1, tzinfo=UTC)
    nxt = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()) * 1000, int(nxt.timestamp()) * 1000


def bucket(interval: str, ms: int) -> tuple[int, int]:
    """``(open_time, close_time)`` of the ``interval`` candle containing ``ms`` (close inclusive)."""
    step = FIXED_INTERVALS.get(interval)
    if step is not None:
        start = ms - ms % step
        return start, start + step - 1
    if interval == "1W":
        start = (ms - _FIRST_MONDAY) // WEEK * WEEK + _FIRST_MONDAY
        return start, start + WEEK - 1
    if interval == "1M":
        start, nxt = _month_start(ms)
        return start, nxt - 1
    raise ValueError(f"unknown interval {interval!r}")


class _Series:
    """Candles of one symbol and interval, by open time."""

    __slots__ = ("candles", "keys")

    def __init__(self) -> None:
        self.candles: dict[int, list[int]] = {}
        self.keys: list[int] = []

    def add(self, open_t: int, price: int, qty: int, quote: int) -> None:
        c = self.candles.get(open_t)
        if c is None:
            self.candles[open_t] = [open_t, price, price, price, price, qty, quote, 1]
            if not self.keys or open_t > self.keys[-1]:
                self.keys.append(open_t)
            else:
                insort(self.keys, open_t)
            return
        if price > c[H]:
            c[H] = price
        if price < c[L]:
            c[L] = price
        c[C] = price
        c[VOL] += qty
        c[QVOL] += quote
        c[COUNT] += 1


class _SymbolData:
    __slots__ = ("series", "recent", "last_price", "last_qty", "last_time")

    def __init__(self) -> None:
        self.series = {iv: _Series() for iv in INTERVALS}
        self.recent: deque[tuple[int, int, int, int, int, int]] = deque(maxlen=RECENT_TRADES)
        self.last_price: int | None = None
        self.last_qty: int | None = None
        self.last_time = 0


class MarketData:
    """Thread-safe projections; written by the engine thread, read by request handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._symbols: dict[str, _SymbolData] = {}

    @classmethod
    def from_store(cls, queries: Any, engine: Any = None) -> MarketData:
        """Replay stored trades (``queries.iter_trades()``) and subscribe to ``engine``."""
        md = cls()
        md.add_trades(queries.iter_trades())
        if engine is not None:
            engine.subscribe(md.on_batch)
        return md

    # --- writing -------------------------------------------------------------------------------
    def on_batch(self, changes: Any) -> None:
        """Engine listener: fold a committed batch's trades in."""
        if changes.trades:
            self.add_trades(
                {
                    "id": tr.id,
                    "symbol": tr.symbol,
                    "price": tr.price,
                    "qty": tr.qty,
                    "quote_qty": tr.quote_qty,
                    "taker_side": tr.taker_side,
                    "time": tr.time,
                }
                for tr in changes.trades
            )

    def add_trades(self, trades: Iterable[Any]) -> None:
        """Fold in trades given as mappings with id, symbol, price, qty, quote_qty,
        taker_side and time."""
        with self._lock:
            for tr in trades:
                sd = self._symbols.get(tr["symbol"])
                if sd is None:
                    sd = self._symbols[tr["symbol"]] = _SymbolData()
                price, qty, quote, ts = tr["price"], tr["qty"], tr["quote_qty"], tr["time"]
                sd.recent.append((tr["id"], price, qty, quote, tr["taker_side"], ts))
                if ts >= sd.last_time:
                    sd.last_price, sd.last_qty, sd.last_time = price, qty, ts
                for iv, series in sd.series.items():
                    step = FIXED_INTERVALS.get(iv)
                    open_t = ts - ts % step if step else bucket(iv, ts)[0]
                    series.add(open_t, price, qty, quote)

    # --- reading -------------------------------------------------------------------------------
    def last_price(self, symbol: str) -> int | None:
        sd = self._symbols.get(symbol)
        return sd.last_price if sd else None

    def recent_trades(self, symbol: str, limit: int) -> list[tuple[int, int, int, int, int, int]]:
        """Newest ``limit`` trades, oldest first: (id, price, qty, quote, taker_side, time)."""
        with self._lock:
            sd = self._symbols.get(symbol)
            if sd is None:
                return []
            n = len(sd.recent)
            return [sd.recent[i] for i in range(max(0, n - limit), n)]

    def klines(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        limit: int = 500,
    ) -> list[list[int]]:
        """Candles (copies) with open time in ``[start, end]``: the first ``limit`` from
        ``start`` when it is given, else the newest ``limit``."""
        with self._lock:
            sd = self._symbols.get(symbol)
            if sd is None:
                return []
            series = sd.series[interval]
            keys = series.keys
            lo = 0 if start is None else bisect_left(keys, bucket(interval, start)[0])
            hi = len(keys) if end is None else bisect_right(keys, end)
            if hi <= lo:
                return []
            if start is not None:
                sel = keys[lo : min(hi, lo + limit)]
            else:
                sel = keys[max(lo, hi - limit) : hi]
            return [list(series.candles[k]) for k in sel]

    def rolling(self, symbol: str, now: int, window: int = DAY) -> dict[str, Any]:
        """Statistics over the 1m candles opened in ``(now - window, now]``.

        Keys: open, high, low, last, last_qty, prev_close (last price before the window), volume,
        quote_volume, count, open_time, close_time; prices are None without trades.
        """
        start = now - window
        with self._lock:
            sd = self._symbols.get(symbol)
            out: dict[str, Any] = {
                "open": None,
                "high": None,
                "low": None,
                "last": sd.last_price if sd else None,
                "last_qty": sd.last_qty if sd else None,
                "prev_close": None,
                "volume": 0,
                "quote_volume": 0,
                "count": 0,
                "open_time": start,
                "close_time": now,
            }
            if sd is None:
                return out
            series = sd.series["1m"]
            keys = series.keys
            lo = bisect_left(keys, start - start % MINUTE)
            hi = bisect_right(keys, now)
            if lo > 0:
                out["prev_close"] = series.candles[keys[lo - 1]][C]
            if hi <= lo:
                return out
            cs = [series.candles[k] for k in keys[lo:hi]]
            out["open"] = cs[0][OPEN]
            out["high"] = max(c[H] for c in cs)
            out["low"] = min(c[L] for c in cs)
            out["volume"] = sum(c[VOL] for c in cs)
            out["quote_volume"] = sum(c[QVOL] for c in cs)
            out["count"] = sum(c[COUNT] for c in cs)
            return out

    def average_price(self, symbol: str, now: int, minutes: int = 5) -> tuple[int, int] | None:
        """(quote volume, quantity) traded in the last ``minutes`` 1m candles, or None."""
        start = now - minutes * MINUTE
        with self._lock:
            sd = self._symbols.get(symbol)
            if sd is None:
                return None
            series = sd.series["1m"]
            keys = series.keys
            lo = bisect_left(keys, start - start % MINUTE + MINUTE)
            cs = [series.candles[k] for k in keys[lo:]]
            qty = sum(c[VOL] for c in cs)
            if not qty:
                return None
            return sum(c[QVOL] for c in cs), qty
