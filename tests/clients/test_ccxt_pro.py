"""ccxt.pro's ``mexc`` (unmodified; only its URLs point at a loopback Bourse) watches books,
trades, tickers, candles, orders, fills and balances over ``/ws``, decoding our protobuf frames
with its own copy of MEXC's schema. Each test checks that real data arrived."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt.pro
import pytest

from bourse.domain.orders import BUY, OrderRequest, OrderType
from bourse.engine import commands as c
from tests.support.live import LiveServer
from tests.support.mexc import point_at

TIMEOUT = 30.0


def pro(live: LiveServer, role: str | None = "user") -> Any:
    """ccxt.pro's ``mexc`` with every REST and WebSocket URL pointed at ``live``, its book
    snapshots passed through ``_apply_straddling_push``."""
    config: dict[str, Any] = {"enableRateLimit": False, "timeout": 15_000}
    if role is not None:
        config["apiKey"] = live.credentials[role]["api_key"]
        config["secret"] = live.credentials[role]["secret"]
    ex = ccxt.pro.mexc(config)
    point_at(ex, live.url)
    ex.urls["api"]["ws"]["spot"] = live.url.replace("http://", "ws://") + "/ws"
    _apply_straddling_push(ex)
    return ex


def _apply_straddling_push(ex: Any) -> None:
    """Work around ccxt 4.5.90's local-book sync (docs/streams.md, "Depth versions"): it skips
    every push whose ``fromVersion`` is below the snapshot's ``lastUpdateId``, the one whose
    ``fromVersion..toVersion`` holds it too (buffered already, or the next to come), so the
    changes after the snapshot in that push are lost and a busy book can end up crossed
    (``test_ccxt_drops_the_push_that_straddles_the_snapshot`` shows it). Lowering the
    snapshot's nonce to that push's ``fromVersion`` makes ccxt apply it, which MEXC's
    documented procedure does; sizes are absolute, so the part already in the snapshot is
    harmless."""
    fetch = ex.fetch_rest_order_book_safe

    async def snapshot(symbol: str, limit: Any = None, params: Any = None) -> Any:
        book = await fetch(symbol, limit, params or {})
        stored = ex.orderbooks.get(symbol)
        pushes = [p for p in (stored.cache if stored is not None else ()) if "toVersion" in p]
        ranges = [(int(p["fromVersion"]), int(p["toVersion"])) for p in pushes]
        nonce = book["nonce"]
        held = [low for low, high in ranges if low < nonce <= high]
        if held:  # a buffered push holds it
            book["nonce"] = held[0]
        elif ranges and ranges[-1][1] < nonce:  # the next push will: it starts right after
            book["nonce"] = ranges[-1][1] + 1
        return book

    ex.fetch_rest_order_book_safe = snapshot


def _watch(live: LiveServer, role: str | None, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        ex = pro(live, role)
        try:
            await ex.load_markets()
            return await asyncio.wait_for(fn(ex), TIMEOUT)
        finally:
            await ex.close()

    return asyncio.run(run())


def _trade_soon(live: LiveServer, delay: float = 1.0, price: str = "50000") -> threading.Thread:
    """After ``delay`` s, ``user`` buys 0.01 BTC from ``counterparty`` at ``price`` (REST)."""

    def go() -> None:
        time.sleep(delay)
        user, other = live.mexc("user"), live.mexc("counterparty")
        user.create_order("BTC/USDT", "limit", "buy", 0.01, float(price))
        other.create_order("BTC/USDT", "limit", "sell", 0.01, float(price))

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def test_watch_order_book(live_server: LiveServer) -> None:
    live_server.start_market_maker(interval=0.05)

    async def watch(ex: Any) -> Any:
        book = await ex.watch_order_book("BTC/USDT")
        for _ in range(5):  # a few updates on top of the snapshot
            book = await ex.watch_order_book("BTC/USDT")
        return book

    book = _watch(live_server, None, watch)
    assert book["bids"] and book["asks"]
    assert book["bids"][0][0] < book["asks"][0][0]
    assert book["nonce"] and book["nonce"] > 0


def test_watch_trades_and_ohlcv(live_server: LiveServer) -> None:
    _trade_soon(live_server)

    async def watch(ex: Any) -> Any:
        trades, candles = await asyncio.gather(
            ex.watch_trades("BTC/USDT"), ex.watch_ohlcv("BTC/USDT", "1m")
        )
        return trades, candles

    trades, candles = _watch(live_server, None, watch)
    assert trades[-1]["price"] == 50000 and trades[-1]["amount"] == 0.01
    assert trades[-1]["side"] == "sell" and trades[-1]["timestamp"] > 0
    assert candles[-1][4] == 50000 and candles[-1][5] == 0.01


def test_watch_ticker(live_server: LiveServer) -> None:
    live_server.start_market_maker(interval=0.05)
    ticker = _watch(live_server, None, lambda ex: ex.watch_ticker("BTC/USDT"))
    assert ticker["symbol"] == "BTC/USDT"
    assert 0 < ticker["bid"] < ticker["ask"]


def test_watch_orders_my_trades_and_balance(live_server: LiveServer) -> None:
    _trade_soon(live_server, delay=2.0)

    async def watch(ex: Any) -> Any:
        balance = asyncio.ensure_future(ex.watch_balance())
        orders = asyncio.ensure_future(ex.watch_orders("BTC/USDT"))
        mine = asyncio.ensure_future(ex.watch_my_trades("BTC/USDT"))
        got_orders = await orders
        got_trades = await mine
        return got_orders, got_trades, await balance

    orders, trades, balance = _watch(live_server, "user", watch)
    assert orders[-1]["symbol"] == "BTC/USDT" and orders[-1]["price"] == 50000
    assert orders[-1]["side"] == "buy" and orders[-1]["amount"] == 0.01
    assert trades[-1]["price"] == 50000 and trades[-1]["amount"] == 0.01
    assert trades[-1]["side"] == "buy" and trades[-1]["order"]
    assert balance["info"] and any(balance.get(c, {}).get("total") for c in ("USDT", "BTC"))


def _keep_user_trading(live: LiveServer, done: threading.Event) -> threading.Thread:
    """Until ``done``: every 0.3 s ``user`` buys 0.001 BTC against the market maker's asks (IOC),
    so its orders, fills and balances keep moving."""
    account = live.accounts["user"]
    request = OrderRequest(account, "BTCUSDT", BUY, OrderType.IMMEDIATE_OR_CANCEL, 1_000, 7_000_000)

    def go() -> None:
        while not done.wait(0.3):
            with contextlib.suppress(Exception):
                live.platform.engine.execute(c.PlaceOrder(request))

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


@pytest.mark.slow
def test_ccxt_pros_own_watch_tests(live_server: LiveServer) -> None:
    """ccxt.pro's shipped test functions (``ccxt.pro.test.Exchange``) for each watch method, run
    side by side for their 15 s; they pass on a failed connection too, so the exchange's caches
    are checked afterwards for data that arrived."""
    from ccxt.pro.test.Exchange import (
        test_watch_balance,
        test_watch_my_trades,
        test_watch_ohlcv,
        test_watch_order_book,
        test_watch_orders,
        test_watch_ticker,
        test_watch_trades,
    )

    live_server.start_market_maker(interval=0.05)
    done = threading.Event()
    mover = _keep_user_trading(live_server, done)

    async def run() -> Any:
        ex = pro(live_server, "user")
        try:
            await ex.load_markets()
            s = "BTC/USDT"
            await asyncio.wait_for(
                asyncio.gather(
                    test_watch_order_book.test_watch_order_book(ex, {}, s),
                    test_watch_trades.test_watch_trades(ex, {}, s),
                    test_watch_ticker.test_watch_ticker(ex, {}, s),
                    test_watch_ohlcv.test_watch_ohlcv(ex, {}, s),
                    test_watch_orders.test_watch_orders(ex, {}, s),
                    test_watch_my_trades.test_watch_my_trades(ex, {}, s),
                    test_watch_balance.test_watch_balance(ex, {}, "USDT"),
                ),
                60,
            )
            return ex
        finally:
            await ex.close()

    try:
        ex = asyncio.run(run())
    finally:
        done.set()
        mover.join(10)
    s = "BTC/USDT"
    assert ex.orderbooks[s]["bids"] and ex.orderbooks[s]["asks"]
    assert len(ex.trades[s]) > 0
    assert ex.tickers[s]["bid"] > 0
    assert len(ex.ohlcvs[s]["1m"]) > 0
    assert len(ex.orders) > 0 and len(ex.myTrades) > 0
    assert ex.balance["spot"]["BTC"]["free"] > 0  # ccxt keeps spot balances under "spot"


class _Client:
    """The part of a ccxt.pro WebSocket client that its book handlers touch."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, Any] = {}
        self.rejected: list[Any] = []

    def resolve(self, result: Any, message_hash: str) -> None:
        pass

    def reject(self, error: Any, message_hash: str) -> None:
        self.rejected.append(error)


def _synced_book(straddle_fix: bool, late: bool = False) -> Any:
    """ccxt.pro's ``mexc`` keeps a local book from three pushes (versions 1-3, 4-6, 7-8) and a
    snapshot at version 5, inside the second push: at version 6 the ask at 101 was taken and a
    bid rests there instead. ``late``: the second push arrives after the snapshot. Bourse and
    MEXC send exactly these shapes."""
    ex = ccxt.pro.mexc()
    if straddle_fix:
        _apply_straddling_push(ex)
    client = _Client()

    def push(low: int, high: int, bids: list[Any], asks: list[Any]) -> None:
        depths = {"fromVersion": str(low), "toVersion": str(high), "bids": bids, "asks": asks}
        message = {"symbol": "BTCUSDT", "sendTime": "1", "publicAggreDepths": depths}
        ex.handle_order_book(client, message)

    def level(price: str, quantity: str) -> dict[str, str]:
        return {"price": price, "quantity": quantity}

    async def fetch_order_book(symbol: str, limit: Any = None, params: Any = None) -> Any:
        raw = {"lastUpdateId": 5, "bids": [["100", "1"]], "asks": [["101", "1"], ["102", "1"]]}
        return ex.parse_order_book(raw, symbol, None, "bids", "asks", 0, 1) | {"nonce": 5}

    ex.fetch_order_book = fetch_order_book
    push(1, 3, [level("100", "1")], [level("102", "1")])
    if not late:
        push(4, 6, [level("101", "2")], [level("101", "0")])
    asyncio.run(ex.load_order_book(client, "orderbook:BTCUSDT", "BTCUSDT"))
    if late:
        push(4, 6, [level("101", "2")], [level("101", "0")])
    push(7, 8, [level("99", "1")], [])
    assert not client.rejected
    book = ex.orderbooks["BTCUSDT"]
    return [list(x) for x in book["bids"]], [list(x) for x in book["asks"]]


def test_the_straddle_fix_keeps_ccxts_book_right() -> None:
    assert _synced_book(straddle_fix=True) == ([[101, 2], [100, 1], [99, 1]], [[102, 1]])
    assert _synced_book(straddle_fix=True, late=True) == ([[101, 2], [100, 1], [99, 1]], [[102, 1]])


@pytest.mark.xfail(
    strict=True,
    reason="ccxt 4.5.90 bug, not Bourse: get_cache_index and handle_book_delta skip every "
    "push whose fromVersion is below the snapshot's lastUpdateId, the one that holds it too, "
    "so the ask at 101 stays and the bid at 101 never comes (MEXC the same)",
)
@pytest.mark.parametrize("late", [False, True], ids=["buffered", "after-the-snapshot"])
def test_ccxt_drops_the_push_that_straddles_the_snapshot(late: bool) -> None:
    assert _synced_book(straddle_fix=False, late=late) == (
        [[101, 2], [100, 1], [99, 1]],
        [[102, 1]],
    )
