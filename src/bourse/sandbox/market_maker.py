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

log = logging.getLogger("bourse.sandbox.market_maker")

#: reference mid prices (quote per base) for the demo listings
REFERENCE_PRICES: dict[str, str] = {"BTCUSDT": "60000", "ETHUSDT": "3000", "MXUSDT": "2.5"}

#: distance between grid levels, in basis points of the reference price
GRID_BPS = 5
#: the mid never wanders further than this from the reference price (basis points)
MAX_DRIFT_BPS = 2000
#: seconds to wait for the engine to acknowledge one cycle's commands
COMMAND_TIMEOUT = 10.0


@dataclass(slots=True)
class _Book:
    """The maker's view of one symbol: grid step, reference and current mid (price units)."""

    symbol: str
    reference: int
    step: int
    mid: int


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
        self._books: dict[str, _Book] = {}
        self._symbol_names = list(symbols) if symbols is not None else list(self._refs)

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
                self.step()
            except Exception as exc:  # never let the demo liquidity thread die
                self.stats.errors += 1
                self.stats.last_error = repr(exc)
                log.exception("market maker cycle failed")
            pause = self.interval + self.rng.uniform(-self.jitter, self.jitter)
            self._stop.wait(max(0.05, pause - (time.monotonic() - started)))

    # --- one cycle ---------------------------------------------------------------------------
    def step(self) -> None:
        """Run one cycle synchronously: move mids, fix the quotes, maybe take."""
        if not self._books:
            self._init_books()
        for book in self._books.values():
            if self._stop.is_set():
                return
            self._walk(book)
            self._requote(book)
            if self.rng.random() < self.taker_probability:
                self._take(book)
        self.stats.cycles += 1

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
            step = max(1, reference * GRID_BPS // 10_000)
            mid = reference
            if bid is not None and ask is not None and bid < ask:
                mid = (bid + ask) // 2  # pick up where the market is (restart)
            mid = self._clamp(mid, reference)
            self._books[name] = _Book(name, reference, step, mid)

    @staticmethod
    def _clamp(mid: int, reference: int) -> int:
        span = reference * MAX_DRIFT_BPS // 10_000
        return min(max(mid, reference - span), reference + span)

    def _walk(self, book: _Book) -> None:
        # one grid step up or down half the time, nudged back toward the reference
        move = self.rng.choice((-1, 0, 0, 1)) * book.step
        pull = (book.reference - book.mid) // 50
        book.mid = self._clamp(book.mid + move + pull, book.reference)

    def _wanted(self, book: _Book) -> tuple[list[int], list[int]]:
        center = book.mid // book.step
        bids = [(center - k) * book.step for k in range(1, self.levels + 1)]
        asks = [(center + k) * book.step for k in range(1, self.levels + 1)]
        return [p for p in bids if p > 0], asks

    def _requote(self, book: _Book) -> None:
        bids, asks = self._wanted(book)
        want = {BUY: set(bids), SELL: set(asks)}
        name, account = book.symbol, self.account

        def mine(engine: Any) -> tuple[Any, list[tuple[int, int, int]], int | None, int | None]:
            ob = engine.exchange.books[name]
            own = [(o.id, o.side, o.price) for o in ob.orders.values() if o.account == account]
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

    def _take(self, book: _Book) -> None:
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
