"""ccxt's unmodified ``mexc`` class drives the broker sub-account API through its implicit
``broker`` methods (master key), and trades and reads with a sub-account's key.

ccxt signs only ``timestamp&recvWindow`` in the query of its broker POST/DELETE calls and sends
their parameters as a JSON body outside the signature. Bourse takes that on exactly those
endpoints (``bourse.api.mexc.auth.BODY_OUTSIDE_SIGNATURE``, checked here against ccxt's own
API table), each such signature once."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any

import ccxt

from bourse.api.mexc.auth import BODY_OUTSIDE_SIGNATURE, broker_query
from bourse.api.mexc.routes import ENDPOINTS
from bourse.api.mexc.signing import strip_signature
from bourse.sandbox.chain import format_address
from tests.support.mexc import ok, point_at
from tests.support.platforms import IEnv

SUBP = "/api/v3/broker/sub-account"


def _mexc(ienv: IEnv, key: str, secret: str) -> Any:
    ex = ccxt.mexc({"apiKey": key, "secret": secret, "enableRateLimit": False, "timeout": 15_000})
    point_at(ex, ienv.url)
    return ex


def test_ccxt_broker_reads_and_subaccount_trading(ienv: IEnv) -> None:
    _, _, signer = ienv.broker("ccxt broker", USDT="5000")
    _, sub_signer = ienv.sub(signer, "ccxtuser01")
    ok(
        signer.post(
            f"{SUBP}/universalTransfer",
            toAccount="ccxtuser01",
            fromAccountType="SPOT",
            toAccountType="SPOT",
            asset="USDT",
            amount="1000",
            clientTranId="ccxt" + "0" * 28,
        )
    )
    master = _mexc(ienv, signer.api_key, signer.secret)
    listed = master.brokerPrivateGetSubAccountList({"limit": "50"})
    assert listed["code"] == "0" and [r["subAccount"] for r in listed["data"]] == ["ccxtuser01"]
    assert master.brokerPrivateGetSubAccountStatus({"subAccount": "ccxtuser01"}) == {"status": "1"}
    keys = master.brokerPrivateGetSubAccountApiKey({"subAccount": "ccxtuser01"})
    assert [k["apiKey"] for k in keys["subAccount"]] == [sub_signer.api_key]
    rows = master.brokerPrivateGetSubAccountUniversalTransfer(
        {"toAccount": "ccxtuser01", "fromAccountType": "SPOT", "toAccountType": "SPOT"}
    )
    assert [(r["toAccount"], r["amount"]) for r in rows] == [("ccxtuser01", "1000")]
    assert master.brokerPrivateGetCapitalDepositSubHisrecGetall() == []

    sub = _mexc(ienv, sub_signer.api_key, sub_signer.secret)
    addrs = sub.brokerPrivateGetCapitalDepositSubAddress({"coin": "USDT", "network": "TRX"})
    assert addrs[0]["coin"] == "USDT" and addrs[0]["address"].startswith("T")
    assert sub.brokerPrivateGetCapitalDepositSubHisrec() == []
    assert sub.fetch_balance()["USDT"]["free"] == 1000.0
    seller = ienv.open_account(BTC="1")
    ienv.signer(seller).post(
        "/api/v3/order", symbol="BTCUSDT", side="SELL", type="LIMIT", quantity="0.01", price="30000"
    )
    sub.load_markets()
    order = sub.create_order("BTC/USDT", "limit", "buy", 0.01, 30000)
    assert sub.fetch_order(order["id"], "BTC/USDT")["status"] == "closed"
    trades = sub.fetch_my_trades("BTC/USDT")
    assert len(trades) == 1 and trades[0]["side"] == "buy"
    # the master's key reaches no sub-account data through the spot endpoints
    assert master.fetch_balance()["USDT"]["free"] == 4000.0


def test_body_outside_signature_is_ccxts_broker_writes() -> None:
    """The endpoints that take a JSON body outside the signature are the POST/PUT/DELETE calls
    of ccxt's ``broker`` section (signed as such in ``mexc.sign``) that we serve: no other."""
    broker = ccxt.mexc().api["broker"]["private"]
    ccxt_writes = {
        (method.upper(), f"/api/v3/broker/{path}")
        for method in ("post", "put", "delete")
        for path in broker.get(method, {})
    }
    served = {(ep.method, ep.path) for ep in ENDPOINTS if ep.signed}
    assert ccxt_writes & served == BODY_OUTSIDE_SIGNATURE


def test_ccxt_signs_its_broker_writes_with_a_time_window_alone() -> None:
    """What ccxt's ``mexc.sign`` puts in the query of each broker write (default and custom
    ``recvWindow``) is a query ``broker_query`` takes: nothing but ``timestamp`` and
    ``recvWindow``, then the signature, with the parameters in the JSON body."""
    for options in ({}, {"recvWindow": 60000}):
        ex = ccxt.mexc({"apiKey": "k", "secret": "s", "options": options})
        broker = ex.api["broker"]["private"]
        for method in ("post", "put", "delete"):
            for path in broker.get(method, {}):
                params = {"subAccount": "x", "apiKey": "y", "symbol": "BTCUSDT"}
                signed = ex.sign(path, ["broker", "private"], method.upper(), params)
                query = urllib.parse.urlsplit(signed["url"]).query.encode()
                unsigned, sigs = strip_signature(query)
                assert len(sigs) == 1 and broker_query(unsigned), signed["url"]
                assert json.loads(signed["body"]) == params


def test_ccxt_broker_writes_with_the_body_outside_the_signature(ienv: IEnv) -> None:
    """Every broker write ccxt has, as ccxt sends it: sub-account, key, transfer, deposit
    address, withdrawal, futures, key deletion."""
    _, _, signer = ienv.broker("ccxt writer", USDT="5000")
    master = _mexc(ienv, signer.api_key, signer.secret)
    made = master.brokerPrivatePostSubAccountVirtualSubAccount(
        {"subAccount": "ccxtwrite01", "note": "by ccxt"}
    )
    assert [r["subAccount"] for r in made["data"]] == ["ccxtwrite01"]
    key = master.brokerPrivatePostSubAccountApiKey(
        {
            "subAccount": "ccxtwrite01",
            "permissions": "SPOT_ACCOUNT_READ,SPOT_WITHDRAW_WRITE,SPOT_DEPOSIT_WRITE",
            "note": "k",
            "ip": "127.0.0.1",
        }
    )
    assert key["subAccount"] == "ccxtwrite01"
    tran = master.brokerPrivatePostSubAccountUniversalTransfer(
        {
            "toAccount": "ccxtwrite01",
            "fromAccountType": "SPOT",
            "toAccountType": "SPOT",
            "asset": "USDT",
            "amount": "100",
            "clientTranId": "ccxtwrite-t1",
        }
    )
    assert tran["tranId"]
    sub = _mexc(ienv, key["apiKey"], key["secretKey"])
    address = sub.brokerPrivatePostCapitalDepositSubAddress({"coin": "USDT", "network": "TRX"})
    assert address["coin"] == "USDT" and address["address"].startswith("T")
    to = format_address("tron", hashlib.sha256(b"ccxt writes").digest())
    drawn = sub.brokerPrivatePostCapitalWithdrawApply(
        {"coin": "USDT", "network": "TRX", "address": to, "amount": "10"}
    )
    assert drawn["id"]
    assert sub.fetch_balance()["USDT"]["free"] <= 90.0  # amount (and fee) held
    master.brokerPrivatePostSubAccountFutures({"subAccount": "ccxtwrite01"})
    gone = master.brokerPrivateDeleteSubAccountApiKey(
        {"subAccount": "ccxtwrite01", "apiKey": key["apiKey"]}
    )
    assert gone["subAccount"] == "ccxtwrite01"
    deleted = ienv.platform.apikeys.lookup(key["apiKey"])
    assert deleted is not None and deleted.revoked
    assert master.fetch_balance()["USDT"]["free"] == 4900.0
