"""What a signature vouches for, over HTTP on SQLite and PostgreSQL: the two bypasses a
security review found (/work/wt/attack-findings 01 and 02), sent as its scripts send them, and
the one place a body may stay outside the signature (ccxt's broker POSTs), where that
signature then serves one request.

- F1: a JSON body sent next to a captured query signature (of any request, a GET included)
  is refused (700002), and so is ``timestamp`` or ``recvWindow`` taken from it: an empty
  query signs "", a signature that would never expire.
- F3: a captured signature of a query holding other parameters than ccxt's time window (a
  GET ``openOrders?symbol=..``) resent on a broker write with a JSON body is refused
  (700002): only a query of ``timestamp`` and ``recvWindow`` alone may leave the body outside.
- F2: a captured query regrouped so that its client id becomes part of a parameter name, or
  split between query and body inside a pair, is refused (700002): no second order or
  withdrawal from one idempotent request.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bourse.api.mexc.signing import sign
from bourse.engine.clock import now_ms
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import Env, IEnv, open_ienv

BAD_SIGNATURE = 700002
MANDATORY = 700004
OUTSIDE_WINDOW = 700003
REPLAYED = 26
UNIT = 10**8
WITHDRAW = {"coin": "USDT", "netWork": "TRX", "address": "T" + "E" * 33, "amount": "10"}
SUBP = "/api/v3/broker/sub-account"


def _raw(
    s: Signer, method: str, path: str, query: str, sig: str, body: bytes = b"", **hdrs: str
) -> httpx.Response:
    """``query`` with ``&signature=sig`` appended, ``body`` as sent (JSON-labelled, as the
    attack scripts and ccxt label it)."""
    headers = {"X-MEXC-APIKEY": s.api_key, "Content-Type": "application/json", **hdrs}
    url = f"{path}?{query}&signature={sig}" if query else f"{path}?signature={sig}"
    return s.http.request(method, url, content=body or None, headers=headers)


def _available(env: Env, account: int, asset: str = "USDT") -> int:
    return int(env.platform.engine.read(lambda e: e.wallet.ledger.available(account, asset)))


def test_captured_signature_with_a_json_body_moves_nothing(env: Env) -> None:
    """Attack 01: a GET's signature resent with a JSON order or withdrawal of the attacker's
    choosing, and ``HMAC(secret, "")`` with the timestamp in the body."""
    acc = env.open_account(USDT="1000")
    s = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    q = urllib.parse.urlencode({"timestamp": now_ms(), "recvWindow": 60000})
    sig = sign(s.secret, q)
    assert ok(_raw(s, "GET", "/api/v3/account", q, sig))["accountType"] == "SPOT"
    for n in range(2):
        order = {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "0.001",
            "price": str(20000 + n),
            "newClientOrderId": f"evil{n}",
        }
        r = _raw(s, "POST", "/api/v3/order", q, sig, json.dumps(order).encode())
        err(r, BAD_SIGNATURE, 401)
        batch = {"batchOrders": json.dumps([order])}
        err(_raw(s, "POST", "/api/v3/batchOrders", q, sig, json.dumps(batch).encode()), 700002, 401)
        drain = {**WITHDRAW, "withdrawOrderId": f"attk{n}"}
        r = _raw(s, "POST", "/api/v3/capital/withdraw", q, sig, json.dumps(drain).encode())
        err(r, BAD_SIGNATURE, 401)
        move = {"fromAccountType": "SPOT", "toAccountType": "FUTURES", "asset": "USDT"}
        r = _raw(
            s,
            "POST",
            "/api/v3/capital/transfer",
            q,
            sig,
            json.dumps({**move, "amount": "5"}).encode(),
        )
        err(r, BAD_SIGNATURE, 401)
    # the signature of an empty query, with a fresh timestamp (and window) in the body
    forever = sign(s.secret, "")
    for path in ("/api/v3/order", "/api/v3/order/test"):
        order = {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "0.001",
            "price": "20000",
            "timestamp": now_ms(),
            "recvWindow": 60000,
        }
        err(_raw(s, "POST", path, "", forever, json.dumps(order).encode()), BAD_SIGNATURE, 401)
    assert ok(s.get("/api/v3/openOrders", symbol="BTCUSDT")) == []
    assert ok(s.get("/api/v3/capital/withdraw/history")) == []
    assert _available(env, acc) == 1000 * UNIT
    # a JSON body signed as MEXC says (query + body as sent) is a request like any other
    r = s.request("POST", "/api/v3/order/test", json_body={"symbol": "BTCUSDT", "side": "BUY"})
    err(r, 44444)  # signed, so read: type is missing


def _victim_order(ts: int, cid: str) -> str:
    return (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001&price=20050"
        f"&newClientOrderId={cid}&recvWindow=60000&timestamp={ts}"
    )


def test_resegmented_client_id_is_not_a_new_order(env: Env) -> None:
    """Attack 02: the idempotent order's ``newClientOrderId=<cid>&recvWindow`` percent-encoded
    into one parameter name; and the same for a withdrawal's ``withdrawOrderId``."""
    acc = env.open_account(USDT="1000")
    s = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    cid = f"victim{now_ms()}"
    q = _victim_order(now_ms(), cid)
    sig = sign(s.secret, q)
    first = ok(_raw(s, "POST", "/api/v3/order", q, sig))
    assert ok(_raw(s, "POST", "/api/v3/order", q, sig))["orderId"] == first["orderId"]
    folded = q.replace(
        f"&newClientOrderId={cid}&recvWindow", f"&newClientOrderId%3D{cid}%26recvWindow"
    )
    assert folded != q
    err(_raw(s, "POST", "/api/v3/order", folded, sig), BAD_SIGNATURE, 401)
    assert [o["orderId"] for o in ok(s.get("/api/v3/openOrders", symbol="BTCUSDT"))] == [
        first["orderId"]
    ]

    w = urllib.parse.urlencode(
        {**WITHDRAW, "withdrawOrderId": "w1", "recvWindow": 60000, "timestamp": now_ms()}
    )
    wsig = sign(s.secret, w)
    got = ok(_raw(s, "POST", "/api/v3/capital/withdraw", w, wsig))
    folded = w.replace("&withdrawOrderId=w1&recvWindow", "&withdrawOrderId%3Dw1%26recvWindow")
    err(_raw(s, "POST", "/api/v3/capital/withdraw", folded, wsig), BAD_SIGNATURE, 401)
    assert [x["id"] for x in ok(s.get("/api/v3/capital/withdraw/history"))] == [got["id"]]


def test_query_split_inside_a_pair_is_not_a_new_order(env: Env) -> None:
    """MEXC signs query + body with nothing between them: a captured query moved partly into
    a form body inside its client id (``newClientOrderId=vic`` + ``tim1``) or its price would
    be another order. Split between two pairs, it is the same request (MEXC's example 3)."""
    acc = env.open_account(USDT="1000")
    s = env.signer(acc, list(FULL_SPOT_PERMISSIONS))
    q = _victim_order(now_ms(), "victim1")
    sig = sign(s.secret, q)
    first = ok(_raw(s, "POST", "/api/v3/order", q, sig))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for cut in (q.index("victim1") + 3, q.index("victim1") - 1, q.index("20050") + 4):
        r = _raw(s, "POST", "/api/v3/order", q[:cut], sig, q[cut:].encode(), **form)
        err(r, BAD_SIGNATURE, 401)
    cut = q.index("&newClientOrderId")
    again = _raw(s, "POST", "/api/v3/order", q[:cut], sig, q[cut + 1 :].encode(), **form)
    assert ok(again)["orderId"] == first["orderId"]  # the same request: idempotent
    assert len(ok(s.get("/api/v3/openOrders", symbol="BTCUSDT"))) == 1


# --- ccxt's broker POSTs: the body outside the signature, the signature good once ---


@pytest.fixture
def ienv(migrated_url: str, tmp_path: Any) -> Iterator[IEnv]:
    yield from open_ienv(migrated_url, tmp_path)


def _ccxt_query(ts: int | None = None, recv_window: int = 5000) -> str:
    """What ccxt's ``broker`` section signs for a POST/DELETE: the time window, nothing else."""
    return urllib.parse.urlencode(
        {"timestamp": now_ms() if ts is None else ts, "recvWindow": recv_window}
    )


def _racing(s: Signer, path: str, query: str, sig: str, bodies: list[dict[str, Any]]) -> list[Any]:
    """One signature, each copy with its own JSON body, all sent at once."""
    barrier = threading.Barrier(len(bodies), timeout=30)

    def one(body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=s.http.base_url, timeout=30) as http:
            mine = Signer(http, s.api_key, s.secret)
            barrier.wait()
            return _raw(mine, "POST", path, query, sig, json.dumps(body).encode())

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies, timeout=120))


def _one_ok_rest_replayed(answers: list[httpx.Response]) -> httpx.Response:
    good = [r for r in answers if r.status_code == 200]
    assert len(good) == 1, [(r.status_code, r.text) for r in answers]
    for r in answers:
        if r is not good[0]:
            err(r, REPLAYED)
    return good[0]


def test_broker_body_outside_the_signature_serves_once(ienv: IEnv) -> None:
    """ccxt's shape (query ``timestamp&recvWindow`` signed, parameters in a JSON body) works
    on a broker transfer; that signature is then spent, whatever client id a copy carries,
    however many copies race, and however much money or however many sub-accounts are at
    stake. Its time window is the signed query's: the body's ``recvWindow`` or
    ``timestamp`` count for nothing."""
    _, master_acc, master = ienv.broker("once", USDT="1000")
    ienv.sub(master, "onceuser01")
    move = {"toAccount": "onceuser01", "fromAccountType": "SPOT", "toAccountType": "SPOT"}
    path = f"{SUBP}/universalTransfer"
    q = _ccxt_query()
    sig = sign(master.secret, q)
    bodies = [{**move, "asset": "USDT", "amount": "10", "clientTranId": f"t{i}"} for i in range(6)]
    _one_ok_rest_replayed(_racing(master, path, q, sig, bodies))
    assert _available(ienv, master_acc) == 990 * UNIT
    # the same signature with yet another body, later: still spent
    again = {**move, "asset": "USDT", "amount": "20", "clientTranId": "t-later"}
    err(_raw(master, "POST", path, q, sig, json.dumps(again).encode()), REPLAYED)
    # a fresh signature (ccxt signs every call) goes through
    q2 = _ccxt_query()
    ok(_raw(master, "POST", path, q2, sign(master.secret, q2), json.dumps(again).encode()))
    assert _available(ienv, master_acc) == 970 * UNIT

    # sub-accounts (no engine money movement) are claimed the same way: one of six names
    path = f"{SUBP}/virtualSubAccount"
    q = _ccxt_query()
    sig = sign(master.secret, q)
    bodies = [{"subAccount": f"racer{i:04d}", "note": "n"} for i in range(6)]
    _one_ok_rest_replayed(_racing(master, path, q, sig, bodies))
    listed = ok(master.get(f"{SUBP}/list", limit=50))["data"]
    assert len([r for r in listed if r["subAccount"].startswith("racer")]) == 1

    # the time window comes from the signed query alone
    body = json.dumps({**move, "asset": "USDT", "amount": "1", "timestamp": now_ms()}).encode()
    err(
        _raw(master, "POST", f"{SUBP}/universalTransfer", "", sign(master.secret, ""), body),
        MANDATORY,
    )
    stale = f"timestamp={now_ms() - 20_000}"  # the default recvWindow (5000) applies
    widened = {**move, "asset": "USDT", "amount": "1", "recvWindow": 60000}
    r = _raw(
        master,
        "POST",
        f"{SUBP}/universalTransfer",
        stale,
        sign(master.secret, stale),
        json.dumps(widened).encode(),
    )
    err(r, OUTSIDE_WINDOW)
    assert _available(ienv, master_acc) == 970 * UNIT
    # the same body outside the signature on the spot transfer: not a broker endpoint
    spot = {"fromAccountType": "SPOT", "toAccountType": "FUTURES", "asset": "USDT", "amount": "1"}
    q = _ccxt_query()
    r = _raw(
        master,
        "POST",
        "/api/v3/capital/transfer",
        q,
        sign(master.secret, q),
        json.dumps(spot).encode(),
    )
    err(r, BAD_SIGNATURE, 401)


def test_captured_signature_of_other_parameters_is_no_broker_write(ienv: IEnv) -> None:
    """F3: the broker master key's signed ``openOrders?symbol=BTCUSDT`` (and other captured
    reads with parameters of their own) resent as a broker write with a JSON body: no key
    minted, none deleted, no money moved, however the query carries the extra pair. The same
    body under ccxt's own query (``timestamp&recvWindow``) is then taken."""
    _, master_acc, master = ienv.broker("scoped", USDT="1000")
    ok(master.post(f"{SUBP}/virtualSubAccount", subAccount="scopeuser1", note="n"))
    mint = {
        "subAccount": "scopeuser1",
        "permissions": "SPOT_ACCOUNT_READ,SPOT_WITHDRAW_WRITE",
        "note": "evil",
    }
    ts = now_ms()
    captured = f"symbol=BTCUSDT&timestamp={ts}"
    sig = sign(master.secret, captured)
    assert ok(_raw(master, "GET", "/api/v3/openOrders", captured, sig)) == []  # the real one
    minted = json.dumps(mint).encode()
    r = _raw(master, "POST", f"{SUBP}/apiKey", captured, sig, minted)
    err(r, BAD_SIGNATURE, 401)
    for query in (
        f"symbol=BTCUSDT&timestamp={ts}&recvWindow=60000",  # myTrades, allOrders, ...
        f"timestamp={ts}&recvWindow=60000&symbol=BTCUSDT",  # the extra pair last
        f"timestamp={ts}&recvWindow=60000&subAccount=scopeuser1",  # one the body also sends
        f"timestamp={ts}&recvWindow=60000&limit=50",  # sub-account/list
        f"timestamp={ts}&recvWindow=60000&",  # an empty pair
    ):
        r = _raw(master, "POST", f"{SUBP}/apiKey", query, sign(master.secret, query), minted)
        err(r, BAD_SIGNATURE, 401)
    assert ok(master.get(f"{SUBP}/apiKey", subAccount="scopeuser1"))["subAccount"] == []
    # a transfer and a key deletion, from signed reads of the same endpoints
    move = {"toAccount": "scopeuser1", "fromAccountType": "SPOT", "toAccountType": "SPOT"}
    query = urllib.parse.urlencode({**move, "timestamp": now_ms()})
    body = json.dumps({**move, "asset": "USDT", "amount": "100"}).encode()
    r = _raw(master, "POST", f"{SUBP}/universalTransfer", query, sign(master.secret, query), body)
    err(r, BAD_SIGNATURE, 401)
    assert _available(ienv, master_acc) == 1000 * UNIT
    kept = ok(master.post(f"{SUBP}/apiKey", **{**mint, "note": "kept"}))["apiKey"]
    query = urllib.parse.urlencode({"subAccount": "scopeuser1", "timestamp": now_ms()})
    gone = json.dumps({"subAccount": "scopeuser1", "apiKey": kept}).encode()
    r = _raw(master, "DELETE", f"{SUBP}/apiKey", query, sign(master.secret, query), gone)
    err(r, BAD_SIGNATURE, 401)
    still = ienv.platform.apikeys.lookup(kept)
    assert still is not None and not still.revoked
    # ccxt's query, alone (with or without recvWindow, either order): taken, once each
    for query in (_ccxt_query(), f"timestamp={now_ms()}", f"recvWindow=5000&timestamp={now_ms()}"):
        r = _raw(master, "POST", f"{SUBP}/apiKey", query, sign(master.secret, query), minted)
        assert ok(r)["subAccount"] == "scopeuser1"
    assert len(ok(master.get(f"{SUBP}/apiKey", subAccount="scopeuser1"))["subAccount"]) == 4
