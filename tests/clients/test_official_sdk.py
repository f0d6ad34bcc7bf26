"""MEXC's official SDK (``mexc-sdk`` 1.0.0, MIT, unmodified) against a live server.

The SDK is TypeScript compiled for Python by jsii: every call runs in a node child process and
does a synchronous HTTP request (``sync-request``). Its only host setting is the public ``config``
object (``{"apiKey", "apiSecret", "baseURL": "https://api.mexc.com/api/v3"}``), which the tests
replace with one whose ``baseURL`` is the server's ``/api/v3``. It signs
``encodeURIComponent``-encoded parameters in insertion order with ``timestamp`` last, appends
``&signature=`` to the URL, sends ``Content-Type: application/json`` with no body, turns every
null in a response into ``""``, and raises on any HTTP status >= 300.

The wheel is not on the package index we use: ``scripts/bootstrap test`` installs it from
``../shared/clients``. If it is missing this module fails to import, on purpose (no skip).
"""

from __future__ import annotations

import os
import subprocess
import time
from decimal import Decimal
from typing import Any

import pytest

from ._harness import seed_market

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
# jsii's end-of-life notice is silenced by naming the node major version it should accept
_NODE_MAJOR = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout[1:]
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", _NODE_MAJOR.split(".")[0])
try:
    from mexc_sdk import Spot
except ImportError as exc:  # pragma: no cover - the point is to fail loudly
    raise ImportError(
        "mexc_sdk is not installed: run scripts/bootstrap test (it installs "
        "../shared/clients/mexc_sdk-1.0.0-py3-none-any.whl)"
    ) from exc

D = Decimal


def sdk(live_server: Any, role: str = "user") -> Any:
    creds = live_server.credentials[role]
    spot = Spot(api_key=creds["api_key"], api_secret=creds["secret"])
    assert spot.config["baseURL"] == "https://api.mexc.com/api/v3"
    spot.config = {
        "apiKey": creds["api_key"],
        "apiSecret": creds["secret"],
        "baseURL": f"{live_server.url}/api/v3",
    }
    return spot


def balances(spot: Any) -> dict[str, tuple[Decimal, Decimal]]:
    return {b["asset"]: (D(b["free"]), D(b["locked"])) for b in spot.account_info()["balances"]}


def test_market_data(live_server) -> None:  # type: ignore[no-untyped-def]
    seed_market(live_server)
    spot = sdk(live_server)
    assert spot.ping() == {}
    assert abs(spot.time()["serverTime"] - int(time.time() * 1000)) < 5_000
    info = spot.exchange_info({"symbols": "btcusdt,ethusdt"})  # the SDK upper-cases them
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    assert spot.exchange_info({"symbol": "BTCUSDT"})["symbols"][0]["baseAsset"] == "BTC"

    book = spot.depth("BTCUSDT")  # default options {limit: 100}
    assert book["bids"] == [["60400", "0.1"]] and book["asks"] == [["60600", "0.3"]]
    assert spot.depth("BTCUSDT", {"limit": 5})["timestamp"] > 0
    trades = spot.trades("BTCUSDT")  # default limit 500
    assert [(t["price"], t["qty"]) for t in trades] == [("60500", "0.02"), ("60000", "0.01")]
    aggs = spot.agg_trades("BTCUSDT")
    assert [(a["p"], a["q"]) for a in aggs] == [("60000", "0.01"), ("60500", "0.02")]
    candles = spot.klines("BTCUSDT", "1m")
    assert candles[-1][4] == "60500" and sum(D(c[5]) for c in candles) == D("0.03")
    assert spot.klines("BTCUSDT", "60m", {"limit": 1})[0][4] == "60500"
    assert spot.avg_price("BTCUSDT") == {"mins": 5, "price": "60333.33"}

    tick = spot.ticker24hr("BTCUSDT")
    assert (tick["lastPrice"], tick["openPrice"], tick["prevClosePrice"]) == (
        "60500",
        "60000",
        "60000",
    )
    assert (tick["bidPrice"], tick["askPrice"], tick["count"]) == ("60400", "60600", 2)
    assert {t["symbol"] for t in spot.ticker24hr()} >= {"BTCUSDT", "ETHUSDT", "MXUSDT"}
    assert spot.ticker_price("ETHUSDT") == {"symbol": "ETHUSDT", "price": "3000"}
    assert len(spot.ticker_price()) >= 3
    bt = spot.book_ticker("ETHUSDT")
    assert (bt["bidPrice"], bt["bidQty"], bt["askPrice"]) == ("2900", "1", "3100")


def test_historical_trades(live_server) -> None:  # type: ignore[no-untyped-def]
    seed_market(live_server)
    trades = sdk(live_server).historical_trades("BTCUSDT")  # default limit 500
    assert [t["price"] for t in trades] == ["60500", "60000"]


def test_order_lifecycle(live_server) -> None:  # type: ignore[no-untyped-def]
    seed_market(live_server)
    spot = sdk(live_server)
    before = balances(spot)
    assert spot.new_order_test("BTCUSDT", "BUY", "LIMIT", {"quantity": "1", "price": "1"}) == {}
    placed = spot.new_order(
        "btcusdt", "buy", "limit", {"quantity": "0.02", "price": "50000", "newClientOrderId": "s1"}
    )
    oid = placed["orderId"]
    assert (placed["status"], placed["clientOrderId"], placed["origQty"]) == ("NEW", "s1", "0.02")
    assert balances(spot)["USDT"] == (before["USDT"][0] - 1000, before["USDT"][1] + 1000)
    got = spot.query_order("BTCUSDT", {"origClientOrderId": "s1"})
    assert (got["orderId"], got["status"], got["price"]) == (oid, "NEW", "50000")
    assert [o["orderId"] for o in spot.open_orders("BTCUSDT")] == [oid]
    assert oid in [o["orderId"] for o in spot.all_orders("BTCUSDT")]
    canceled = spot.cancel_order("BTCUSDT", {"orderId": oid})
    assert canceled["status"] == "CANCELED"
    assert balances(spot)["USDT"] == before["USDT"]
    with pytest.raises(RuntimeError, match="-2013"):
        spot.query_order("BTCUSDT", {"orderId": "987654321"})


def test_fill_cancel_all_and_my_trades(live_server) -> None:  # type: ignore[no-untyped-def]
    seed_market(live_server)
    spot = sdk(live_server)
    before = balances(spot)
    sold = spot.new_order("BTCUSDT", "SELL", "MARKET", {"quantity": "0.05"})  # hits the 60400 bid
    assert spot.query_order("BTCUSDT", {"orderId": sold["orderId"]})["status"] == "FILLED"
    # the SDK's accountTradeList sends limit=500 by default (MEXC's max is 100: clamped)
    mine = spot.account_trade_list("BTCUSDT")
    assert [(t["price"], t["qty"], t["isBuyer"]) for t in mine] == [("60400", "0.05", False)]
    fee = D(mine[0]["commission"])
    assert mine[0]["commissionAsset"] == "USDT" and fee == D("1.51")  # 3020 * 0.0005
    after = balances(spot)
    assert after["BTC"][0] == before["BTC"][0] - D("0.05")
    assert after["USDT"][0] == before["USDT"][0] + 3020 - fee
    assert spot.account_trade_list("BTCUSDT", {"orderId": sold["orderId"], "limit": 1})

    for price in ("40000", "41000"):
        spot.new_order("BTCUSDT", "BUY", "LIMIT", {"quantity": "0.01", "price": price})
    assert len(spot.open_orders("BTCUSDT")) == 2
    assert len(spot.cancel_open_orders("BTCUSDT")) == 2
    assert spot.open_orders("BTCUSDT") == []
    assert balances(spot)["USDT"][1] == 0
