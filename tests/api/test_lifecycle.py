"""A full order lifecycle over HTTP, on SQLite and PostgreSQL, with balances checked exactly."""

from __future__ import annotations

from sqlalchemy import select

from bourse.store import tables as t
from tests.support.mexc import err, ok
from tests.support.platforms import Env


def balances(signer) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    acc = ok(signer.get("/api/v3/account"))
    return {b["asset"]: (b["free"], b["locked"]) for b in acc["balances"]}


def test_order_lifecycle(env: Env) -> None:
    maker_id = env.open_account(BTC="1")
    taker_id = env.open_account(USDT="10000")
    maker, taker = env.signer(maker_id), env.signer(taker_id)

    sell = ok(
        maker.request(
            "POST",
            "/api/v3/order",
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "LIMIT",
                "quantity": "0.5",
                "price": "30000",
                "newClientOrderId": "mk-1",
            },
            headers={"source": "BROKER-7"},
        )
    )
    assert sell["status"] == "NEW" and isinstance(sell["orderId"], str)
    assert balances(maker) == {"BTC": ("0.5", "0.5")}
    book = ok(env.http.get("/api/v3/depth", params={"symbol": "BTCUSDT"}))
    assert book["asks"] == [["30000", "0.5"]] and book["bids"] == []

    # taker buys 0.2 at a higher limit: fills at the maker's price, the excess lock is refunded
    buy = ok(
        taker.post(
            "/api/v3/order",
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            quantity="0.2",
            price="31000",
        )
    )
    assert buy["status"] == "FILLED"
    assert buy["executedQty"] == "0.2" and buy["cummulativeQuoteQty"] == "6000"
    # taker fee 0.05% of the 0.2 BTC received; maker fee 0
    assert balances(taker) == {"BTC": ("0.1999", "0"), "USDT": ("4000", "0")}
    assert balances(maker) == {"BTC": ("0.5", "0.3"), "USDT": ("6000", "0")}

    # market buy by quote amount
    mkt = ok(
        taker.post(
            "/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET", quoteOrderQty="3000"
        )
    )
    assert mkt["status"] == "FILLED" and mkt["executedQty"] == "0.1"
    assert balances(taker) == {"BTC": ("0.29985", "0"), "USDT": ("1000", "0")}

    q = ok(maker.get("/api/v3/order", symbol="BTCUSDT", origClientOrderId="mk-1"))
    assert q["orderId"] == sell["orderId"] and q["status"] == "PARTIALLY_FILLED"
    assert q["executedQty"] == "0.3" and q["cummulativeQuoteQty"] == "9000" and q["isWorking"]
    opens = ok(maker.get("/api/v3/openOrders", symbol="BTCUSDT"))
    assert [o["orderId"] for o in opens] == [sell["orderId"]]
    assert ok(taker.get("/api/v3/openOrders")) == []

    cancel = ok(maker.delete("/api/v3/order", symbol="BTCUSDT", orderId=sell["orderId"]))
    assert cancel["status"] == "PARTIALLY_CANCELED" and cancel["origClientOrderId"] == "mk-1"
    assert balances(maker) == {"BTC": ("0.7", "0"), "USDT": ("9000", "0")}
    err(maker.delete("/api/v3/order", symbol="BTCUSDT", orderId=sell["orderId"]), -2013)
    assert ok(maker.get("/api/v3/order", symbol="BTCUSDT", orderId=sell["orderId"]))["status"] == (
        "PARTIALLY_CANCELED"
    )

    mine = ok(taker.get("/api/v3/myTrades", symbol="BTCUSDT"))
    assert [(x["qty"], x["price"], x["commission"], x["commissionAsset"]) for x in mine] == [
        ("0.2", "30000", "0.0001", "BTC"),
        ("0.1", "30000", "0.00005", "BTC"),
    ]
    assert all(x["isBuyer"] and not x["isMaker"] and not x["isSelfTrade"] for x in mine)
    theirs = ok(maker.get("/api/v3/myTrades", symbol="BTCUSDT", orderId=sell["orderId"]))
    assert [(x["quoteQty"], x["commission"], x["isMaker"]) for x in theirs] == [
        ("6000", "0", True),
        ("3000", "0", True),
    ]
    assert all(x["clientOrderId"] == "mk-1" for x in theirs)
    hist = ok(maker.get("/api/v3/allOrders", symbol="BTCUSDT"))
    assert [o["orderId"] for o in hist] == [sell["orderId"]]
    assert len(ok(taker.get("/api/v3/allOrders", symbol="BTCUSDT", limit=1))) == 1

    # market data follows the trades
    trades = ok(env.http.get("/api/v3/trades", params={"symbol": "BTCUSDT"}))
    assert [(x["qty"], x["isBuyerMaker"]) for x in trades] == [("0.1", False), ("0.2", False)]
    kl = ok(env.http.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"}))
    assert kl[0][1:6] == ["30000", "30000", "30000", "30000", "0.3"]
    # a minute boundary between the trades and the request adds a flat, empty current candle
    assert all(k[1:6] == ["30000", "30000", "30000", "30000", "0"] for k in kl[1:]), kl
    assert kl[0][7] == "9000" and kl[0][6] == kl[0][0] + 59_999
    for iv in ("5m", "15m", "30m", "60m", "4h", "1d", "1W", "1M"):
        k = ok(env.http.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": iv}))
        assert k[0][5] == "0.3" and all(x[5] == "0" for x in k[1:]), (iv, k)
    tick = ok(env.http.get("/api/v3/ticker/24hr", params={"symbol": "BTCUSDT"}))
    assert (tick["lastPrice"], tick["volume"], tick["quoteVolume"], tick["count"]) == (
        "30000",
        "0.3",
        "9000",
        2,
    )
    assert tick["lastQty"] == "0.1" and tick["priceChangePercent"] == "0"
    assert ok(env.http.get("/api/v3/avgPrice", params={"symbol": "BTCUSDT"}))["price"] == "30000"
    assert (
        ok(env.http.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"}))["price"] == "30000"
    )

    # the source header was recorded on the order; the ledger still balances
    with env.platform.db.connect() as conn:
        src = conn.execute(
            select(t.orders.c.source).where(t.orders.c.id == int(sell["orderId"]))
        ).scalar_one()
    assert src == "BROKER-7"
    env.platform.engine.read(lambda e: e.exchange.ledger.check())


def test_batch_and_cancel_all(env: Env) -> None:
    import json

    s = env.signer(env.open_account(USDT="1000"))
    orders = [
        {
            "symbol": "ETHUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "0.1",
            "price": "1000",
            "newClientOrderId": "b1",
        },
        {
            "symbol": "ETHUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "0.1",
            "price": "1",
            "newClientOrderId": "b2",
        },
        {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.2", "price": "2000"},
    ]
    res = ok(s.post("/api/v3/batchOrders", batchOrders=json.dumps(orders)))
    assert res[0]["newClientOrderId"] == "b1" and res[0]["orderListId"] == -1
    assert res[1] == {"newClientOrderId": "b2", "msg": res[1]["msg"], "code": 30002}
    assert "orderId" in res[2]
    assert len(ok(s.get("/api/v3/openOrders", symbol="ETHUSDT"))) == 2
    canceled = ok(s.delete("/api/v3/openOrders", symbol="ETHUSDT,BTCUSDT"))
    assert sorted(o["status"] for o in canceled) == ["CANCELED", "CANCELED"]
    assert balances(s) == {"USDT": ("1000", "0")}


def test_history_paging(env: Env) -> None:
    s = env.signer(env.open_account(USDT="1000"))
    ids = []
    for i in range(5):
        r = ok(
            s.post(
                "/api/v3/order",
                symbol="MXUSDT",
                side="BUY",
                type="LIMIT",
                quantity="1",
                price=f"{1 + i}",
            )
        )
        ids.append(r["orderId"])
    newest = ok(s.get("/api/v3/allOrders", symbol="MXUSDT", limit=2))
    assert [o["orderId"] for o in newest] == ids[3:]
    first = ok(s.get("/api/v3/allOrders", symbol="MXUSDT", limit=2, startTime=0))
    assert [o["orderId"] for o in first] == ids[:2]
    err(s.get("/api/v3/allOrders", symbol="MXUSDT", startTime=10, endTime=5), 33333)
