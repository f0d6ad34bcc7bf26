"""Replayed signed requests over HTTP, on SQLite and PostgreSQL: the same signed withdrawal,
transfer or order (without a client id) sent again within its recvWindow is refused with
``{"code":26}`` and moves money once, however many copies race; with a client id a retry
answers the first result instead."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bourse.api.mexc.signing import sign
from bourse.engine.clock import now_ms
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from tests.support.mexc import Signer, ok
from tests.support.platforms import Env

UNIT = 10**8  # USDT and BTC have 8 decimals in the default listings
REPLAYED = 26
WITHDRAW = {"coin": "USDT", "netWork": "TRX", "address": "T" + "E" * 33, "amount": "10"}


def _available(env: Env, account: int, asset: str = "USDT") -> int:
    return int(env.platform.engine.read(lambda e: e.wallet.ledger.available(account, asset)))


def _racing(signer: Signer, n: int, method: str, path: str, params: dict[str, Any]) -> list[Any]:
    """The same signed request (one timestamp, so one signature) sent ``n`` times at once,
    each copy on its own connection."""
    ts = now_ms()
    barrier = threading.Barrier(n, timeout=30)

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=signer.http.base_url, timeout=30) as http:
            s = Signer(http, signer.api_key, signer.secret)
            barrier.wait()
            return s.request(method, path, params, timestamp=ts, recv_window=60000)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n), timeout=120))


def _one_ok_rest_replayed(answers: list[httpx.Response]) -> dict[str, Any]:
    good = [r for r in answers if r.status_code == 200]
    bad = [r for r in answers if r.status_code != 200]
    assert len(good) == 1, [(r.status_code, r.text) for r in answers]
    for r in bad:
        assert r.status_code == 400 and r.json()["code"] == REPLAYED, r.text
    body: dict[str, Any] = good[0].json()
    return body


def test_same_signed_withdrawal_ten_times_at_once_moves_money_once(env: Env) -> None:
    acc = env.open_account(USDT="100")
    s = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    _one_ok_rest_replayed(_racing(s, 10, "POST", "/api/v3/capital/withdraw", WITHDRAW))
    assert _available(env, acc) == 90 * UNIT
    assert len(ok(s.get("/api/v3/capital/withdraw/history"))) == 1
    # a new timestamp is a new request
    ok(s.post("/api/v3/capital/withdraw", **WITHDRAW))
    assert _available(env, acc) == 80 * UNIT


def test_replayed_transfer_refused_client_id_answers_first(env: Env) -> None:
    acc = env.open_account(USDT="100")
    s = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    params = {"fromAccountType": "SPOT", "toAccountType": "FUTURES", "asset": "USDT", "amount": "1"}
    _one_ok_rest_replayed(_racing(s, 6, "POST", "/api/v3/capital/transfer", params))
    assert _available(env, acc) == 99 * UNIT
    answers = _racing(s, 6, "POST", "/api/v3/capital/transfer", {**params, "clientTranId": "t1"})
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["tranId"] for r in answers}) == 1
    assert _available(env, acc) == 98 * UNIT


def test_replayed_order_refused_client_id_answers_first(env: Env) -> None:
    acc = env.open_account(USDT="1000")
    s = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.001",
        "price": "1000",
    }
    _one_ok_rest_replayed(_racing(s, 6, "POST", "/api/v3/order", order))
    assert len(ok(s.get("/api/v3/openOrders", symbol="BTCUSDT"))) == 1
    named = {**order, "newClientOrderId": "mine"}
    answers = _racing(s, 6, "POST", "/api/v3/order", named)
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["orderId"] for r in answers}) == 1
    assert len(ok(s.get("/api/v3/openOrders", symbol="BTCUSDT"))) == 2


def test_replayed_batch_refuses_each_order(env: Env) -> None:
    acc = env.open_account(USDT="1000")
    s = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    item = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001"}
    batch = [{**item, "price": "1000"}, {**item, "price": "1001"}]
    params = {"batchOrders": json.dumps(batch)}
    ts = now_ms()
    first = ok(s.request("POST", "/api/v3/batchOrders", params, timestamp=ts, recv_window=60000))
    assert all("orderId" in x for x in first)  # two orders of one request: both placed
    again = ok(s.request("POST", "/api/v3/batchOrders", params, timestamp=ts, recv_window=60000))
    assert [x["code"] for x in again] == [REPLAYED, REPLAYED]
    assert len(ok(s.get("/api/v3/openOrders", symbol="BTCUSDT"))) == 2


def test_replayed_order_with_blank_padded_signature_refused(env: Env) -> None:
    """Blanks around a signature do not change what it signs (the check strips them), so they
    do not make the request a new one: a copy of a captured request with its form-body
    signature padded is refused as the same request, not placed again."""
    acc = env.open_account(USDT="1000")
    s = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    body = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001&price=1000"
    query = f"timestamp={now_ms()}&recvWindow=60000"
    sig = sign(s.secret, (query + body).encode())
    headers = {"X-MEXC-APIKEY": s.api_key, "Content-Type": "application/x-www-form-urlencoded"}
    padded = [sig, sig + " ", " " + sig, sig + "\t", sig.upper() + "\n", sig + "\r\n"]
    answers = [
        s.http.post(f"/api/v3/order?{query}", content=f"{body}&signature={x}", headers=headers)
        for x in padded
    ]
    _one_ok_rest_replayed(answers)
    assert len(ok(s.get("/api/v3/openOrders", symbol="BTCUSDT"))) == 1
    assert _available(env, acc) == 999 * UNIT
