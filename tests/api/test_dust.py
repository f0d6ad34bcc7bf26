"""Dust conversion to MX (``capital/convert/list``, ``POST`` and ``GET capital/convert``) on
SQLite and PostgreSQL: values at the last prices, the 5 USDT cap, MEXC's 0.2 % fee, the dust
desk paying from its own MX, the ledger balanced, MEXC's limits (15 assets, 10 conversions a
day, also under concurrent requests) and the paged log."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bourse.api.mexc.errors import PARAM_ERROR
from bourse.domain.accounts import DUST_DESK, FEE_REVENUE
from bourse.domain.money import Asset
from bourse.engine import commands as c
from bourse.engine.clock import now_ms
from tests.support.clock import backdated
from tests.support.ledger import assert_ledger_balanced
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import Env, open_env

PATH = "/api/v3/capital/convert"
PERMS = ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]
UNIT = 10**8


@pytest.fixture
def env(migrated_url: str, tmp_path: Any) -> Iterator[Env]:
    yield from open_env(migrated_url, tmp_path)


def balance(env: Env, account: int, asset: str) -> int:
    return int(env.platform.engine.read(lambda e: e.wallet.ledger.available(account, asset)))


def credit(env: Env, account: int, asset: str, units: int, ref: str) -> None:
    env.platform.engine.execute(c.CreditDeposit(account, asset, units, ref))


def market(env: Env, desk_mx: int = 1000 * UNIT) -> None:
    """Last prices MX 2.5, BTC 60000, ETH 3000 USDT (a trader dealing with itself); the desk
    holds ``desk_mx`` MX units. The trades are ``AVERAGING_MS`` old (``backdated``): a pair that
    has only just traded prices no dust (``domain.reference_price.settled``)."""
    mm = env.signer(env.open_account(USDT="1000000", BTC="10", ETH="10", MX="1000"))
    with backdated(env.platform.engine):
        trade_with_itself(mm)
    if desk_mx:
        credit(env, DUST_DESK, "MX", desk_mx, "desk")


def trade_with_itself(mm: Signer) -> None:
    for symbol, qty, price in (
        ("MXUSDT", "10", "2.5"),
        ("BTCUSDT", "0.01", "60000"),
        ("ETHUSDT", "0.1", "3000"),
    ):
        for side in ("SELL", "BUY"):
            ok(
                mm.post(
                    "/api/v3/order",
                    symbol=symbol,
                    side=side,
                    type="LIMIT",
                    quantity=qty,
                    price=price,
                )
            )


def test_list_convert_and_log(env: Env) -> None:
    market(env)
    env.platform.engine.execute(c.AddAsset(Asset("ZZZ", 8, "no market")))
    alice = env.open_account(BTC="0.00005", ETH="0.002", USDT="1.5", MX="1")
    credit(env, alice, "ZZZ", UNIT, "zzz")
    a = env.signer(alice, PERMS)
    revenue = balance(env, FEE_REVENUE, "MX")

    rows = {r["asset"]: r for r in ok(a.get(PATH + "/list"))}
    assert set(rows) == {"BTC", "ETH", "USDT", "ZZZ"}  # MX itself is not listed
    # 0.00005 BTC is 3 USDT = 1.2 MX; 0.2 % fee 0.0024 MX
    assert rows["BTC"] == {
        "convertMx": "1.1976", "convertUsdt": "3", "balance": "0.00005", "asset": "BTC",
        "code": None, "message": None,
    }  # fmt: skip
    assert (rows["USDT"]["convertMx"], rows["USDT"]["code"]) == ("0.5988", None)
    assert rows["ETH"]["convertUsdt"] == "6" and rows["ETH"]["code"] is not None  # >= 5 USDT
    assert rows["ZZZ"]["code"] is not None and rows["ZZZ"]["convertUsdt"] == "0"  # no price

    done = ok(a.post(PATH, asset="BTC,ETH,USDT,ZZZ,MX,NOPE"))
    assert done == {
        "successList": ["BTC", "USDT"],
        "failedList": ["ETH", "ZZZ", "MX", "NOPE"],
        "totalConvert": "1.7964",
        "convertFee": "0.0036",
    }
    assert balance(env, alice, "BTC") == 0 and balance(env, alice, "USDT") == 0
    assert balance(env, alice, "ETH") == 200_000  # untouched
    assert balance(env, alice, "MX") == UNIT + 179_640_000
    assert balance(env, DUST_DESK, "MX") == 1000 * UNIT - 180_000_000
    assert balance(env, DUST_DESK, "BTC") == 5000 and balance(env, DUST_DESK, "USDT") == 150_000_000
    assert balance(env, FEE_REVENUE, "MX") == revenue + 360_000
    assert_ledger_balanced(env.platform.config.database_url)

    # nothing left to convert: an answer with nothing converted, and nothing recorded
    again = ok(a.post(PATH, asset="BTC"))
    assert again == {
        "successList": [],
        "failedList": ["BTC"],
        "totalConvert": "0",
        "convertFee": "0",
    }
    log = ok(a.get(PATH))
    assert (log["totalRecords"], log["page"], log["totalPageNum"]) == (1, 1, 1)
    (entry,) = log["data"]
    assert (entry["totalConvert"], entry["totalFee"]) == ("1.7964", "0.0036")
    assert [(d["asset"], d["amount"], d["convert"], d["fee"]) for d in entry["convertDetails"]] == [
        ("BTC", "0.00005", "1.1976", "0.0024"),
        ("USDT", "1.5", "0.5988", "0.0012"),
    ]
    assert (
        isinstance(entry["convertTime"], int)
        and len({d["id"] for d in entry["convertDetails"]}) == 2
    )
    assert ok(a.get(PATH, startTime=entry["convertTime"] + 1))["data"] == []
    assert ok(a.get(PATH, page=2))["data"] == []


def test_refusals(env: Env) -> None:
    market(env, desk_mx=UNIT // 2)  # the desk holds 0.5 MX
    alice = env.open_account(USDT="2", BTC="0.00001")
    a = env.signer(alice, PERMS)
    # 2 USDT would take 0.8 MX from the desk: it has 0.5, so USDT fails; 0.6 USDT of BTC fits
    done = ok(a.post(PATH, asset="USDT,BTC"))
    assert (done["successList"], done["failedList"]) == (["BTC"], ["USDT"])
    assert balance(env, alice, "USDT") == 2 * UNIT
    err(a.post(PATH, asset=",".join(["USDT"] * 16)), PARAM_ERROR)  # at most 15
    err(a.post(PATH, asset="USDT,,BTC"), PARAM_ERROR)
    err(a.post(PATH), 44444)
    reader = env.signer(alice, ["SPOT_ACCOUNT_READ"])
    err(reader.post(PATH, asset="USDT"), 700007, 401)
    err(reader.get(PATH), 700007, 401)  # the log needs SPOT_DEAL_READ
    ok(reader.get(PATH + "/list"))
    env.platform.engine.execute(c.SetAccountFrozen(alice, True))
    err(a.post(PATH, asset="USDT"), 30018)
    assert_ledger_balanced(env.platform.config.database_url)


def convert(s: Signer, asset: str, timestamp: int | None = None) -> Any:
    """A conversion signed now (or at ``timestamp``: requests sent at once with the same
    timestamp would be one signed request, its copies refused as replays, code 26)."""
    return s.request("POST", PATH, {"asset": asset}, timestamp=timestamp)


def test_one_conversion_of_a_balance_and_ten_a_day_under_concurrency(env: Env) -> None:
    market(env)
    bob = env.open_account(USDT="1")
    b = env.signer(bob, PERMS)
    # the same balance, asked for eight times at once: converted exactly once
    start = now_ms()
    with ThreadPoolExecutor(8) as pool:
        answers = [ok(r) for r in pool.map(lambda i: convert(b, "USDT", start - i), range(8))]
    assert sum(x["successList"] == ["USDT"] for x in answers) == 1
    assert balance(env, bob, "USDT") == 0 and balance(env, bob, "MX") == 39_920_000
    # eight more conversions, then two at once when only one is left for the day
    for i in range(8):
        credit(env, bob, "USDT", UNIT, f"bob-{i}")
        assert ok(convert(b, "USDT"))["successList"] == ["USDT"]
    credit(env, bob, "USDT", UNIT, "bob-last")
    credit(env, bob, "BTC", 1000, "bob-btc")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda asset: convert(b, asset), ["USDT", "BTC"]))
    assert sorted(r.status_code for r in answers) == [200, 400]
    assert [r.json()["code"] for r in answers if r.status_code == 400] == [26]
    assert ok(b.get(PATH, limit=1000))["totalRecords"] == 10
    err(convert(b, "USDT"), 26)
    assert_ledger_balanced(env.platform.config.database_url)
