"""The stream hub: one bus subscription per app, aggregated into MEXC's channels, fanned out.

Every committed batch (a ``bourse.bus.Committed``) is folded into per-window aggregates: trades
per symbol, changed depth levels per symbol (absolute sizes), which books moved. A timer flushes
the 10 ms aggregates every 10 ms and the 100 ms ones every 100 ms; klines and mini tickers go out
once a second; user data goes out as soon as its batch arrives. A frame is serialized once per
channel and queued to each subscribed connection (``Sink.push``); a connection whose queue is
full is dropped by itself, never waited for.

Depth versions are the engine's batch counter, the ``lastUpdateId`` of ``GET /api/v3/depth``.
For each symbol and window, ``fromVersion`` is the previous push's ``toVersion + 1`` (the first
push starts right after the version at which the hub joined the bus) and ``toVersion`` is the
last batch folded in, so consecutive pushes chain and a push covers every batch in its range.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Protocol

from bourse.api.ws import channels as ch
from bourse.api.ws import frames, private
from bourse.api.ws.limits import StreamStats
from bourse.bus import BookUpdate, Committed, InProcessBus, Subscription, feed
from bourse.domain.orders import Trade
from bourse.engine import Engine
from bourse.engine.clock import now_ms
from bourse.services.marketdata import MarketData

log = logging.getLogger("bourse.ws")
TICK_S = 0.010


class Sink(Protocol):
    """A connection as the hub sees it."""

    account: int | None

    def push(self, frame: bytes) -> None: ...

    def drop(self, reason: str, last_words: str | None = None) -> None: ...


class _Pending:
    """One window's aggregate for one symbol."""

    __slots__ = ("bids", "asks", "trades", "last_order", "moved")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.trades: list[Trade] = []
        self.last_order = 0
        self.moved = False


class StreamHub:
    #: committed batches the hub may lag behind the engine before the bus drops it
    backlog = 1_000_000

    def __init__(
        self,
        engine: Engine,
        marketdata: MarketData,
        bus: InProcessBus,
        attach: Callable[[InProcessBus], int] | None = None,
    ) -> None:
        self.engine = engine
        #: joins the event source, returns its version: the engine's ``feed`` by default, a
        #: ``Mirror``'s ``attach`` in a process that follows another one's engine
        self._attach = attach or partial(feed, engine)
        self.marketdata = marketdata
        self.bus = bus
        self.subscribers: dict[str, set[Sink]] = defaultdict(set)
        self.channels: dict[str, ch.Channel] = {}
        self.private: dict[tuple[int, str], set[Sink]] = defaultdict(set)
        self.version = 0
        self._pending: dict[int, dict[str, _Pending]] = {w: {} for w in ch.WINDOWS.values()}
        self._last_to: dict[int, dict[str, int]] = {w: {} for w in ch.WINDOWS.values()}
        self._start_version: int | None = 0
        self._traded: set[str] = set()
        self._books: dict[str, BookUpdate] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        #: open connections and slow consumers dropped (the metrics)
        self.stats = StreamStats()

    # --- lifecycle -----------------------------------------------------------------------------
    def ensure_started(self) -> None:
        """Join the bus and start the timers (on the first connection, inside its loop)."""
        if self._started:
            return
        self._started = True
        sub = self.bus.subscribe(maxsize=self.backlog)
        self._start_version = self.version = self._attach(self.bus)
        self._tasks = [
            asyncio.ensure_future(self._consume(sub)),
            asyncio.ensure_future(self._timer()),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- subscriptions -------------------------------------------------------------------------
    def add(self, sink: Sink, channel: ch.Channel) -> None:
        if channel.private:
            assert sink.account is not None
            self.private[(sink.account, channel.kind)].add(sink)
        else:
            self.channels[channel.name] = channel
            self.subscribers[channel.name].add(sink)

    def remove(self, sink: Sink, channel: ch.Channel) -> None:
        if channel.private:
            key = (sink.account or 0, channel.kind)
            subs = self.private.get(key)
            if subs is not None:
                subs.discard(sink)
                if not subs:
                    del self.private[key]
            return
        subs = self.subscribers.get(channel.name)
        if subs is not None:
            subs.discard(sink)
            if not subs:
                del self.subscribers[channel.name]
                del self.channels[channel.name]

    # --- folding events in ---------------------------------------------------------------------
    async def _consume(self, sub: Subscription) -> None:
        while True:
            async for event in sub:
                try:
                    self._fold(event)
                except Exception:  # one bad event must not end the streams
                    log.exception("could not fold batch %d", event.version)
            if not sub.dropped:
                return
            # batches were lost: no push may pretend to chain over them
            log.error("the stream hub fell behind the engine; closing every stream")
            self._reset()
            sub = self.bus.subscribe(maxsize=self.backlog)

    def _reset(self) -> None:
        """Close every connection and forget every aggregate and version chain."""
        sinks = {s for subs in self.subscribers.values() for s in subs}
        sinks.update(s for subs in self.private.values() for s in subs)
        for sink in sinks:
            sink.drop("server overloaded")
        self.subscribers.clear()
        self.channels.clear()
        self.private.clear()
        self._pending = {w: {} for w in ch.WINDOWS.values()}
        self._last_to = {w: {} for w in ch.WINDOWS.values()}
        self._start_version = None  # the next event's version - 1

    def _fold(self, event: Committed) -> None:
        if self._start_version is None:
            self._start_version = event.version - 1
        self.version = event.version
        for window_pending in self._pending.values():
            for symbol, book in event.books.items():
                p = window_pending.get(symbol)
                if p is None:
                    p = window_pending[symbol] = _Pending()
                p.bids.update(book.bids)
                p.asks.update(book.asks)
                p.moved = True
                p.last_order = max(p.last_order, book.last_order_time)
            for t in event.changes.trades:
                p = window_pending.get(t.symbol)
                if p is None:
                    p = window_pending[t.symbol] = _Pending()
                p.trades.append(t)
        self._books.update(event.books)
        for t in event.changes.trades:
            self._traded.add(t.symbol)
        if self.private:
            self._push_private(event)

    def _push_private(self, event: Committed) -> None:
        private_subs = self.private

        def wanted(account: int, kind: str) -> bool:
            return (account, kind) in private_subs

        symbols = self.engine.exchange.symbols
        assets = self.engine.wallet.assets
        for account, kind, frame in private.frames(event, wanted, symbols, assets):
            for sink in list(private_subs.get((account, kind), ())):
                sink.push(frame)

    # --- flushing ------------------------------------------------------------------------------
    async def _timer(self) -> None:
        loop = asyncio.get_running_loop()
        tick = 0
        next_at = loop.time()
        while True:
            next_at += TICK_S
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            tick += 1
            try:
                self._flush(10)
                if tick % 10 == 0:
                    self._flush(100)
                if tick % 100 == 0:
                    self._every_second()
            except Exception:
                log.exception("stream flush failed")
            if loop.time() - next_at > 1.0:  # fell far behind (a stalled loop): skip ahead
                next_at = loop.time()

    def _send(self, name: str, frame: bytes) -> None:
        for sink in list(self.subscribers.get(name, ())):
            sink.push(frame)

    def _flush(self, window: int) -> None:
        pending = self._pending[window]
        if not pending:
            return
        self._pending[window] = {}
        symbols = self.engine.exchange.symbols
        names = {(c.kind, c.symbol): c for c in self.channels.values() if c.window == window}
        last_to = self._last_to[window]
        now = now_ms()
        for symbol, p in pending.items():
            sym = symbols.get(symbol)
            if sym is None:
                continue
            c = names.get((ch.DEALS, symbol))
            if c is not None and p.trades:
                self._send(c.name, frames.deals(c, sym, p.trades, now))
            c = names.get((ch.DEPTH, symbol))
            if c is not None and (p.bids or p.asks):
                start = last_to.get(symbol, self._start_version or 0) + 1
                bids = sorted(p.bids.items(), reverse=True)
                asks = sorted(p.asks.items())
                frame = frames.depth_diff(
                    c, sym, bids, asks, start, self.version, p.last_order, now
                )
                last_to[symbol] = self.version
                self._send(c.name, frame)
            if p.moved:
                book = self._books.get(symbol)
                if book is None:
                    continue
                c = names.get((ch.BOOK_TICKER, symbol))
                args = (sym, book.top_bids, book.top_asks, self.version, p.last_order, now)
                if c is not None:
                    self._send(c.name, frames.book_ticker(c, *args))
                if window == 100:
                    self._flush_books(symbol, args)

    def _flush_books(self, symbol: str, args: tuple) -> None:  # type: ignore[type-arg]
        for c in list(self.channels.values()):
            if c.symbol != symbol:
                continue
            if c.kind == ch.LIMIT_DEPTH:
                self._send(c.name, frames.limit_depth(c, *args))
            elif c.kind == ch.BOOK_TICKER_BATCH:
                self._send(c.name, frames.book_ticker_batch(c, *args))

    def _every_second(self) -> None:
        traded, self._traded = self._traded, set()
        if not self.channels:
            return
        now = now_ms()
        symbols = self.engine.exchange.symbols
        md = self.marketdata
        for c in list(self.channels.values()):
            if c.kind == ch.KLINE and c.symbol in traded:
                k = frames.candle(md, c.symbol, c.interval, now)
                if k is not None:
                    self._send(c.name, frames.kline(c, symbols[c.symbol], k, now))
            elif c.kind == ch.MINI_TICKER and c.symbol is not None:
                self._send(c.name, frames.mini_ticker(c, symbols[c.symbol], md, now))
            elif c.kind == ch.MINI_TICKERS:
                listed = [symbols[k] for k in sorted(symbols)]
                self._send(c.name, frames.mini_tickers(c, listed, md, now))
