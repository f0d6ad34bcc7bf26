"""What stock MEXC clients send, accepted as MEXC accepts it (issue: client fidelity).

Each case signs and sends a request the way one real client does: pymexc (signs ``%20``, sends
``+``), MEXC's Python demo (signs ``params&timestamp=T``, sends ``params&signature=S&timestamp=T``;
its ``batchOrders`` signed with ``quote``) and the demo's form body labelled
``application/json``. A changed value fails. ccxt's broker POSTs (query signed, JSON body
outside the signature) are taken on ccxt's broker endpoints only: ``tests/independent/
test_ccxt.py`` and ``tests/api/test_signature_coverage.py``.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from bourse.api.mexc.signing import sign
from bourse.config import RateLimits
from bourse.engine.clock import now_ms
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import Env, open_env

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "20000"}


def _send(env: Env, s: Signer, method: str, wire_query: str, **kw: Any) -> Any:
    headers = {"X-MEXC-APIKEY": s.api_key, **kw.pop("headers", {})}
    return env.http.request(method, "/api/v3/order/test?" + wire_query, headers=headers, **kw)


def test_pymexc_style_signs_percent20_sends_plus(env: Env) -> None:
    s = env.signer(env.open_account(USDT="1000"))
    params = dict(sorted({**ORDER, "note": "a b", "timestamp": str(now_ms())}.items()))
    signed = urllib.parse.urlencode(params).replace("+", "%20")
    wire = urllib.parse.urlencode({**params, "signature": sign(s.secret, signed)})
    assert "a+b" in wire and "a%20b" in signed
    assert ok(_send(env, s, "POST", wire)) == {}
    tampered = wire.replace("price=20000", "price=20001")
    err(_send(env, s, "POST", tampered), 700002, 401)


def test_demo_style_signature_before_timestamp(env: Env) -> None:
    s = env.signer(env.open_account(USDT="1000"))
    ts = now_ms()
    sig = sign(s.secret, f"{urllib.parse.urlencode(ORDER)}&timestamp={ts}")
    wire = urllib.parse.urlencode({**ORDER, "signature": sig, "timestamp": ts})
    # the demo labels every request application/json, body or not
    assert ok(_send(env, s, "POST", wire, headers={"Content-Type": "application/json"})) == {}
    err(_send(env, s, "POST", wire.replace("BUY", "SELL")), 700002, 401)


def test_demo_style_batch_orders_signed_with_quote(env: Env) -> None:
    s = env.signer(env.open_account(USDT="1000"))
    batch = json.dumps([{**ORDER, "newClientOrderId": f"demo-{i}"} for i in range(2)])
    params = {"batchOrders": batch, "timestamp": now_ms()}
    signed = "&".join(f"{k}={urllib.parse.quote(str(v))}" for k, v in params.items())
    wire = urllib.parse.urlencode({**params, "signature": sign(s.secret, signed)})
    r = env.http.post(
        "/api/v3/batchOrders?" + wire,
        headers={"X-MEXC-APIKEY": s.api_key, "Content-Type": "application/json"},
    )
    assert [o["newClientOrderId"] for o in ok(r)] == ["demo-0", "demo-1"]


def test_json_body_outside_the_signature_refused_and_no_override(env: Env) -> None:
    s = env.signer(env.open_account(USDT="1000"))
    q = urllib.parse.urlencode({"symbol": "BTCUSDT", "timestamp": now_ms()})
    wire = f"{q}&signature={sign(s.secret, q)}"
    rest = {k: v for k, v in ORDER.items() if k != "symbol"}
    # ccxt's broker POST shape, on an order: the body is not signed, so nothing is
    err(_send(env, s, "POST", wire, json=rest), 700002, 401)
    # a body cannot contradict the query (refused before the signature is looked at)
    r = _send(env, s, "POST", wire, json={**rest, "symbol": "ETHUSDT"})
    assert "different values" in err(r, 33333)["msg"]
    # signed as MEXC says, query + body as sent, the same request is an order
    r = s.request("POST", "/api/v3/order/test", {"symbol": "BTCUSDT"}, json_body=rest)
    assert ok(r) == {}


def test_form_body_labelled_json_is_parsed_as_form(env: Env) -> None:
    s = env.signer(env.open_account(USDT="1000"))
    q = urllib.parse.urlencode({"timestamp": now_ms()})
    body = urllib.parse.urlencode(ORDER)
    wire = f"{q}&signature={sign(s.secret, q + body)}"
    r = _send(env, s, "POST", wire, content=body, headers={"Content-Type": "application/json"})
    assert ok(r) == {}


def test_unknown_parameters_ignored_and_stp_empty_means_none(env: Env) -> None:
    acc = env.open_account(USDT="100000", BTC="1")
    s = env.signer(acc)
    sell = ok(s.post("/api/v3/order", **{**ORDER, "side": "SELL"}, triggerPrice="1", stpMode=""))
    buy = ok(s.post("/api/v3/order", **ORDER, stpMode=""))  # MEXC default: self-trade allowed
    assert buy["orderId"] != sell["orderId"]
    got = ok(s.get("/api/v3/order", symbol="BTCUSDT", orderId=buy["orderId"]))
    assert got["status"] == "FILLED"
    # and cancel by client id with both names, as ccxt sends them
    o = ok(s.post("/api/v3/order", **ORDER, newClientOrderId="both-names"))
    r = s.delete("/api/v3/order", symbol="BTCUSDT", origClientOrderId="both-names",
                 clientOrderId="both-names")  # fmt: skip
    assert ok(r)["orderId"] == o["orderId"]


def test_unknown_order_is_2013(env: Env) -> None:
    s = env.signer(env.open_account(USDT="10"))
    body = err(s.get("/api/v3/order", symbol="BTCUSDT", orderId="123456789"), -2013)
    assert body["msg"] == "Order does not exist."


def test_depth_has_timestamp_and_limits_clamp(env: Env) -> None:
    d = ok(env.http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "99999"}))
    assert isinstance(d["timestamp"], int) and abs(d["timestamp"] - now_ms()) < 60_000
    ok(env.http.get("/api/v3/trades", params={"symbol": "BTCUSDT", "limit": "12000"}))
    s = env.signer(env.open_account(USDT="10"))
    ok(s.get("/api/v3/myTrades", symbol="BTCUSDT", limit="500"))  # the official SDK's default


def test_signed_limits_are_per_account_not_per_ip(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'rl.db'}"
    gen = open_env(url, tmp_path, RateLimits(requests=3, window_ms=60_000, ban_after=2))
    env = next(gen)
    try:
        signers = [env.signer(env.open_account(USDT="1")) for _ in range(3)]
        for s in signers:  # three accounts behind one IP: each has its own budget
            for _ in range(3):
                ok(s.get("/api/v3/openOrders", symbol="BTCUSDT"))
        err(signers[0].get("/api/v3/openOrders", symbol="BTCUSDT"), 429, 429)
        for _ in range(3):
            ok(env.http.get("/api/v3/ping"))  # public: per IP, untouched by signed calls
        # keeping on after 429 earns MEXC's 418 ban with Retry-After
        statuses = [
            signers[0].get("/api/v3/openOrders", symbol="BTCUSDT").status_code for _ in range(4)
        ]
        assert statuses[-1] == 418
        r = signers[0].get("/api/v3/openOrders", symbol="BTCUSDT")
        assert r.status_code == 418 and int(r.headers["Retry-After"]) > 0
        err(signers[1].get("/api/v3/openOrders", symbol="BTCUSDT"), 429, 429)  # not banned
    finally:
        gen.close()
