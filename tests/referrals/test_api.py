"""The referral endpoints and sign-up with a refer code, over real HTTP (uvicorn on loopback),
on SQLite and PostgreSQL: a user signs up on the web page with another's code, trades, the
accrual pays, and MEXC's ``rebate/taxQuery``, ``rebate/detail``, ``rebate/detail/kickback`` and
``rebate/referCode`` show it in MEXC's shapes."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.brokers import rebate_for
from bourse.domain.money import format_units, to_units
from bourse.engine import commands as c
from bourse.services.apikeys import generate_server_key
from bourse.store import oauth_tables as ot
from bourse.store import tables as t
from tests.support.mexc import err, ok
from tests.support.platforms import Env
from tests.support.server import ServerThread

INVITER_PPM, INVITEE_PPM = 250_000, 100_000


def serve(migrated_url: str, tmp_path: Any, live: bool) -> Iterator[Env]:
    cfg = Config(
        database_url=migrated_url,
        secret_key=generate_server_key(),
        key_dir=str(tmp_path),
        rate_limits=RateLimits.off(),
        maker_fee_ppm=1_000,
        taker_fee_ppm=2_000,
        rebate_settle_at=None,
        referral_rate_ppm=INVITER_PPM,
        referral_kickback_ppm=INVITEE_PPM,
        referrals_live=live,
    )
    platform = open_platform(cfg)
    try:
        with (
            ServerThread(create_app(platform)) as srv,
            httpx.Client(base_url=srv.url, timeout=15) as http,
        ):
            yield Env(platform, srv.url, http)
    finally:
        platform.close()


@pytest.fixture
def env(migrated_url: str, tmp_path: Any) -> Iterator[Env]:
    """The platform with referral accrual run by the tests only (``accrue_pending``)."""
    yield from serve(migrated_url, tmp_path, live=False)


@pytest.fixture
def live_env(migrated_url: str, tmp_path: Any) -> Iterator[Env]:
    """The platform as served: referral kickbacks accrued by the change-feed follower."""
    yield from serve(migrated_url, tmp_path, live=True)


def form_value(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no {name} in page"
    return m.group(1)


def signup(http: httpx.Client, email: str, code: str) -> httpx.Response:
    page = http.get("/signup", params={"inviteCode": code})
    assert page.status_code == 200
    assert form_value(page.text, "invite_code") == code[:32]
    data = {
        "email": email,
        "password": "correct horse battery",
        "csrf_token": form_value(page.text, "csrf_token"),
        "invite_code": form_value(page.text, "invite_code"),
    }
    return http.post("/signup", data=data)


def users(env: Env) -> int:
    with env.platform.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ot.users)).scalar_one())


def test_signup_with_a_refer_code_then_rebates_in_mexc_shapes(env: Env) -> None:
    inviter = env.open_account(USDT="1000")
    isig = env.signer(inviter)
    code = ok(isig.get("/api/v3/rebate/referCode"))["referCode"]
    assert ok(isig.get("/api/v3/rebate/referCode")) == {"referCode": code}

    # an unknown code is refused on the page, and nobody is created
    n = users(env)
    with httpx.Client(base_url=env.url, timeout=15) as browser:
        r = signup(browser, "mallory@example.com", "no-such-code")
        assert r.status_code == 400 and "refer code does not exist" in r.text
    assert users(env) == n

    with httpx.Client(base_url=env.url, timeout=15) as browser:
        r = signup(browser, "alice.smith@example.com", code)
        assert r.status_code == 303, r.text
    user = env.platform.users.repo.user_by_email("alice.smith@example.com")
    invitee = int(user.account_id)
    assert env.platform.referrals.invitation(invitee).inviter_account == inviter

    # the invitee trades: takes 0.5 BTC from a stranger, then rests 0.2 BTC the stranger takes
    engine = env.platform.engine
    for i, (asset, amount) in enumerate((("USDT", "100000"), ("BTC", "1"))):
        units = to_units(amount, engine.wallet.assets[asset].scale)
        engine.execute(c.CreditDeposit(invitee, asset, units, f"fund-{invitee}-{i}"))
    usig = env.signer(invitee, ["SPOT_DEAL_WRITE", "SPOT_DEAL_READ", "SPOT_ACCOUNT_READ"])
    stranger = env.open_account(USDT="100000", BTC="5")
    ssig = env.signer(stranger, ["SPOT_DEAL_WRITE", "SPOT_DEAL_READ", "SPOT_ACCOUNT_READ"])
    order = dict(symbol="BTCUSDT", type="LIMIT", quantity="0.5", price="30000")
    ok(ssig.post("/api/v3/order", side="SELL", **order))
    ok(usig.post("/api/v3/order", side="BUY", **order))
    order = dict(symbol="BTCUSDT", type="LIMIT", quantity="0.2", price="30100")
    ok(usig.post("/api/v3/order", side="SELL", **order))
    ok(ssig.post("/api/v3/order", side="BUY", **order))

    # nothing before the accrual runs
    assert ok(isig.get("/api/v3/rebate/detail"))["data"] == []
    run = env.platform.referrals.accrue_pending()
    assert run.kickbacks == 4 and len(run.paid) == 1

    with env.platform.db.connect() as conn:
        trades = conn.execute(select(t.trades).order_by(t.trades.c.id)).all()
    assert len(trades) == 2
    buy, sell = trades
    btc_fee, usdt_fee = buy.buyer_fee, sell.seller_fee
    usdt_scale = engine.wallet.assets["USDT"].scale
    btc_scale = engine.wallet.assets["BTC"].scale
    inviter_btc = rebate_for(btc_fee, INVITER_PPM)
    inviter_usdt = rebate_for(usdt_fee, INVITER_PPM)
    value = inviter_btc * buy.quote_qty // buy.qty + inviter_usdt

    tax = ok(isig.get("/api/v3/rebate/taxQuery"))
    assert tax["page"] == 1 and tax["totalRecords"] == 1 and tax["totalPageNum"] == 1
    (row,) = tax["data"]
    assert row == {
        "spot": format_units(value, usdt_scale),
        "futures": "0",
        "total": format_units(value, usdt_scale),
        "uid": str(invitee),
        "account": "ali****ith@example.com",
        "inviteTime": row["inviteTime"],
    }
    assert Decimal(row["spot"]) > 0

    detail = ok(isig.get("/api/v3/rebate/detail"))
    assert detail["totalRecords"] == 2
    got = {(x["asset"], x["amount"], x["rate"], x["type"], x["uid"]) for x in detail["data"]}
    assert got == {
        ("BTC", format_units(inviter_btc, btc_scale), "0.25", "spot", str(invitee)),
        ("USDT", format_units(inviter_usdt, usdt_scale), "0.25", "spot", str(invitee)),
    }
    assert all(x["updateTime"] >= x["tradeTime"] for x in detail["data"])
    kick = ok(usig.get("/api/v3/rebate/detail/kickback"))
    assert {(x["asset"], x["amount"], x["rate"]) for x in kick["data"]} == {
        ("BTC", format_units(rebate_for(btc_fee, INVITEE_PPM), btc_scale), "0.1"),
        ("USDT", format_units(rebate_for(usdt_fee, INVITEE_PPM), usdt_scale), "0.1"),
    }
    # the invitee invited nobody; the inviter got no kickback of its own
    assert ok(usig.get("/api/v3/rebate/taxQuery"))["data"] == []
    assert ok(isig.get("/api/v3/rebate/detail/kickback"))["data"] == []
    # paging and windows
    page2 = ok(isig.get("/api/v3/rebate/detail", page=2, pageSize=1))
    assert page2["totalPageNum"] == 2 and len(page2["data"]) == 1
    later = max(tr.time for tr in trades) + 1
    assert ok(isig.get("/api/v3/rebate/detail", startTime=later))["data"] == []
    tax_later = ok(isig.get("/api/v3/rebate/taxQuery", startTime=later))
    assert tax_later["data"][0]["spot"] == "0"  # still the invitee, nothing in the window
    err(isig.get("/api/v3/rebate/detail", startTime=later, endTime=later - 1), 33333)
    # a key without SPOT_ACCOUNT_READ cannot read rebates
    deal_only = env.signer(inviter, ["SPOT_DEAL_READ"])
    err(deal_only.get("/api/v3/rebate/taxQuery"), 700007, 401)


def test_refer_code_needs_a_signed_request(env: Env) -> None:
    r = env.http.get("/api/v3/rebate/referCode")
    assert r.status_code in (400, 401)
    assert "code" in r.json()


def _affiliate(r: httpx.Response) -> dict[str, Any]:
    body = ok(r)
    assert body["success"] is True and body["code"] == 0 and body["message"] is None
    data = body["data"]
    assert {"pageSize", "totalCount", "totalPage", "currentPage", "resultList"} <= set(data)
    return data  # type: ignore[no-any-return]


def test_affiliate_endpoints_over_the_same_data(env: Env) -> None:
    refs = env.platform.referrals
    aff = env.open_account(USDT="10")
    asig = env.signer(aff)
    # b signs up with aff's code and deposits 5000 USDT; c signs up with b's code
    b = env.open_account(USDT="5000", BTC="1")
    refs.invite(b, refs.refer_code(aff))
    c_acc = env.open_account(USDT="7")
    refs.invite(c_acc, refs.refer_code(b))
    bsig = env.signer(b, ["SPOT_DEAL_WRITE", "SPOT_ACCOUNT_READ"])
    stranger = env.open_account(USDT="100000", BTC="5")
    ssig = env.signer(stranger, ["SPOT_DEAL_WRITE", "SPOT_ACCOUNT_READ"])
    order = dict(symbol="BTCUSDT", type="LIMIT", quantity="0.1", price="30000")
    ok(bsig.post("/api/v3/order", side="SELL", **order))  # b makes
    ok(ssig.post("/api/v3/order", side="BUY", **order))
    run = refs.accrue_pending()
    assert len(run.paid) == 1
    with env.platform.db.connect() as conn:
        (trade,) = conn.execute(select(t.trades)).all()
    usdt_scale = env.platform.engine.wallet.assets["USDT"].scale
    earned = rebate_for(trade.seller_fee, INVITER_PPM)

    com = _affiliate(asig.get("/api/v3/rebate/affiliate/commission"))
    assert com["totalCount"] == 1 and com["currentPage"] == 1 and com["finished"] is None
    (row,) = com["resultList"]
    assert row["uid"] == str(b) and row["inviteCode"] == refs.refer_code(aff)
    assert row["spot"] == row["total"] == format_units(earned, usdt_scale)
    assert row["etf"] == row["futures"] == "0"
    assert row["deposit"] == "5000" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["firstDepositTime"])
    # the filters: another code, or another uid, match nothing
    assert _affiliate(asig.get("/api/v3/rebate/affiliate/commission", uid=c_acc))["totalCount"] == 0
    assert (
        _affiliate(asig.get("/api/v3/rebate/affiliate/commission", inviteCode="zzzz"))["totalCount"]
        == 0
    )

    wd = _affiliate(asig.get("/api/v3/rebate/affiliate/withdraw"))
    assert [(x["asset"], x["amount"]) for x in wd["resultList"]] == [
        ("USDT", format_units(earned, usdt_scale))
    ]

    det = _affiliate(asig.get("/api/v3/rebate/affiliate/commission/detail"))
    (line,) = det["resultList"]
    assert line["uid"] == str(b) and line["symbol"] == "BTCUSDT" and line["currency"] == "USDT"
    assert line["makerAmount"] == "3000" and line["takerAmount"] == "0"
    assert line["commission"] == format_units(earned, usdt_scale) and line["state"] == 2
    assert line["type"] == 1 and line["sourceType"] == 1 and line["rate"] == "0.25"
    assert det["totalCommissionUsdtAmount"] == format_units(earned, usdt_scale)
    assert det["totalTradeUsdtAmount"] == "3000"
    futures = _affiliate(asig.get("/api/v3/rebate/affiliate/commission/detail", type=2))
    assert futures["resultList"] == []
    now = trade.time
    err(
        asig.get(
            "/api/v3/rebate/affiliate/commission/detail",
            startTime=now - 31 * 86_400_000,
            endTime=now,
        ),
        33333,
    )

    ref = _affiliate(asig.get("/api/v3/rebate/affiliate/referral"))
    (r,) = ref["resultList"]
    assert r["uid"] == str(b) and r["depositAmount"] == "5000" and r["tradingAmount"] == "3000"
    assert r["commission"] == format_units(earned, usdt_scale)
    assert r["firstTradeTime"] == r["lastTradeTime"] == trade.time
    assert r["asset"] == "1,000 - 10,000 USDT" and r["identification"] == 1

    subs = _affiliate(asig.get("/api/v3/rebate/affiliate/subaffiliates"))
    (sub,) = subs["resultList"]
    assert sub["inviteCode"] == refs.refer_code(b) and sub["registered"] == 1
    assert sub["deposited"] == 1 and sub["depositAmount"] == "7"
    # b's own affiliate view: c is its referral, nobody is its sub-affiliate
    bread = env.signer(b, ["SPOT_ACCOUNT_READ"])
    assert [
        x["uid"] for x in _affiliate(bread.get("/api/v3/rebate/affiliate/referral"))["resultList"]
    ] == [str(c_acc)]
    assert _affiliate(bread.get("/api/v3/rebate/affiliate/subaffiliates"))["resultList"] == []


def test_live_kickbacks_follow_the_change_feed(live_env: Env) -> None:
    env = live_env
    refs = env.platform.referrals
    inviter = env.open_account()
    isig = env.signer(inviter)
    code = refs.refer_code(inviter)
    traders = []
    for _ in range(4):
        acc = env.open_account(USDT="50000", BTC="2")
        refs.invite(acc, code)
        traders.append(env.signer(acc, ["SPOT_DEAL_WRITE", "SPOT_ACCOUNT_READ"]))
    stranger = env.open_account(USDT="1000000", BTC="50")
    ssig = env.signer(stranger, ["SPOT_DEAL_WRITE", "SPOT_ACCOUNT_READ"])
    before = {
        a: env.platform.engine.read(lambda e, a=a: e.exchange.ledger.available(inviter, a))
        for a in ("BTC", "USDT")
    }
    errors: list[BaseException] = []

    def trade(sig: Any, i: int) -> None:
        try:
            order = dict(symbol="BTCUSDT", type="LIMIT", quantity="0.01", price="30000")
            ok(sig.post("/api/v3/order", side="SELL", **order))
            # the stranger's four buys differ: the same signed request twice is a replay
            buy = {**order, "side": "BUY"}
            ok(ssig.request("POST", "/api/v3/order", buy, recv_window=5000 + i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=trade, args=(sig, i)) for i, sig in enumerate(traders)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors
    deadline = time.monotonic() + 15
    rows: list[Any] = []
    while time.monotonic() < deadline:  # bounded: the follower pays within moments
        rows = ok(isig.get("/api/v3/rebate/detail", pageSize=100))["data"]
        if len(rows) >= 4:
            break
        time.sleep(0.05)
    assert len(rows) == 4 and {r["asset"] for r in rows} == {"USDT"}
    # every row paid once: a further run (and the follower's own) adds nothing
    refs.accrue_pending()
    assert len(ok(isig.get("/api/v3/rebate/detail", pageSize=100))["data"]) == 4
    scale = env.platform.engine.wallet.assets["USDT"].scale
    gained = (
        env.platform.engine.read(lambda e: e.exchange.ledger.available(inviter, "USDT"))
        - before["USDT"]
    )
    assert gained == sum(to_units(r["amount"], scale) for r in rows) > 0
