"""Orders of an independent broker's sub-accounts are attributed to that broker (the hook
``SubAccounts.broker_of`` in ``trading.attribute``), and the demo seeding."""

from __future__ import annotations

from bourse.domain.accounts import AccountKind
from bourse.sandbox.demo import FULL_SPOT_PERMISSIONS
from bourse.services.brokers import rebates as rb
from bourse.services.subaccounts import seed_independent_broker
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import IEnv

SUBP = "/api/v3/broker/sub-account"
SPOT = {"fromAccountType": "SPOT", "toAccountType": "SPOT"}


def _fund(master, name: str, usdt: str) -> None:  # type: ignore[no-untyped-def]
    ok(master.post(f"{SUBP}/universalTransfer", toAccount=name, asset="USDT", amount=usdt, **SPOT))


def test_sub_orders_earn_for_their_broker_whatever_the_key_binding(ienv: IEnv) -> None:
    indie, master_acc, master = ienv.broker("Indie", USDT="10000")
    sub_id, sub = ienv.sub(master, "attrib001")
    _fund(master, "attrib001", "1000")
    assert ienv.platform.subaccounts.broker_of(sub_id) == indie
    assert ienv.platform.subaccounts.broker_of(master_acc) is None
    # an API broker the sub-account's key gets bound to, and a source header naming it
    api_acc = ienv.open_account()
    api = ienv.signer(api_acc, ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"])
    api_id = int(ok(api.post("/api/v3/broker/apply", brokerType="API", name="other"))["brokerId"])
    ienv.platform.brokers.registry.approve(api_id)
    trade_key = ok(
        master.post(
            f"{SUBP}/apiKey",
            subAccount="attrib001",
            note="trading only",
            permissions="SPOT_ACCOUNT_READ,SPOT_ACCOUNT_WRITE,SPOT_DEAL_READ,SPOT_DEAL_WRITE",
            ip="127.0.0.1",
        )
    )
    sub = Signer(ienv.http, trade_key["apiKey"], trade_key["secretKey"])
    ok(sub.post("/api/v3/user/apiKey/bind", brokerId=api_id))
    seller = ienv.open_account(BTC="1")
    s = ienv.signer(seller, list(FULL_SPOT_PERMISSIONS))
    ok(
        s.post(
            "/api/v3/order",
            symbol="BTCUSDT",
            side="SELL",
            type="LIMIT",
            quantity="0.01",
            price="30000",
        )
    )
    ok(
        sub.request(
            "POST",
            "/api/v3/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.01",
                "price": "30000",
            },
            headers={"source": str(api_id)},
        )
    )
    ienv.platform.brokers.accrue()
    total, rows = rb.records(ienv.platform.db, indie)
    assert total == 1 and rows[0]["account_id"] == sub_id and rows[0]["rebate"] > 0
    assert rb.records(ienv.platform.db, api_id)[0] == 0


def test_suspended_broker_earns_nothing_and_cannot_manage(ienv: IEnv) -> None:
    indie, _, master = ienv.broker("Suspended", USDT="10000")
    _, sub = ienv.sub(master, "susp00001")
    _fund(master, "susp00001", "1000")
    ienv.platform.brokers.registry.suspend(indie, "test")
    err(master.get(f"{SUBP}/list"), 730100)
    err(master.get("/api/v3/sub-account/list"), 730100)  # not through the normal API either
    err(
        master.post("/api/v3/sub-account/virtualSubAccount", subAccount="side00001", note="x"),
        730100,
    )
    err(sub.get("/api/v3/broker/capital/deposit/subHisrec"), 730100)
    seller = ienv.open_account(BTC="1")
    s = ienv.signer(seller, list(FULL_SPOT_PERMISSIONS))
    ok(
        s.post(
            "/api/v3/order",
            symbol="BTCUSDT",
            side="SELL",
            type="LIMIT",
            quantity="0.01",
            price="30000",
        )
    )
    ok(
        sub.post(
            "/api/v3/order",
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            quantity="0.01",
            price="30000",
        )
    )
    ienv.platform.brokers.accrue()
    assert rb.records(ienv.platform.db, indie)[0] == 0


def test_seed_independent_broker_is_idempotent(ienv: IEnv) -> None:
    acc = ienv.open_account(kind=AccountKind.BROKER_MASTER, USDT="1000")
    first = seed_independent_broker(ienv.platform.brokers.registry, acc)
    again = seed_independent_broker(ienv.platform.brokers.registry, acc)
    assert first == again and first["accountId"] == acc
    broker = ienv.platform.brokers.registry.get(first["brokerId"])
    assert broker.approved and broker.type == "INDEPENDENT"
    assert ienv.platform.subaccounts.tenant_for_broker(acc).quota == 1000
    master = ienv.signer(acc, list(FULL_SPOT_PERMISSIONS))
    ienv.sub(master, "seeded001")


def test_demo_role_with_seed_demo(ienv: IEnv) -> None:
    """What the demo integration does: a BROKER_MASTER demo role with a full key, registered by
    ``seed_independent_broker``; ``demo_credentials`` then lists its key."""
    from bourse.sandbox.demo import DEMO_ACCOUNTS, DemoAccount, demo_credentials, seed_demo
    from tests.support.mexc import Signer

    role = DemoAccount(
        role="independent_broker",
        name="demo:independent-broker",
        funds=(("USDT", "100000"), ("BTC", "1")),
        kind=AccountKind.BROKER_MASTER,
        api_key=True,
    )
    accounts = (*DEMO_ACCOUNTS, role)
    seeded = seed_demo(ienv.platform, accounts)
    info = seed_independent_broker(
        ienv.platform.brokers.registry, seeded.accounts["independent_broker"]
    )
    assert seed_demo(ienv.platform, accounts).accounts == seeded.accounts  # idempotent
    creds = demo_credentials(ienv.platform, accounts)["accounts"]["independent_broker"]
    master = Signer(ienv.http, creds["api_key"], creds["secret"])
    _, sub = ienv.sub(master, "demosub01")
    ok(
        master.post(
            f"{SUBP}/universalTransfer", toAccount="demosub01", asset="USDT", amount="10", **SPOT
        )
    )
    assert ok(sub.get("/api/v3/account"))["balances"][0]["free"] == "10"
    assert ienv.platform.brokers.registry.get(info["brokerId"]).approved
