"""The sub-account endpoints one by one: MEXC shapes, envelopes, error codes, fees, status."""

from __future__ import annotations

import httpx

from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from tests.support.mexc import err, ok
from tests.support.platforms import MAKER_PPM, TAKER_PPM, IEnv

SUBP = "/api/v3/broker/sub-account"


def test_create_list_status_futures(ienv: IEnv) -> None:
    _, master, s = ienv.broker()
    body = ok(s.post(f"{SUBP}/virtualSubAccount", subAccount="alice0001", note="first"))
    assert body["code"] == "0" and body["message"] == ""
    (row,) = body["data"]
    assert row["subAccount"] == "alice0001" and row["note"] == "first"
    assert isinstance(row["timestamp"], str) and row["timestamp"].isdigit()
    # name rules and duplicates
    err(s.post(f"{SUBP}/virtualSubAccount", note="x"), 730600)
    err(s.post(f"{SUBP}/virtualSubAccount", subAccount="short", note="x"), 730601)
    err(s.post(f"{SUBP}/virtualSubAccount", subAccount="bad_name_1", note="x"), 730601)
    err(s.post(f"{SUBP}/virtualSubAccount", subAccount="bob000001"), 730602)
    err(s.post(f"{SUBP}/virtualSubAccount", subAccount="alice0001", note="x"), 730101)
    for i in range(2, 6):
        ok(s.post(f"{SUBP}/virtualSubAccount", subAccount=f"alice000{i}", note=str(i)))
    page = ok(s.get(f"{SUBP}/list", page=2, limit=2))
    assert [r["subAccount"] for r in page["data"]] == ["alice0003", "alice0004"]
    one = ok(s.get(f"{SUBP}/list", subAccount="alice0005"))
    assert [r["note"] for r in one["data"]] == ["5"]
    assert ok(s.get(f"{SUBP}/status", subAccount="alice0001")) == {"status": "1"}
    err(s.get(f"{SUBP}/status", subAccount="nobody0001"), 140001)
    assert ok(s.post(f"{SUBP}/status", subAccount="alice0001", status="2"))["status"] == "2"
    assert ok(s.get(f"{SUBP}/status", subAccount="alice0001")) == {"status": "2"}
    fut = ok(s.post(f"{SUBP}/futures", subAccount="alice0002"))
    assert fut["code"] == "0" and fut["data"][0]["isFuturesEnabled"] is True
    # the sub-account is a BROKER_SUB child of the master in the engine
    sub = ienv.platform.subaccounts.by_account(
        ienv.platform.subaccounts.get(
            ienv.platform.subaccounts.tenant_for_broker(master), "alice0001"
        ).account_id
    )
    assert sub is not None and sub.frozen
    acc = ienv.platform.engine.wallet.accounts[sub.account_id]
    assert acc.parent == master and acc.kind == "BROKER_SUB"


def test_quota(ienv: IEnv) -> None:
    _, master, s = ienv.broker()
    ienv.platform.subaccounts.set_quota(master, 2)
    ok(s.post(f"{SUBP}/virtualSubAccount", subAccount="quota0001", note="n"))
    ok(s.post(f"{SUBP}/virtualSubAccount", subAccount="quota0002", note="n"))
    err(s.post(f"{SUBP}/virtualSubAccount", subAccount="quota0003", note="n"), 730003)


def test_not_a_broker_and_not_independent(ienv: IEnv) -> None:
    user = ienv.open_account()
    s = ienv.signer(user, ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"])
    err(s.post(f"{SUBP}/virtualSubAccount", subAccount="x00000001", note="n"), 401, 401)
    ok(s.post("/api/v3/broker/apply", brokerType="API", name="api one"))
    err(s.get(f"{SUBP}/list"), 730100)


def test_keys(ienv: IEnv) -> None:
    _, master, _ = ienv.broker()
    # a master key whose whitelist holds both addresses below (keys no wider than the signer)
    s = ienv.signer(master, list(FULL_SPOT_PERMISSIONS), ip_whitelist=["127.0.0.0/8", "10.0.0.0/8"])
    ok(s.post(f"{SUBP}/virtualSubAccount", subAccount="keys00001", note="n"))
    err(s.post(f"{SUBP}/apiKey", subAccount="keys00001", permissions="SPOT_DEAL_READ"), 730700)
    err(s.post(f"{SUBP}/apiKey", subAccount="keys00001", note="k"), 730701)
    err(s.post(f"{SUBP}/apiKey", subAccount="keys00001", note="k", permissions="NOPE"), 730702)
    five = "1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5"
    err(
        s.post(
            f"{SUBP}/apiKey",
            subAccount="keys00001",
            note="k",
            permissions="SPOT_DEAL_READ",
            ip=five,
        ),
        730703,
    )
    err(
        s.post(
            f"{SUBP}/apiKey",
            subAccount="keys00001",
            note="k",
            permissions="SPOT_DEAL_READ",
            ip="1.2.3",
        ),
        730704,
    )
    made = ok(
        s.post(
            f"{SUBP}/apiKey",
            subAccount="keys00001",
            note="k1",
            permissions="SPOT_ACCOUNT_READ,SPOT_DEAL_W",
            ip="127.0.0.1,10.0.0.1",
        )
    )
    assert made["apikey"] == made["apiKey"] and len(made["secretKey"]) == 32
    assert made["permissions"] == "SPOT_ACCOUNT_READ,SPOT_DEAL_WRITE"
    assert made["subAccount"] == "keys00001" and made["ip"] == "127.0.0.1,10.0.0.1"
    listed = ok(s.get(f"{SUBP}/apiKey", subAccount="keys00001"))
    (k,) = listed["subAccount"]
    assert k["apiKey"] == made["apiKey"] and k["note"] == "k1" and isinstance(k["creatTime"], int)
    err(s.delete(f"{SUBP}/apiKey", subAccount="keys00001"), 730707)
    err(s.delete(f"{SUBP}/apiKey", subAccount="keys00001", apiKey="mx0nope"), 730706)
    assert ok(s.delete(f"{SUBP}/apiKey", subAccount="keys00001", apiKey=made["apiKey"])) == {
        "subAccount": "keys00001"
    }
    assert ok(s.get(f"{SUBP}/apiKey", subAccount="keys00001")) == {"subAccount": []}
    # the key is dead at once
    from tests.support.mexc import Signer

    dead = Signer(ienv.http, made["apiKey"], made["secretKey"])
    assert dead.get("/api/v3/account").status_code == 401


def test_key_cannot_exceed_creator_permissions(ienv: IEnv) -> None:
    _, master, _ = ienv.broker()
    weak = ienv.signer(master, ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"])
    ok(weak.post(f"{SUBP}/virtualSubAccount", subAccount="weak00001", note="n"))
    err(
        weak.post(
            f"{SUBP}/apiKey", subAccount="weak00001", note="k", permissions="SPOT_WITHDRAW_WRITE"
        ),
        700007,
        401,
    )


def test_fee_inheritance_and_markup(ienv: IEnv) -> None:
    _, master, s = ienv.broker()
    sub_id, _ = ienv.sub(s, "fees00001")
    rates = ienv.platform.engine.read(lambda e: e.exchange.fees.rates(sub_id))
    assert rates == (MAKER_PPM, TAKER_PPM)
    got = ok(
        s.post(
            f"{SUBP}/commission", subAccount="fees00001", makerMarkup="0.0005", takerMarkup="0.001"
        )
    )
    assert got["makerCommission"] == "0.0015" and got["takerCommission"] == "0.003"
    assert got["makerMarkup"] == "0.0005" and got["takerMarkup"] == "0.001"
    assert ienv.platform.engine.read(lambda e: e.exchange.fees.rates(sub_id)) == (1_500, 3_000)
    err(s.post(f"{SUBP}/commission", subAccount="fees00001", takerMarkup="0.01"), 33333)
    assert ok(s.get(f"{SUBP}/commission", subAccount="fees00001"))["takerCommission"] == "0.003"
    # the operator changes the master's rates: refresh re-applies base + markup
    from bourse.engine import commands as c

    ienv.platform.engine.execute(c.SetFees(master, 0, 1_000))
    svc = ienv.platform.subaccounts
    assert svc.refresh_fees(svc.tenant_for_broker(master)) == 1
    assert ienv.platform.engine.read(lambda e: e.exchange.fees.rates(sub_id)) == (500, 2_000)


def test_freeze_cancels_orders_and_blocks(ienv: IEnv) -> None:
    _, _, s = ienv.broker(USDT="1000")
    sub_id, sub = ienv.sub(s, "frozen001")
    ok(
        s.post(
            f"{SUBP}/universalTransfer",
            toAccount="frozen001",
            fromAccountType="SPOT",
            toAccountType="SPOT",
            asset="USDT",
            amount="500",
        )
    )
    order = ok(
        sub.post(
            "/api/v3/order",
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            quantity="0.001",
            price="10000",
        )
    )
    ok(s.post(f"{SUBP}/status", subAccount="frozen001", status="2"))
    got = ok(sub.get("/api/v3/order", symbol="BTCUSDT", orderId=order["orderId"]))
    assert got["status"] == "CANCELED"
    r = sub.post(
        "/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.001", price="10000"
    )
    # MEXC's code; the text names the sub-account as its key's holder knows it, not by its id
    assert r.status_code == 400 and r.json() == {
        "code": 30018,
        "msg": "sub account 'frozen001' is frozen",
    }
    err(
        s.post(
            f"{SUBP}/universalTransfer",
            fromAccount="frozen001",
            fromAccountType="SPOT",
            toAccountType="SPOT",
            asset="USDT",
            amount="1",
        ),
        140002,
    )
    err(
        s.post(
            f"{SUBP}/universalTransfer",
            toAccount="frozen001",
            fromAccountType="SPOT",
            toAccountType="SPOT",
            asset="USDT",
            amount="1",
        ),
        140002,
    )
    addr = ok(sub.post("/api/v3/broker/capital/deposit/subAddress", coin="USDT", network="TRX"))
    assert addr["coin"] == "USDT" and addr["address"]
    err(
        sub.post(
            "/api/v3/broker/capital/withdraw/apply",
            coin="USDT",
            network="TRX",
            address=addr["address"],
            amount="10",
        ),
        140002,
    )
    ok(s.post(f"{SUBP}/status", subAccount="frozen001", status="1"))
    ok(
        s.post(
            f"{SUBP}/universalTransfer",
            fromAccount="frozen001",
            fromAccountType="SPOT",
            toAccountType="SPOT",
            asset="USDT",
            amount="1",
        )
    )


def test_normal_subaccounts(ienv: IEnv) -> None:
    user = ienv.open_account(USDT="100")
    s = ienv.signer(
        user,
        [
            "SPOT_ACCOUNT_READ",
            "SPOT_ACCOUNT_WRITE",
            "SPOT_TRANSFER_READ",
            "SPOT_TRANSFER_WRITE",
            "SPOT_DEAL_READ",
        ],
    )
    assert ok(
        s.post("/api/v3/sub-account/virtualSubAccount", subAccount="plain0001", note="p")
    ) == {
        "subAccount": "plain0001",
        "note": "p",
    }
    listed = ok(s.get("/api/v3/sub-account/list"))["subAccounts"]
    assert listed[0]["subAccount"] == "plain0001" and listed[0]["isFreeze"] is False
    key = ok(
        s.post(
            "/api/v3/sub-account/apiKey",
            subAccount="plain0001",
            note="k",
            permissions="SPOT_ACCOUNT_READ",
        )
    )
    assert "apikey" not in key and key["apiKey"]
    assert len(ok(s.get("/api/v3/sub-account/apiKey", subAccount="plain0001"))["subAccount"]) == 1
    tid = ok(
        s.post(
            "/api/v3/capital/sub-account/universalTransfer",
            toAccount="plain0001",
            fromAccountType="SPOT",
            toAccountType="SPOT",
            asset="USDT",
            amount="12.5",
        )
    )["tranId"]
    rows = ok(
        s.get(
            "/api/v3/capital/sub-account/universalTransfer",
            toAccount="plain0001",
            fromAccountType="SPOT",
            toAccountType="SPOT",
        )
    )
    assert [(r["tranId"], r["amount"], r["toAccount"]) for r in rows] == [
        (tid, "12.5", "plain0001")
    ]
    assert ok(s.get("/api/v3/sub-account/asset", subAccount="plain0001")) == {
        "balances": [{"asset": "USDT", "free": "12.5", "locked": "0"}]
    }
    # a plain user is not an independent broker
    err(s.get(f"{SUBP}/list"), 401, 401)
    assert ok(s.delete("/api/v3/sub-account/apiKey", subAccount="plain0001", apiKey=key["apiKey"]))


def test_deposits_withdraw_password_and_futures(ienv: IEnv) -> None:
    import hashlib

    from bourse.domain.money import to_units
    from bourse.sandbox.chain import format_address

    _, _, s = ienv.broker(USDT="1000")
    pw = hashlib.md5(b"fund password").hexdigest()
    ok(s.post(f"{SUBP}/virtualSubAccount", subAccount="wallet001", note="n", password=pw))
    made = ok(
        s.post(
            f"{SUBP}/apiKey",
            subAccount="wallet001",
            note="k",
            permissions="SPOT_DEPOSIT_READ,SPOT_DEPOSIT_WRITE,SPOT_WITHDRAW_READ,SPOT_WITHDRAW_WRITE,SPOT_ACCOUNT_READ",
        )
    )
    from tests.support.mexc import Signer

    sub = Signer(ienv.http, made["apiKey"], made["secretKey"])
    sub_id = ienv.platform.apikeys.lookup(made["apiKey"]).account_id  # type: ignore[union-attr]
    a = ok(sub.post("/api/v3/broker/capital/deposit/subAddress", coin="USDT", network="TRX"))
    assert a["memo"] == "" and a["coin"] == "USDT"
    assert [
        x["address"] for x in ok(sub.get("/api/v3/broker/capital/deposit/subAddress", coin="USDT"))
    ] == [a["address"]]
    for i in range(3):
        ienv.platform.chain.send_deposit(a["address"], "", "USDT", "TRX", to_units(f"{10 + i}", 8))
    ienv.platform.chain.advance(5)
    page1 = ok(sub.get("/api/v3/broker/capital/deposit/subHisrec", limit=2))
    page2 = ok(sub.get("/api/v3/broker/capital/deposit/subHisrec", limit=2, page=2))
    assert len(page1) == 2 and len(page2) == 1
    assert sorted(d["amount"] for d in page1 + page2) == ["10", "11", "12"]
    assert all(d["status"] == 5 and d["unlockConfirm"] == "3" for d in page1 + page2)
    # the address book binds unless the fund password is given
    booked = format_address("tron", hashlib.sha256(b"book").digest())
    elsewhere = format_address("tron", hashlib.sha256(b"elsewhere").digest())
    ienv.platform.wallet.add_whitelist(sub_id, "USDT", "TRX", booked)
    args = {"coin": "USDT", "network": "TRX", "amount": "10"}
    err(sub.post("/api/v3/broker/capital/withdraw/apply", address=elsewhere, **args), 10212)
    wrong = hashlib.md5(b"nope").hexdigest()
    err(
        sub.post(
            "/api/v3/broker/capital/withdraw/apply", address=elsewhere, password=wrong, **args
        ),
        730002,
    )
    got = ok(
        sub.post("/api/v3/broker/capital/withdraw/apply", address=elsewhere, password=pw, **args)
    )
    ok(sub.post("/api/v3/broker/capital/withdraw/apply", address=booked, **args))
    hist = ok(sub.get("/api/v3/capital/withdraw/history"))
    assert got["id"] in {h["id"] for h in hist} and len(hist) == 2
    # futures: refused until enabled
    futures = {"toAccount": "wallet001", "fromAccountType": "SPOT", "toAccountType": "FUTURES"}
    err(s.post(f"{SUBP}/universalTransfer", asset="USDT", amount="5", **futures), 10103)
    ok(s.post(f"{SUBP}/futures", subAccount="wallet001"))
    ok(s.post(f"{SUBP}/universalTransfer", asset="USDT", amount="5", **futures))
    rows = ok(s.get(f"{SUBP}/universalTransfer", **futures))
    assert [(r["toAccount"], r["toAccountType"], r["amount"]) for r in rows] == [
        ("wallet001", "FUTURES", "5")
    ]


def test_ip_whitelists_read_alike_for_user_and_sub_account_keys(ienv: IEnv) -> None:
    """One reading of ``ip`` (``apikeys.ip_whitelist_of``) for a user's own keys and a
    sub-account's: repeats count once, too many is 730703, a bad entry 730704."""
    _, master, _ = ienv.broker()
    s = ienv.signer(master, ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ"])
    ok(s.post(f"{SUBP}/virtualSubAccount", subAccount="iplist001", note="n"))
    ten = [f"10.0.0.{i}" for i in range(1, 11)]
    cases = [
        ("/api/v3/user/apiKey", {}, ten, "10.0.0.11"),
        # a broker's sub-account key takes at most 4
        (f"{SUBP}/apiKey", {"subAccount": "iplist001"}, ten[:4], "10.0.0.5"),
    ]
    for path, extra, most, one_more in cases:

        def create(
            ips: list[str], path: str = path, extra: dict[str, str] = extra
        ) -> httpx.Response:
            return s.post(path, note="k", permissions="SPOT_DEAL_READ", ip=",".join(ips), **extra)

        made = ok(create([*most, most[0]]))  # a repeat is not one more
        assert made["ip"] == ",".join(most), path
        err(create([*most, one_more]), 730703)
        err(create(["10.0.0.300"]), 730704)
