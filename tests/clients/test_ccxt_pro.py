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
    """ccxt.pro's ``mexc`` with every REST and WebSocket URL pointed at ``live``."""
    config: dict[str, Any] = {"enableRateLimit": False, "timeout": 15_000}
    if role is not None:
        config["apiKey"] = live.credentials[role]["api_key"]
        config["secret"] = live.credentials[role]["secret"]
    ex = ccxt.pro.mexc(config)
    point_at(ex, live.url)
    ex.urls["api"]["ws"]["spot"] = live.url.replace("http://", "ws://") + "/ws"
    return ex


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
