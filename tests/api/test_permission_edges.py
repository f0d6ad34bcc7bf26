"""The smaller holes of issue 14 (item 7), over real HTTP on SQLite and PostgreSQL: who may
apply as a broker, what ``apiKey/bind`` says about another user's key, what ``account`` says a
key may do, zero prices and quantities, and query/body disagreements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.mexc import err, ok
from tests.support.platforms import IEnv, open_ienv

ALL = ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]


@pytest.fixture
def ienv(migrated_url: str, tmp_path: Any) -> Iterator[IEnv]:
    yield from open_ienv(migrated_url, tmp_path)


def test_a_sub_account_cannot_apply_as_a_broker(ienv: IEnv) -> None:
    _, _, master = ienv.broker("Indie")
    sub_id, sub = ienv.sub(master, "sub1apply")
    err(sub.post("/api/v3/broker/apply", brokerType="API", name="Sub Broker"), 700007, 401)
    assert ienv.platform.brokers.registry.by_account(sub_id) is None
    # a main account still can
    user = ienv.signer(ienv.open_account(), ALL)
    assert ok(user.post("/api/v3/broker/apply", brokerType="API", name="Fine"))["status"] == (
        "PENDING"
    )


def test_bind_answers_the_same_for_another_users_key(ienv: IEnv) -> None:
    """GET, POST and DELETE of ``apiKey/bind`` all answer 730706 for another user's key, bound
    or not, and for a key that does not exist; nothing changes."""
    broker = ienv.signer(ienv.open_account(), ALL)
    bid = int(ok(broker.post("/api/v3/broker/apply", brokerType="API", name="B"))["brokerId"])
    ienv.platform.brokers.registry.approve(bid)
    alice_acc = ienv.open_account()
    alice = ienv.signer(alice_acc, ALL)
    alice_bound, _ = ienv.platform.apikeys.create_key(alice_acc, ["SPOT_DEAL_WRITE"])
    alice_free, _ = ienv.platform.apikeys.create_key(alice_acc, ["SPOT_DEAL_WRITE"])
    ok(alice.post("/api/v3/user/apiKey/bind", brokerId=bid, apiKey=alice_bound))
    mallory = ienv.signer(ienv.open_account(), ALL)
    for key in (alice_bound, alice_free, "mx0vnotakey"):
        a = err(mallory.get("/api/v3/user/apiKey/bind", apiKey=key), 730706)
        b = err(mallory.post("/api/v3/user/apiKey/bind", brokerId=bid, apiKey=key), 730706)
        c = err(mallory.delete("/api/v3/user/apiKey/bind", apiKey=key), 730706)
        assert a == b == c
    # the owner still sees and keeps the binding
    assert ok(alice.get("/api/v3/user/apiKey/bind", apiKey=alice_bound))["brokerId"] == str(bid)
    own_free = ok(alice.get("/api/v3/user/apiKey/bind", apiKey=alice_free))
    assert own_free["brokerId"] is None
    assert ienv.platform.brokers.bindings.bound_broker(alice_bound) == bid


def test_account_flags_follow_the_keys_permissions(ienv: IEnv) -> None:
    acc = ienv.open_account(USDT="10")
    reader = ienv.signer(acc, ["SPOT_ACCOUNT_READ"])
    info = ok(reader.get("/api/v3/account"))
    assert (info["canTrade"], info["canWithdraw"]) == (False, False)
    trader = ienv.signer(acc, ["SPOT_ACCOUNT_READ", "SPOT_DEAL_WRITE"])
    info = ok(trader.get("/api/v3/account"))
    assert (info["canTrade"], info["canWithdraw"]) == (True, False)
    full = ienv.signer(acc, ["SPOT_ACCOUNT_READ", "SPOT_DEAL_WRITE", "SPOT_WITHDRAW_WRITE"])
    info = ok(full.get("/api/v3/account"))
    assert (info["canTrade"], info["canWithdraw"]) == (True, True)


@pytest.mark.parametrize("side", ["BUY", "SELL"])
def test_zero_price_and_quantity_are_value_errors(ienv: IEnv, side: str) -> None:
    acc = ienv.open_account(USDT="100000", BTC="10")
    s = ienv.signer(acc, ALL)
    order = dict(symbol="BTCUSDT", side=side, type="LIMIT")
    # a trade first, so a price band is in force: price=0 must not be reported as out of band
    other = ienv.signer(ienv.open_account(USDT="100000", BTC="10"), ALL)
    ok(other.post("/api/v3/order", **{**order, "side": "SELL"}, quantity="0.001", price="50000"))
    ok(other.post("/api/v3/order", **{**order, "side": "BUY"}, quantity="0.001", price="50000"))
    for path in ("/api/v3/order/test", "/api/v3/order"):
        body = err(s.post(path, **order, quantity="0.001", price="0"), 33333)
        assert body["msg"] == "price must be greater than 0"
        body = err(s.post(path, **order, quantity="0", price="50000"), 30002)
        assert "greater than 0" in body["msg"]
        # missing is a different error: "param cannot be null"
        err(s.post(path, **order, quantity="0.001"), 44444)
        err(s.post(path, **order, price="50000"), 44444)
    assert ok(s.get("/api/v3/openOrders", symbol="BTCUSDT")) == []


def test_query_and_body_must_agree(ienv: IEnv) -> None:
    """Already refused before this issue (tests/api/test_auth.py covers the signed form); here
    the body tries to change a parameter the signed query set, on a real order."""
    acc = ienv.open_account(USDT="100000")
    s = ienv.signer(acc, ALL)
    r = s.request(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001"},
        body={"quantity": "0.002", "price": "10000"},
    )
    assert "different values" in err(r, 33333)["msg"]
    assert ok(s.get("/api/v3/openOrders", symbol="BTCUSDT")) == []
