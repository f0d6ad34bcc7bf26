"""A demo market maker: keeps every book two-sided and makes a few trades happen.

``MarketMaker`` runs one background thread that, every ``interval`` seconds (with jitter):

* random-walks a reference mid per symbol (integer price units, mean-reverting toward the
  listing's reference price so the demo market never drifts off);
* keeps ``levels`` bids and ``levels`` asks on a fixed price grid around that mid: orders already
  on a wanted price stay (they keep their time priority), orders off the grid are cancelled,
  missing levels are placed, and now and then one level is re-sized, so one cycle only sends a
  handful of commands;
* now and then crosses the spread with a small IMMEDIATE_OR_CANCEL or MARKET order, so trades
  print and tickers and klines move.

An operator steers it while it runs (``bourse sandbox ...``, docs/sandbox.md): ``set_price``
moves a symbol's reference (the walk then wanders around the new price), ``set_path`` scripts
the mid through waypoints ``(seconds from now, price)``, ``set_drift`` makes it a random walk
with a drift and a volatility (basis points per minute), ``replay`` plays recorded trades
``(time, price, qty, side)`` at a speed factor (the mid follows each trade's price and the
maker prints the trade against its own quotes), and ``pause``/``resume`` stop and restart its
cycles (its quotes stay on the books while paused). ``status`` says what each symbol does.

It only talks to the engine through commands (``PlaceOrder``, ``CancelOrder``) and reads the
books with ``engine.read``. Its own taker orders use ``StpMode.NONE`` so they may trade with its
own quotes (one funded account is enough). Any ``DomainError`` (not enough funds, a level that
moved) is counted and skipped; nothing the engine says stops the thread. Every amount is an int.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from bourse.domain.errors import DomainError
from bourse.domain.money import to_units
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType, StpMode
from bourse.engine import commands as c
from bourse.sandbox.mid_price import (
    DRIFT,
    PATH,
    REPLAY,
    WALK,
    Book,
    RecordedTrade,
    clamp,
    grid_step,
    move,
    rebase,
    replay_end,
)

log = logging.getLogger("bourse.sandbox.market_maker")

#: reference mid prices (quote per base) for the demo listings
REFERENCE_PRICES: dict[str, str] = {"BTCUSDT": "60000", "ETHUSDT": "3000", "MXUSDT": "2.5"}

#: seconds to wait for the engine to acknowledge one cycle's commands
COMMAND_TIMEOUT = 10.0


@dataclass(slots=True)
class MakerStats:
    cycles: int = 0
    placed: int = 0
    cancelled: int = 0
    taker_orders: int = 0
    rejected: int = 0
    errors: int = 0
    last_error: str = ""
    by_error: dict[str, int] = field(default_factory=dict)


class MarketMaker:
    """Quote ``symbols`` from ``account`` on ``engine`` in a background thread.

    ``engine`` must be started (``engine.start()``) so commands are batched. ``seed`` makes
    the walk and the order sizes reproducible. ``quote_notional`` is the target value of one
    level in the quote asset (a decimal string), ``taker_probability`` the chance per cycle
    and symbol of a small spread-crossing order, ``refresh_probability`` the chance per cycle
    and symbol that one resting level is replaced with a freshly sized order.
    """

    def __init__(
        self,
        engine: Any,
        account: int,
        symbols: Sequence[str] | None = None,
        seed: int | None = None,
        *,
        levels: int = 10,
        interval: float = 0.75,
        jitter: float = 0.25,
        quote_notional: str = "1500",
        taker_probability: float = 0.35,
        refresh_probability: float = 0.3,
        reference_prices: dict[str, str] | None = None,
    ) -> None:
        if levels < 1 or levels > 50:
            raise ValueError("levels must be between 1 and 50")
        if interval <= 0 or jitter < 0 or jitter >= interval:
            raise ValueError("need interval > jitter >= 0")
        self.engine = engine
        self.account = account
        self.levels = levels
        self.interval = interval
        self.jitter = jitter
        self.taker_probability = taker_probability
        self.refresh_probability = refresh_probability
        self.rng = random.Random(seed)
        self.stats = MakerStats()
        self._quote_notional = quote_notional
        self._refs = dict(REFERENCE_PRICES)
        self._refs.update(reference_prices or {})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._books: dict[str, Book] = {}
        self._symbol_names = list(symbols) if symbols is not None else list(self._refs)
        #: held for one whole cycle and by every control, so a control never lands mid-cycle
        self._cycle = threading.RLock()
        self._paused = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> MarketMaker:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="bourse-market-maker", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0, *, cancel_orders: bool = False) -> None:
        """Stop the thread (waits up to ``timeout`` s); optionally pull all quotes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if cancel_orders:
            self._send([c.CancelAll(self.account, b.symbol) for b in self._books.values()])

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> MarketMaker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if not self._paused.is_set():
                    self.step()
            except Exception as exc:  # never let the demo liquidity thread die
                self.stats.errors += 1
                self.stats.last_error = repr(exc)
                log.exception("market maker cycle failed")
            pause = self.interval + self.rng.uniform(-self.jitter, self.jitter)
            self._stop.wait(max(0.05, pause - (time.monotonic() - started)))

    # --- controls (any thread) -----------------------------------------------------------------
    def pause(self) -> None:
        """Stop cycling (returns once a running cycle has finished); quotes stay."""
        self._paused.set()
        with self._cycle:
            pass

    def resume(self) -> None:
        self._paused.clear()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def _book(self, symbol: str) -> Book:
        with self._cycle:
            if not self._books:
                self._init_books()
            book = self._books.get(symbol.upper())
        if book is None:
            raise KeyError(f"the market maker does not quote {symbol.upper()}")
        return book

    def set_price(self, symbol: str, price: int) -> None:
        """Move ``symbol``'s mid to ``price`` (units) now; the demo walk goes on around it."""
        if price <= 0:
            raise ValueError("the price must be positive")
        book = self._book(symbol)
        with self._cycle:
            book.mode = WALK
            rebase(book, price)

    def set_path(self, symbol: str, points: Sequence[tuple[int, int]]) -> None:
        """Move the mid through ``points`` (ms from now, price units), linearly between them;
        it stays at the last one (then the demo walk resumes around it)."""
        pts = sorted(points)
        if not pts or any(ms < 0 or price <= 0 for ms, price in pts):
            raise ValueError("a path is one or more (seconds >= 0, price > 0) points")
        book = self._book(symbol)
        with self._cycle:
            book.mode, book.path = PATH, list(pts)
            if pts[0][0] > 0:
                book.path.insert(0, (0, book.mid))
            book.started = time.monotonic()

    def set_drift(self, symbol: str, drift_ppm: int, vol_ppm: int) -> None:
        """A random walk of the mid with ``drift_ppm`` per minute on average and
        ``vol_ppm`` per square-root minute of volatility (ppm of the price)."""
        if vol_ppm < 0 or abs(drift_ppm) >= 1_000_000:
            raise ValueError("need |drift| < 100 % per minute and volatility >= 0")
        book = self._book(symbol)
        with self._cycle:
            book.mode, book.drift_ppm, book.vol_ppm = DRIFT, drift_ppm, vol_ppm
            book.moved = time.monotonic()

    def replay(self, symbol: str, trades: Sequence[RecordedTrade], speed: float = 1.0) -> None:
        """Play ``trades`` from now at ``speed`` times their recorded pace."""
        if not trades:
            raise ValueError("nothing to replay")
        if not 0 < speed <= 1_000_000:
            raise ValueError("the speed factor must be above 0")
        book = self._book(symbol)
        rows = sorted((t.offset_ms, t.price, t.qty, t.side) for t in trades)
        with self._cycle:
            book.mode, book.trades, book.next_trade = REPLAY, rows, 0
            book.speed, book.replayed, book.started = speed, 0, time.monotonic()

    def forget(self) -> None:
        """Forget every symbol's mid and script (the next cycle starts from the references and
        the books, as after a restart): after a sandbox reset."""
        with self._cycle:
            self._books.clear()

    def status(self) -> list[dict[str, Any]]:
        """What moves each symbol's mid: mode, mid and reference (price units), progress."""
        with self._cycle:
            if not self._books:
                self._init_books()
            out = []
            for b in self._books.values():
                row: dict[str, Any] = {
                    "symbol": b.symbol,
                    "mode": b.mode,
                    "mid": b.mid,
                    "reference": b.reference,
                }
                if b.mode == PATH:
                    row["path_ends_in_s"] = max(
                        0, round(b.path[-1][0] / 1000 - (time.monotonic() - b.started), 1)
                    )
                if b.mode == DRIFT:
                    row["drift_ppm"], row["vol_ppm"] = b.drift_ppm, b.vol_ppm
                if b.mode == REPLAY:
                    row["replayed"], row["to_replay"] = b.next_trade, len(b.trades)
                out.append(row)
            return out

    # --- one cycle ---------------------------------------------------------------------------
    def step(self) -> None:
        """Run one cycle synchronously: move mids, fix the quotes, maybe take."""
        with self._cycle:
            if not self._books:
                self._init_books()
            for book in self._books.values():
                if self._stop.is_set():
                    return
                move(book, self.rng)
                self._requote(book)
                if book.mode == REPLAY:
                    self._replay_due(book)
                elif self.rng.random() < self.taker_probability:
                    self._take(book)
            self.stats.cycles += 1

    def _replay_due(self, book: Book) -> None:
        """Print the recorded trades that are due, each against the maker's own quotes."""
        end = replay_end(book, time.monotonic())
        name = book.symbol
        orders: list[c.Command] = []
        for _, price, qty, side in book.trades[book.next_trade : end]:
            req = OrderRequest(
                self.account,
                name,
                side,
                OrderType.IMMEDIATE_OR_CANCEL,
                qty=qty,
                price=price + book.step if side == BUY else max(1, price - book.step),
                stp=StpMode.NONE,
            )
            orders.append(c.PlaceOrder(req))
        book.next_trade = end
        self.stats.taker_orders += self._send(orders)
        if book.next_trade >= len(book.trades):
            book.mode = WALK  # the recording is over: the walk goes on around its last price

    def _init_books(self) -> None:
        def current(engine: Any) -> dict[str, tuple[Any, int | None, int | None]]:
            out = {}
            for name in self._symbol_names:
                sym = engine.exchange.symbols.get(name)
                if sym is None:
                    continue
                ob = engine.exchange.books[name]
                out[name] = (sym, ob.best_bid(), ob.best_ask())
            return out

        for name, (sym, bid, ask) in self.engine.read(current).items():
            ref_text = self._refs.get(name)
            if ref_text is None:
                continue
            reference = to_units(ref_text, sym.price_scale)
            step = grid_step(reference)
            mid = reference
            if bid is not None and ask is not None and bid < ask:
                mid = (bid + ask) // 2  # pick up where the market is (restart)
            mid = clamp(mid, reference)
            self._books[name] = Book(name, reference, step, mid)

    def _wanted(self, book: Book) -> tuple[list[int], list[int]]:
        center = book.mid // book.step
        bids = [(center - k) * book.step for k in range(1, self.levels + 1)]
        asks = [(center + k) * book.step for k in range(1, self.levels + 1)]
        return [p for p in bids if p > 0], asks

    def _requote(self, book: Book) -> None:
        bids, asks = self._wanted(book)
        want = {BUY: set(bids), SELL: set(asks)}
        name, account = book.symbol, self.account

        def mine(engine: Any) -> tuple[Any, list[tuple[int, int, int]], int | None, int | None]:
            ob = engine.exchange.books[name]
            mine = engine.exchange.open_of(account)
            own = [(o.id, o.side, o.price) for o in mine if o.symbol == name]
            return engine.exchange.symbols[name], own, ob.best_bid(), ob.best_ask()

        sym, own, _, _ = self.engine.read(mine)
        have: dict[int, set[int]] = {BUY: set(), SELL: set()}
        kept: list[tuple[int, int, int]] = []
        cancels: list[c.Command] = []
        for oid, side, price in own:
            if price in want[side] and price not in have[side]:
                have[side].add(price)
                kept.append((oid, side, price))
            else:
                cancels.append(c.CancelOrder(account, name, order_id=oid))
        if kept and self.rng.random() < self.refresh_probability:
            oid, side, price = self.rng.choice(kept)  # re-size one level now and then
            have[side].discard(price)
            cancels.append(c.CancelOrder(account, name, order_id=oid))
        cancelled = self._send(cancels)
        self.stats.cancelled += cancelled

        places: list[c.Command] = []
        for side, prices in ((BUY, bids), (SELL, asks)):
            for price in prices:
                if price in have[side]:
                    continue
                qty = self._level_qty(sym, price)
                if qty <= 0:
                    continue
                req = OrderRequest(account, name, side, OrderType.LIMIT, qty=qty, price=price)
                places.append(c.PlaceOrder(req))
        self.stats.placed += self._send(places)

    def _level_qty(self, sym: Any, price: int) -> int:
        """A quantity worth roughly ``quote_notional`` (randomised 0.5x-2x), within limits."""
        target = to_units(self._quote_notional, sym.quote.scale)
        target = target * self.rng.randint(50, 200) // 100
        unit = sym.notional(price, 1)  # quote ledger units per quantity unit
        if unit <= 0:
            return 0
        qty = max(target // unit, sym.min_qty)
        while sym.notional(price, qty) < sym.min_notional and qty < sym.max_qty:
            qty = min(sym.max_qty, qty * 2)  # at most ~63 doublings
        return int(min(qty, sym.max_qty))

    def _take(self, book: Book) -> None:
        name = book.symbol

        def top(engine: Any) -> tuple[Any, int | None, int | None]:
            ob = engine.exchange.books[name]
            return engine.exchange.symbols[name], ob.best_bid(), ob.best_ask()

        sym, bid, ask = self.engine.read(top)
        side = BUY if self.rng.random() < 0.5 else SELL
        best = ask if side == BUY else bid
        if best is None:
            return
        small = self._level_qty(sym, best) // self.rng.randint(3, 10)
        qty = max(small, sym.min_qty)
        while sym.notional(best, qty) < sym.min_notional and qty < sym.max_qty:
            qty = min(sym.max_qty, qty * 2)
        if self.rng.random() < 0.5:
            req = OrderRequest(
                self.account,
                name,
                side,
                OrderType.IMMEDIATE_OR_CANCEL,
                qty=qty,
                price=best,
                stp=StpMode.NONE,
            )
        else:
            req = OrderRequest(
                self.account, name, side, OrderType.MARKET, qty=qty, stp=StpMode.NONE
            )
        self.stats.taker_orders += self._send([c.PlaceOrder(req)])

    # --- talking to the engine ---------------------------------------------------------------
    def _send(self, commands: Iterable[c.Command]) -> int:
        """Submit ``commands`` together (one group commit) and count the ones that succeeded."""
        futures: list[Future[Any]] = [self.engine.submit(cmd) for cmd in commands]
        ok = 0
        deadline = time.monotonic() + COMMAND_TIMEOUT
        for fut in futures:
            try:
                fut.result(max(0.0, deadline - time.monotonic()))
                ok += 1
            except DomainError as exc:
                self.stats.rejected += 1
                kind = type(exc).__name__
                self.stats.by_error[kind] = self.stats.by_error.get(kind, 0) + 1
            except FutureTimeout:
                self.stats.errors += 1
                self.stats.last_error = "engine did not answer in time"
            except Exception as exc:  # EngineUnavailable and friends: try again next cycle
                self.stats.errors += 1
                self.stats.last_error = repr(exc)
        return ok


__all__ = ["MarketMaker", "MakerStats", "REFERENCE_PRICES"]
