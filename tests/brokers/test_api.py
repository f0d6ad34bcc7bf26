"""The broker endpoints over real HTTP (uvicorn on loopback), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.accounts import AccountKind
from bourse.domain.orders import BUY, SELL, OrderRequest, OrderType
from bourse.engine import commands as c
from bourse.engine.clock import now_ms
from bourse.services.apikeys import NO_IP_TTL_MS, generate_server_key
from bourse.services.brokers import seed_api_broker
from bourse.store import tables as t
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import Env
from tests.support.server import ServerThread

ALL = ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]


@pytest.fixture
def env(migrated_url: str, tmp_path: Any) -> Iterator[Env]:
    cfg = Config(
        database_url=migrated_url,
        secret_key=generate_server_key(),
        key_dir=str(tmp_path),
        rate_limits=RateLimits.off(),
        maker_fee_ppm=1_000,
    )
    platform = open_platform(cfg)
    app = create_app(platform)
    try:
        with ServerThread(app) as srv, httpx.Client(base_url=srv.url, timeout=15) as http:
            yield Env(platform, srv.url, http)
    finally:
        platform.brokers.close()
        platform.close()


def _broker(env: Env, name: str) -> tuple[int, Signer]:
    """An approved broker with a signer for its main account."""
    acc = env.open_account()
    s = env.signer(acc, ALL, ip_whitelist=["127.0.0.1"])
    info = ok(s.post("/api/v3/broker/apply", brokerType="API", name=name))
    assert info["status"] == "PENDING"
    env.platform.brokers.registry.approve(int(info["brokerId"]))
    return int(info["brokerId"]), s


def _user(env: Env) -> tuple[int, Signer]:
    acc = env.open_account(USDT="100000", BTC="10")
    return acc, env.signer(acc, ALL, ip_whitelist=["127.0.0.1"])


def test_key_management_bind_and_pairs(env: Env) -> None:
    bid, bsig = _broker(env, "Acme")
    acc, mgmt = _user(env)
    created = ok(
        mgmt.post(
            "/api/v3/user/apiKey",
            permissions="SPOT_DEAL_READ,SPOT_DEAL_WRITE,SPOT_ACCOUNT_READ",
            note="for acme",
            symbols="BTCUSDT",
        )
    )
    key, secret = created["apiKey"], created["secretKey"]
    assert created["apikey"] == key and created["symbols"] == "BTCUSDT"
    # no IP asked for: the creator's whitelist, and with it no expiry (a no-IP key's 90 days:
    # test_expired_key_refused_then_renewed_stays_bound)
    assert created["ip"] == "127.0.0.1" and created["expireTime"] is None
    trader = Signer(env.http, key, secret)
    # the pair-limited key cannot trade another pair (MEXC 70011), can trade its own
    order = dict(side="BUY", type="LIMIT", quantity="0.001", price="1000")
    err(trader.post("/api/v3/order", symbol="ETHUSDT", **order), 70011, 401)
    ok(trader.post("/api/v3/order", symbol="BTCUSDT", **order))
    # cannot create a key with more permissions than the creator
    err(
        trader.post("/api/v3/user/apiKey", permissions="SPOT_ACCOUNT_WRITE", note="x"),
        700007,
        401,
    )
    # bind once; a second bind is refused
    err(trader.post("/api/v3/user/apiKey/bind", brokerId=bid), 700007, 401)  # owner's call
    b = ok(mgmt.post("/api/v3/user/apiKey/bind", brokerId=bid, apiKey=key))
    assert b == {"apiKey": key, "brokerId": str(bid), "bindTime": b["bindTime"]}
    err(mgmt.post("/api/v3/user/apiKey/bind", brokerId=bid, apiKey=key), 730003)
    other_bid, _ = _broker(env, "Other")
    err(mgmt.post("/api/v3/user/apiKey/bind", brokerId=other_bid, apiKey=key), 730003)
    assert ok(trader.get("/api/v3/user/apiKey/bind"))["brokerId"] == str(bid)
    listed = ok(mgmt.get("/api/v3/user/apiKey"))["apiKeys"]
    assert {k["apiKey"]: k["brokerId"] for k in listed}[key] == str(bid)
    assert all("secret" not in str(k).lower() for k in listed)
    bound = ok(bsig.get("/api/v3/broker/apiKey/bound"))
    assert [k["apiKey"] for k in bound["apiKeys"]] == [key]
    assert bound["apiKeys"][0]["uid"] == str(acc) and secret not in str(bound)
    # at most 30 keys per account (MEXC 730705)
    have = len(ok(mgmt.get("/api/v3/user/apiKey"))["apiKeys"])
    for _ in range(30 - have):
        ok(mgmt.post("/api/v3/user/apiKey", permissions="SPOT_DEAL_READ", note="n", ip="127.0.0.1"))
    err(mgmt.post("/api/v3/user/apiKey", permissions="SPOT_DEAL_READ", note="n"), 730705)
    err(mgmt.post("/api/v3/user/apiKey", permissions="SPOT_NOPE", note="n"), 730702)


def test_a_key_sent_an_empty_pair_list_is_refused_not_narrowed(env: Env) -> None:
    """``symbols`` left out: the new key takes the signing key's pairs. Sent naming no pair
    (``symbols=``, ``symbols=,``): a malformed parameter (33333, HTTP 400) and no key, not the
    signer's pairs taken without a word (nor, from an unlimited signer, every pair)."""
    acc, _ = _user(env)
    limited = env.signer(
        acc,
        ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ"],
        ip_whitelist=["127.0.0.1"],
        symbols=["BTCUSDT", "ETHUSDT"],
    )
    unlimited = env.signer(acc, ALL, ip_whitelist=["127.0.0.1"])
    before = len(ok(limited.get("/api/v3/user/apiKey"))["apiKeys"])
    for signer in (limited, unlimited):
        for empty in ("", ",", " , "):
            body = err(
                signer.post(
                    "/api/v3/user/apiKey", permissions="SPOT_DEAL_READ", note="n", symbols=empty
                ),
                33333,
                400,
            )
            assert "symbols" in body["msg"], body
    assert len(ok(limited.get("/api/v3/user/apiKey"))["apiKeys"]) == before
    inherited = ok(limited.post("/api/v3/user/apiKey", permissions="SPOT_DEAL_READ", note="n"))
    assert inherited["symbols"] == "BTCUSDT,ETHUSDT"
    named = ok(
        limited.post(
            "/api/v3/user/apiKey", permissions="SPOT_DEAL_READ", note="n", symbols="ethusdt"
        )
    )
    assert named["symbols"] == "ETHUSDT"


def test_a_key_sent_an_empty_ip_list_is_refused_not_given_the_signers(env: Env) -> None:
    """``ip`` left out: the new key takes the signing key's whitelist. Sent naming no address
    (``ip=``, ``ip=,``): a malformed parameter (33333, HTTP 400) and no key, not the signer's
    whitelist taken without a word (nor, from a signer without one, any address)."""
    acc, _ = _user(env)
    limited = env.signer(acc, ALL, ip_whitelist=["127.0.0.1", "10.0.0.0/8"])
    unlimited = env.signer(acc, ALL)
    before = len(ok(limited.get("/api/v3/user/apiKey"))["apiKeys"])
    for signer in (limited, unlimited):
        for empty in ("", ",", " , "):
            body = err(
                signer.post(
                    "/api/v3/user/apiKey", permissions="SPOT_DEAL_READ", note="n", ip=empty
                ),
                33333,
                400,
            )
            assert "ip" in body["msg"], body
    assert len(ok(limited.get("/api/v3/user/apiKey"))["apiKeys"]) == before
    inherited = ok(limited.post("/api/v3/user/apiKey", permissions="SPOT_DEAL_READ", note="n"))
    assert inherited["ip"] == "127.0.0.1,10.0.0.0/8"
    named = ok(
        limited.post("/api/v3/user/apiKey", permissions="SPOT_DEAL_READ", note="n", ip="10.1.2.3")
    )
    assert named["ip"] == "10.1.2.3"


def test_expired_key_refused_then_renewed_stays_bound(env: Env) -> None:
    bid, bsig = _broker(env, "Acme")
    acc = env.open_account(USDT="100")
    mgmt = env.signer(acc, ALL)  # no IP: 90 days
    created = ok(
        mgmt.post("/api/v3/user/apiKey", permissions="SPOT_ACCOUNT_READ,SPOT_DEAL_WRITE", note="b")
    )
    key = created["apiKey"]
    assert abs(created["expireTime"] - (now_ms() + NO_IP_TTL_MS)) < 60_000
    trader = Signer(env.http, key, created["secretKey"])
    ok(mgmt.post("/api/v3/user/apiKey/bind", brokerId=bid, apiKey=key))
    ok(trader.get("/api/v3/account"))
    # time passes: the key is past its expiry
    keys = env.platform.apikeys
    with env.platform.db.begin() as conn:
        conn.execute(update(t.api_keys).where(t.api_keys.c.api_key == key).values(expires=1))
    keys._cache.pop(key, None)
    body = err(trader.get("/api/v3/account"), 402, 401)
    assert "expired" in body["msg"]
    # an expired key cannot renew anything, and no key can renew itself
    err(trader.post("/api/v3/user/apiKey/renew", apiKey=key), 402, 401)
    _, other = _user(env)
    err(other.post("/api/v3/user/apiKey/renew", apiKey=key), 730706)  # not theirs
    renewed = ok(mgmt.post("/api/v3/user/apiKey/renew", apiKey=key))
    assert renewed["brokerId"] == str(bid) and renewed["expireTime"] > now_ms()
    assert "secretKey" not in renewed
    ok(trader.get("/api/v3/account"))  # works again, same secret
    assert ok(trader.get("/api/v3/user/apiKey/bind"))["brokerId"] == str(bid)
    assert [k["apiKey"] for k in ok(bsig.get("/api/v3/broker/apiKey/bound"))["apiKeys"]] == [key]
    err(mgmt.post("/api/v3/user/apiKey/renew", apiKey=mgmt.api_key), 730003)  # not itself
    # a no-IP key cannot be renewed beyond 90 days
    err(
        mgmt.post("/api/v3/user/apiKey/renew", apiKey=key, expireTime=now_ms() + 2 * NO_IP_TTL_MS),
        33333,
    )
    # rotating the secret keeps the binding; the old secret stops working at once
    rot = ok(mgmt.post("/api/v3/user/apiKey/renew", apiKey=key, rotateSecret="true"))
    err(trader.get("/api/v3/account"), 700002, 401)
    fresh = Signer(env.http, key, rot["secretKey"])
    ok(fresh.get("/api/v3/account"))
    assert ok(fresh.get("/api/v3/user/apiKey/bind"))["brokerId"] == str(bid)
    # unbind is explicit; deleting a key closes its binding too
    assert ok(mgmt.delete("/api/v3/user/apiKey/bind", apiKey=key))["unbindTime"] is not None
    err(mgmt.post("/api/v3/user/apiKey/bind", brokerId=bid, apiKey=key), 730003)  # never again
    ok(mgmt.delete("/api/v3/user/apiKey", apiKey=key))
    err(fresh.get("/api/v3/account"), 10072, 401)


def _trade(env: Env, buyer: int, seller: int, b_broker: int | None, s_broker: int | None) -> None:
    eng = env.platform.engine
    eng.execute(
        c.PlaceOrder(
            OrderRequest(
                seller, "BTCUSDT", SELL, OrderType.LIMIT, 100_000, 3_000_000, broker_id=s_broker
            )
        )
    )
    eng.execute(
        c.PlaceOrder(
            OrderRequest(
                buyer, "BTCUSDT", BUY, OrderType.LIMIT, 100_000, 3_000_000, broker_id=b_broker
            )
        )
    )


def test_rebate_queries_and_isolation(env: Env) -> None:
    a, asig = _broker(env, "A")
    b, bsig = _broker(env, "B")
    u1, u1sig = _user(env)
    u2, _ = _user(env)
    _trade(env, u1, u2, a, b)  # buyer via A (BTC fee), seller via B (USDT fee)
    _trade(env, u2, u1, None, a)  # seller u1 via A (USDT fee)
    brokers = env.platform.brokers
    brokers.accrue()
    tax = ok(asig.get("/api/v3/broker/rebate/taxQuery"))
    assert set(tax) == {"page", "totalRecords", "totalPageNum", "data"}
    assert tax["page"] == 1 and tax["totalRecords"] == 2 and tax["totalPageNum"] == 1
    for row in tax["data"]:
        assert set(row) == {"asset", "amount", "type", "uid", "time"}
        assert row["type"] == "spot" and row["uid"] == str(u1) and len(row["time"]) == 8
    assert {r["asset"] for r in tax["data"]} == {"BTC", "USDT"}
    paged = ok(asig.get("/api/v3/broker/rebate/taxQuery", page=2, pageSize=1))
    assert paged["totalPageNum"] == 2 and len(paged["data"]) == 1
    detail_a = ok(asig.get("/api/v3/broker/rebate/detail"))["data"]
    detail_b = ok(bsig.get("/api/v3/broker/rebate/detail"))["data"]
    assert len(detail_a) == 2 and len(detail_b) == 1
    assert {r["uid"] for r in detail_b} == {str(u2)}
    assert {r["status"] for r in detail_a} == {"pending"}
    for r in detail_a + detail_b:
        assert r["rate"] == "0.3"
    # settle, then the records say so
    brokers.settlement.settle()
    assert {r["status"] for r in ok(asig.get("/api/v3/broker/rebate/detail"))["data"]} == {
        "settled"
    }
    future = now_ms() + 10 * 86_400_000
    assert ok(asig.get("/api/v3/broker/rebate/taxQuery", startTime=future))["data"] == []
    # a user (not a broker) sees nothing
    err(u1sig.get("/api/v3/broker/rebate/taxQuery"), 401, 401)
    err(u1sig.get("/api/v3/broker/apiKey/bound"), 401, 401)
    # a broker cannot release another broker's key
    _, usig = _user(env)
    ok(usig.post("/api/v3/user/apiKey/bind", brokerId=b))
    err(asig.delete("/api/v3/broker/apiKey/bound", apiKey=usig.api_key), 22222)
    assert ok(asig.get("/api/v3/broker/apiKey/bound"))["apiKeys"] == []
    ok(bsig.delete("/api/v3/broker/apiKey/bound", apiKey=usig.api_key))
    info = ok(asig.get("/api/v3/broker/info"))
    assert info["status"] == "APPROVED" and info["rebateRate"] == "0.3"


def test_seed_api_broker(env: Env) -> None:
    acc, _ = _user(env)
    key, _ = env.platform.apikeys.create_key(acc, ["SPOT_DEAL_WRITE"])
    first = seed_api_broker(env.platform.brokers, env.platform.apikeys, env.platform.engine, key)
    assert first["apiKey"] and first["secretKey"] and first["boundKey"] == key
    again = seed_api_broker(env.platform.brokers, env.platform.apikeys, env.platform.engine, key)
    assert again["brokerId"] == first["brokerId"] and again["apiKey"] is None
    bsig = Signer(env.http, first["apiKey"], first["secretKey"])
    info = ok(bsig.get("/api/v3/broker/info"))
    assert info["status"] == "APPROVED" and info["brokerType"] == "API"
    assert [k["apiKey"] for k in ok(bsig.get("/api/v3/broker/apiKey/bound"))["apiKeys"]] == [key]
    assert env.platform.engine.read(
        lambda e: e.wallet.accounts[first["accountId"]].kind is AccountKind.BROKER_MASTER
    )
