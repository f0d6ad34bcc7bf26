"""ccxt's unmodified ``mexc`` class reads the broker sub-account API through its implicit
``broker`` methods (master key), and trades and reads with a sub-account's key.

ccxt signs only the query string of broker POST/DELETE calls and sends their parameters as an
unsigned JSON body, which Bourse's signature check (query + body, reference 2.1) refuses; the
writes here are made with a signing client that follows the reference instead."""

from __future__ import annotations

from typing import Any

import ccxt

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
