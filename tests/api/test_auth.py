"""Signed-request authentication over HTTP: every MEXC auth error, query/body placement."""

from __future__ import annotations

import json
import urllib.parse

from bourse.api.mexc.signing import sign
from bourse.engine.clock import now_ms
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import Env


def test_signed_query_body_split_and_json(env: Env) -> None:

    s = env.signer(env.open_account(USDT="1000"))
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT"}
    rest = {"quantity": "0.001", "price": "20000", "newClientOrderId": "split-1"}
    # query + form body (MEXC doc example 3 style)
    r = s.request("POST", "/api/v3/order", order, body=rest)
    assert ok(r)["clientOrderId"] == "split-1"
    # everything in a JSON body, signature in the query
    r = s.request("POST", "/api/v3/order/test", json_body={**order, **rest})
    assert ok(r) == {}
    # signature inside a form body
    q = urllib.parse.urlencode({**order, "timestamp": now_ms()})
    body = urllib.parse.urlencode({**rest, "newClientOrderId": "split-2"})
    body += "&signature=" + sign(s.secret, (q + body).encode())
    r = env.http.post(
        "/api/v3/order?" + q,
        content=body,
        headers={"X-MEXC-APIKEY": s.api_key, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ok(r)["clientOrderId"] == "split-2"
    # a name in both places must agree: a body value never overrides a signed query value
    r = s.request(
        "POST",
        "/api/v3/order/test",
        {**order, "price": "20000"},
        body={"quantity": "0.001", "price": "20001"},
    )
    assert "different values" in err(r, 33333)["msg"]
    r = s.request(
        "POST",
        "/api/v3/order/test",
        {**order, "price": "20000"},
        body={"quantity": "0.001", "price": "20000"},
    )
    assert ok(r) == {}


def test_auth_errors(env: Env) -> None:

    acc = env.open_account(USDT="10")
    s = env.signer(acc)
    assert ok(s.get("/api/v3/account"))["accountType"] == "SPOT"
    # no key
    r = env.http.get("/api/v3/account", params={"timestamp": now_ms(), "signature": "0" * 64})
    err(r, 400, 401)
    # unknown key
    bad = Signer(env.http, "mx0vunknown", s.secret)
    err(bad.get("/api/v3/account"), 10072, 401)
    # bad signature (wrong secret; tampered)
    err(Signer(env.http, s.api_key, "x" * 32).get("/api/v3/account"), 700002, 401)
    err(s.request("GET", "/api/v3/account", signature="a" * 64), 700002, 401)
    # missing signature / timestamp
    r = env.http.get(
        "/api/v3/account", params={"timestamp": now_ms()}, headers={"X-MEXC-APIKEY": s.api_key}
    )
    err(r, 700004)
    q = "recvWindow=5000"
    r = env.http.get(
        f"/api/v3/account?{q}&signature={sign(s.secret, q)}", headers={"X-MEXC-APIKEY": s.api_key}
    )
    err(r, 700004)
    # expired timestamp, replay outside recvWindow, future timestamp
    err(s.request("GET", "/api/v3/account", timestamp=now_ms() - 6000), 700003)
    err(s.request("GET", "/api/v3/account", timestamp=now_ms() - 3000, recv_window=2000), 700003)
    ok(s.request("GET", "/api/v3/account", timestamp=now_ms() - 20000, recv_window=30000))
    err(s.request("GET", "/api/v3/account", timestamp=now_ms() + 5000), 700003)
    # oversized recvWindow
    err(s.request("GET", "/api/v3/account", recv_window=60001), 700005)
    ok(s.request("GET", "/api/v3/account", recv_window=60000))
    # revoked key
    assert env.platform.apikeys.delete_key(s.api_key)
    err(s.get("/api/v3/account"), 10072, 401)


def test_expired_key(env: Env) -> None:

    s = env.signer(env.open_account(), expires=now_ms() - 1)
    err(s.get("/api/v3/account"), 402, 401)


def test_permissions(env: Env) -> None:

    acc = env.open_account(USDT="100")
    reader = env.signer(acc, ["SPOT_ACCOUNT_R"])  # abbreviations are accepted
    ok(reader.get("/api/v3/account"))
    ok(reader.get("/api/v3/tradeFee", symbol="BTCUSDT"))
    err(reader.get("/api/v3/openOrders"), 700007, 401)
    err(
        reader.post(
            "/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="1", price="1"
        ),
        700007,
        401,
    )
    trader = env.signer(acc, ["SPOT_DEAL_WRITE", "SPOT_DEAL_READ"])
    err(trader.get("/api/v3/account"), 700007, 401)
    err(trader.get("/api/v3/myTrades", symbol="BTCUSDT"), 700007, 401)
    ok(trader.get("/api/v3/openOrders"))
    # any valid key may read the currency list (ccxt's load_markets asks for it)
    assert ok(trader.get("/api/v3/capital/config/getall"))


def test_ip_whitelist(env: Env) -> None:

    acc = env.open_account()
    other = env.signer(acc, ip_whitelist=["10.1.2.3", "192.168.0.0/16"])
    body = err(other.get("/api/v3/account"), 700006, 401)
    assert "127.0.0.1" in body["msg"]
    mine = env.signer(acc, ip_whitelist=["127.0.0.0/8"])
    ok(mine.get("/api/v3/account"))


def test_symbol_limited_key(env: Env) -> None:

    acc = env.open_account(USDT="1000")
    s = env.signer(acc, symbols=["ETHUSDT"])
    assert ok(s.get("/api/v3/selfSymbols")) == {"code": 200, "data": ["ETHUSDT"], "msg": None}
    err(
        s.post(
            "/api/v3/order",
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            quantity="0.001",
            price="20000",
        ),
        70011,
        401,
    )
    err(s.delete("/api/v3/openOrders", symbol="ETHUSDT,BTCUSDT"), 70011, 401)
    r = ok(
        s.post(
            "/api/v3/order",
            symbol="ETHUSDT",
            side="BUY",
            type="LIMIT",
            quantity="0.01",
            price="1000",
        )
    )
    assert r["status"] == "NEW"
    batch = [
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "20000"}
    ]
    assert ok(s.post("/api/v3/batchOrders", batchOrders=json.dumps(batch)))[0]["code"] == 70011
    full = env.signer(acc)
    assert ok(full.get("/api/v3/selfSymbols"))["data"] == ["BTCUSDT", "ETHUSDT", "MXUSDT"]
