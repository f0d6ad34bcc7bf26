"""Bad input is a MEXC error (4xx), never a 500: symbols, precision, limits, params, numbers."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bourse.api.mexc.errors import TABLE, ApiError, code_for
from bourse.api.mexc.params import collect
from bourse.api.mexc.routes import render
from bourse.domain import errors as d
from tests.support.mexc import err, ok
from tests.support.platforms import Env

BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT"}


@pytest.fixture
def trader(env: Env):  # type: ignore[no-untyped-def]
    return env.signer(env.open_account(USDT="100000", BTC="2"))


def test_error_table_covers_every_domain_error() -> None:
    classes = {d.DomainError, *d.DomainError.__subclasses__()}
    for cls in list(classes):
        classes.update(cls.__subclasses__())
    for cls in classes:
        assert cls in TABLE, cls
    assert code_for(d.BelowMinNotional("x")) == (30002, 400)
    assert code_for(d.InsufficientFunds("x")) == (30004, 400)
    assert code_for(d.OrderNotFound("x")) == (-2013, 400)


def test_unknown_symbol(trader, env: Env) -> None:  # type: ignore[no-untyped-def]
    err(
        trader.post("/api/v3/order", **{**BUY, "symbol": "NOPEUSDT"}, quantity="1", price="1"),
        -1121,
    )
    err(env.http.get("/api/v3/depth", params={"symbol": "NOPE"}), -1121)
    err(env.http.get("/api/v3/depth", params={"symbol": "bad symbol!"}), -1121)
    err(env.http.get("/api/v3/exchangeInfo", params={"symbols": "BTCUSDT,NOPE"}), -1121)


def test_precision_and_limits(trader) -> None:  # type: ignore[no-untyped-def]
    # BTCUSDT: price 2 decimals, quantity 6, min notional 1 USDT, max qty 1000
    body = err(trader.post("/api/v3/order", **BUY, quantity="0.001", price="20000.001"), 10096)
    assert "price" in body["msg"]
    err(trader.post("/api/v3/order", **BUY, quantity="0.0000001", price="20000"), 10096)
    body = err(trader.post("/api/v3/order", **BUY, quantity="0.00001", price="20000"), 30002)
    assert body["msg"] == "minimum transaction volume cannot be less than:1USDT"
    err(trader.post("/api/v3/order", **BUY, quantity="1001", price="1"), 30003)
    # zero is a value below the minimum, not a missing parameter (docs/decisions.md)
    err(trader.post("/api/v3/order", **BUY, quantity="0", price="20000"), 30002)
    err(trader.post("/api/v3/order", **BUY, quantity="10", price="20000"), 30004)
    err(
        trader.post("/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1"),
        30025,
    )


def test_missing_extra_and_malformed_params(trader) -> None:  # type: ignore[no-untyped-def]
    body = err(trader.post("/api/v3/order", symbol="BTCUSDT", side="BUY", quantity="1"), 44444)
    assert "'type'" in body["msg"]
    err(trader.post("/api/v3/order", **BUY, quantity="0.001"), 44444)  # LIMIT without price
    # undeclared parameters are ignored, as MEXC ignores them (ccxt and pymexc send extras)
    placed = ok(trader.post("/api/v3/order", **BUY, quantity="0.001", price="20000", foo="1"))
    assert placed["orderId"]
    for bad in ("abc", "1e5", "-1", "NaN", "Infinity", " 1", "0x10", "1,5", "１"):
        err(trader.post("/api/v3/order", **BUY, quantity=bad, price="20000"), 33333)
    err(trader.post("/api/v3/order", **BUY, quantity="9" * 60, price="20000"), 33333)
    err(trader.post("/api/v3/order", **BUY, quantity="9" * 30, price="20000"), 10097)
    err(trader.post("/api/v3/order", **BUY, quantity="0.001", price="9" * 25), 10097)
    err(trader.post("/api/v3/order", **{**BUY, "side": "HOLD"}, quantity="1", price="1"), 33333)
    err(trader.post("/api/v3/order", **{**BUY, "type": "STOP"}, quantity="1", price="1"), 33333)
    err(trader.post("/api/v3/order", **BUY, quantity="0.001", price="20000", stpMode="x"), 33333)
    err(trader.get("/api/v3/order", symbol="BTCUSDT"), 700004)
    err(trader.get("/api/v3/order", symbol="BTCUSDT", orderId="abc"), -2013)
    err(trader.get("/api/v3/order", symbol="BTCUSDT", orderId="99999999"), -2013)
    err(trader.delete("/api/v3/order", symbol="BTCUSDT", orderId="99999999"), -2013)
    ok(trader.get("/api/v3/allOrders", symbol="BTCUSDT", limit="1001"))  # clamped to 1000
    err(trader.get("/api/v3/allOrders", symbol="BTCUSDT", startTime="9" * 30), 33333)
    err(trader.get("/api/v3/myTrades", symbol="BTCUSDT", limit="0"), 33333)
    err(trader.post("/api/v3/batchOrders", batchOrders="not json"), 33333)
    err(trader.post("/api/v3/batchOrders", batchOrders=json.dumps([{**BUY}] * 21)), 33333)
    err(trader.delete("/api/v3/openOrders", symbol="A,B,C,D,E,F"), 33333)
    # PostgreSQL text holds no NUL: refused as a bad parameter (it was a 500 there)
    bad = {**BUY, "quantity": "0.001", "price": "20000", "newClientOrderId": "a\x00b"}
    assert "NUL" in err(trader.post("/api/v3/order", **bad), 33333)["msg"]


def test_public_param_errors(env: Env) -> None:
    http = env.http
    err(http.get("/api/v3/depth"), 44444)
    ok(http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "5001"}))  # clamped
    err(http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "x"}), 33333)
    ok(http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "extra": "1"}))  # ignored
    err(http.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "2m"}), 33333)
    err(http.get("/api/v3/aggTrades", params={"symbol": "BTCUSDT", "startTime": "1"}), -1128)
    err(http.get("/api/v3/exchangeInfo", params={"symbol": "BTCUSDT", "symbols": "ETHUSDT"}), -1128)
    err(http.get("/api/v3/ping?a=1&a=2"), 33333)
    err(http.get("/api/v3/ping?a=%ff"), 700008)
    err(http.get("/api/v3/depth?symbol=BTC%00USDT"), 33333)
    err(http.get("/api/v3/nothing-here"), 404, 404)
    assert http.get("/api/v3/ping").json() == {}


def test_idempotent_client_order_id(trader) -> None:  # type: ignore[no-untyped-def]
    first = ok(
        trader.post("/api/v3/order", **BUY, quantity="0.001", price="20000", newClientOrderId="c1")
    )
    again = ok(
        trader.post("/api/v3/order", **BUY, quantity="0.001", price="20000", newClientOrderId="c1")
    )
    assert again["orderId"] == first["orderId"]
    other = err(
        trader.post("/api/v3/order", **BUY, quantity="0.002", price="20000", newClientOrderId="c1"),
        33333,
    )  # named as the client sent it
    assert other["msg"] == "newClientOrderId 'c1' was already used with different parameters"
    err(
        trader.post(
            "/api/v3/order", **BUY, quantity="0.002", price="20000", newClientOrderId="bad id!"
        ),
        33333,
    )


def test_json_body_values_and_ccxt_passthrough_params(trader) -> None:  # type: ignore[no-untyped-def]
    # JSON numbers are taken as exact decimals (never floats)
    r = trader.request(
        "POST", "/api/v3/order/test", json_body={**BUY, "quantity": 0.001, "price": 20000}
    )
    assert ok(r) == {}
    r = trader.request("POST", "/api/v3/order", json_body={**BUY, "quantity": 1e400, "price": 1})
    err(r, 33333)
    r = trader.request("POST", "/api/v3/order", json_body=[1, 2])  # type: ignore[arg-type]
    err(r, 33333)
    # ccxt sends these; MEXC ignores them, so do we
    ok(trader.get("/api/v3/allOrders", symbol="BTCUSDT", states="3"))


def test_public_endpoints_ignore_signing_params(env: Env) -> None:
    r = env.http.get(
        "/api/v3/depth",
        params={"symbol": "BTCUSDT", "timestamp": "1", "recvWindow": "5000", "signature": "x"},
    )
    assert ok(r)["bids"] == []


@given(st.text(alphabet="ab=&;%+2Cé\x00 ", max_size=30))
def test_query_parsed_as_parse_qsl_parses_it(text: str) -> None:
    # without % or + the query is split by hand: the same pairs as parse_qsl (or its refusal)
    try:
        expected: object = dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
        if len(expected) != len(parse_qsl(text, keep_blank_values=True)) or "\x00" in text:
            expected = ApiError
    except ValueError:
        expected = ApiError
    try:
        got: object = collect(text.encode(), b"")[0]
    except ApiError:
        got = ApiError
    assert got == expected


@pytest.mark.parametrize(
    "value",
    [
        {"symbol": "BTCUSDT", "orderId": "1", "orderListId": -1, "clientOrderId": None},
        {"a": [1, None, True, False, 'x\u00e9\u2028"\\\x01'], "b": {"c": 2**63 - 1}},
        [{"k": ""}, []],
        {"big": 2**70},  # beyond orjson: json writes it
        {1: "non-str key"},  # likewise
    ],
)
def test_render_writes_what_json_writes(value: object) -> None:
    compact = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert render(value) == compact.encode()


def test_render_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError):
        render({"amount": object()})
    assert orjson.dumps({"x": 1}) == render({"x": 1})


def test_json_body_name_repeated_refused_as_in_a_form() -> None:
    # a JSON parser keeps the last of a repeated name, a proxy or a log reader may show the first:
    # refused, as a repeat in the query or a form body is
    for body in (b'{"quantity":"1","quantity":"2"}', b'{"quantity":"1", "quantity" :"1"}'):
        with pytest.raises(ApiError, match="Duplicate parameter 'quantity'"):
            collect(b"", body)
    with pytest.raises(ApiError, match="Duplicate parameter 'quantity'"):
        collect(b"", b"quantity=1&quantity=2")
    assert collect(b"", b'{"quantity":"1","price":{"a":1}}')[0]["quantity"] == "1"


def test_batch_order_name_repeated_refused(trader) -> None:  # type: ignore[no-untyped-def]
    item = '{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":"0.001","price":"1","price":"2"}'
    r = trader.post("/api/v3/batchOrders", batchOrders=f"[{item}]")
    assert err(r, 33333)["msg"] == "Duplicate parameter 'price'."
    assert ok(trader.get("/api/v3/openOrders", symbol="BTCUSDT")) == []


def test_json_body_lone_surrogate_refused_as_invalid_utf8(trader) -> None:  # type: ignore[no-untyped-def]
    # "\ud800" is valid JSON but no character: refused as invalid UTF-8 in a form body is
    # (it was a 500: the database cannot encode it), never stored or answered
    for body in (b'{"note":"a\\ud800b"}', b'{"a\\udfff":"1"}'):
        with pytest.raises(ApiError, match="Illegal characters found in the body"):
            collect(b"", body)
    r = trader.request(
        "POST", "/api/v3/sub-account/virtualSubAccount",
        json_body={"subAccount": "surrogate1", "note": "a\ud800b"},
    )  # fmt: skip
    assert err(r, 700008)["msg"] == "Illegal characters found in the body."
    assert ok(trader.get("/api/v3/sub-account/list"))["subAccounts"] == []
