"""Tenant isolation: a broker only ever reaches its own sub-accounts, and a sub-account key
reaches only its own account (never its master or its siblings)."""

from __future__ import annotations

from tests.support.mexc import err, ok
from tests.support.platforms import IEnv

SUBP = "/api/v3/broker/sub-account"
SPOT = {"fromAccountType": "SPOT", "toAccountType": "SPOT"}


def test_broker_cannot_reach_another_brokers_subaccounts(ienv: IEnv) -> None:
    _, _, a = ienv.broker("Broker A", USDT="1000")
    _, _, b = ienv.broker("Broker B", USDT="1000")
    b_sub_id, b_sub = ienv.sub(b, "shared0001")
    ok(
        b.post(
            f"{SUBP}/universalTransfer", toAccount="shared0001", asset="USDT", amount="100", **SPOT
        )
    )
    b_key = ok(b.get(f"{SUBP}/apiKey", subAccount="shared0001"))["subAccount"][0]["apiKey"]

    assert ok(a.get(f"{SUBP}/list"))["data"] == []
    assert ok(a.get(f"{SUBP}/list", subAccount="shared0001"))["data"] == []
    err(a.get(f"{SUBP}/status", subAccount="shared0001"), 140001)
    err(a.post(f"{SUBP}/status", subAccount="shared0001", status="2"), 140001)
    err(a.post(f"{SUBP}/futures", subAccount="shared0001"), 140001)
    err(a.post(f"{SUBP}/commission", subAccount="shared0001", takerMarkup="0.001"), 140001)
    err(
        a.post(f"{SUBP}/apiKey", subAccount="shared0001", note="x", permissions="SPOT_DEAL_READ"),
        140001,
    )
    err(a.get(f"{SUBP}/apiKey", subAccount="shared0001"), 140001)
    err(a.delete(f"{SUBP}/apiKey", subAccount="shared0001", apiKey=b_key), 140001)
    err(
        a.post(
            f"{SUBP}/universalTransfer", fromAccount="shared0001", asset="USDT", amount="1", **SPOT
        ),
        140001,
    )
    err(a.get(f"{SUBP}/universalTransfer", fromAccount="shared0001", **SPOT), 140001)
    err(a.get("/api/v3/sub-account/asset", subAccount="shared0001"), 140001)
    err(a.get(f"{SUBP}/assets", subAccount="shared0001"), 140001)
    assert ok(a.get(f"{SUBP}/universalTransfer", fromAccount="*", toAccount="*", **SPOT)) == []
    assert ok(a.get("/api/v3/broker/capital/deposit/subHisrec/getall")) == []
    # the same name under broker A is a different account
    a_sub_id, _ = ienv.sub(a, "shared0001")
    assert a_sub_id != b_sub_id
    assert ok(a.get("/api/v3/sub-account/asset", subAccount="shared0001")) == {"balances": []}
    # B's sub-account and key are untouched
    assert ok(b.get(f"{SUBP}/status", subAccount="shared0001")) == {"status": "1"}
    bal = {x["asset"]: x["free"] for x in ok(b_sub.get("/api/v3/account"))["balances"]}
    assert bal["USDT"] == "100"


def test_subaccount_key_cannot_act_on_master_or_siblings(ienv: IEnv) -> None:
    _, master_acc, master = ienv.broker("Broker C", USDT="1000")
    one_id, one = ienv.sub(master, "sibling001")
    two_id, _ = ienv.sub(master, "sibling002")
    ok(
        master.post(
            f"{SUBP}/universalTransfer", toAccount="sibling001", asset="USDT", amount="10", **SPOT
        )
    )
    # broker management with a sub-account key: it is no broker
    err(one.get(f"{SUBP}/list"), 401, 401)
    err(one.post(f"{SUBP}/virtualSubAccount", subAccount="sneaky0001", note="x"), 401, 401)
    err(
        one.post(f"{SUBP}/apiKey", subAccount="sibling002", note="x", permissions="SPOT_DEAL_READ"),
        401,
        401,
    )
    for frm, to in ((None, "sibling002"), ("sibling001", "sibling002"), ("sibling002", None)):
        params = {"asset": "USDT", "amount": "1", **SPOT}
        if frm:
            params["fromAccount"] = frm
        if to:
            params["toAccount"] = to
        err(one.post(f"{SUBP}/universalTransfer", **params), 401, 401)
    err(one.get(f"{SUBP}/universalTransfer", fromAccount="*", toAccount="*", **SPOT), 401, 401)
    err(one.get("/api/v3/broker/capital/deposit/subHisrec/getall"), 401, 401)
    err(one.get("/api/v3/broker/rebate/taxQuery"), 401, 401)
    err(one.get(f"{SUBP}/assets", subAccount="sibling002"), 401, 401)
    # the normal sub-account API: a sub-account has no sub-accounts
    err(one.get("/api/v3/sub-account/list"), 700007, 401)
    err(one.get("/api/v3/sub-account/asset", subAccount="sibling002"), 700007, 401)
    # its own keys only: the master's key cannot be deleted through it
    master_key = master.api_key
    err(one.delete("/api/v3/user/apiKey", apiKey=master_key), 730706)
    assert ienv.platform.apikeys.lookup(master_key).revoked is False  # type: ignore[union-attr]
    # deposit addresses are the caller's own
    mine = ok(one.post("/api/v3/broker/capital/deposit/subAddress", coin="USDT", network="TRX"))
    owner = ienv.platform.chain.owner("TRX", "USDT", mine["address"], "")
    assert owner == one_id and owner not in (two_id, master_acc)
    # the account endpoint shows only its own balance
    bal = {x["asset"]: x["free"] for x in ok(one.get("/api/v3/account"))["balances"]}
    assert bal == {"USDT": "10"}
    # the master's key cannot use the sub-account-only endpoints
    err(master.get("/api/v3/broker/capital/deposit/subHisrec"), 700007, 401)
    err(
        master.post(
            "/api/v3/broker/capital/withdraw/apply",
            coin="USDT",
            network="TRX",
            address=mine["address"],
            amount="10",
        ),
        700007,
        401,
    )
