"""MX fee deduction (``GET/POST /api/v3/mxDeduct/enable``) on SQLite and PostgreSQL: MEXC's
envelope, fees paid in MX at 20 % off priced at the lower of the last MXUSDT price and its
reference price (both sides, exact units), the fallback to the usual fee when MX is short (also
under concurrent orders) or its price strays from the reference, the ledger balanced, and the
setting and the last prices surviving a restart."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bourse.api.mexc.errors import PARAM_ERROR
from bourse.domain.accounts import FEE_REVENUE
from bourse.store.db import make_engine
from bourse.store.sql import SqlStore
from tests.support.clock import backdated
from tests.support.ledger import assert_ledger_balanced
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import Env, open_env

PATH = "/api/v3/mxDeduct/enable"
UNIT = 10**8  # every demo asset has 8 decimals
#: a 0.01 BTC fill at 60000 is 600 USDT; the taker fee (0.05 %) is worth 0.3 USDT;
#: 80 % of it at 2.5 USDT per MX is 0.096 MX
MX_FEE = 9_600_000
BTC_FEE = 500  # 0.05 % of 0.01 BTC = 0.000005 BTC


@pytest.fixture
def env(migrated_url: str, tmp_path: Any) -> Iterator[Env]:
    yield from open_env(migrated_url, tmp_path)


def balance(env: Env, account: int, asset: str) -> int:
    return int(env.platform.engine.read(lambda e: e.wallet.ledger.available(account, asset)))


def order(s: Signer, side: str, qty: str, price: str | None = None, symbol: str = "BTCUSDT") -> Any:
    if price is None:
        return ok(s.post("/api/v3/order", symbol=symbol, side=side, type="MARKET", quantity=qty))
    return ok(
        s.post("/api/v3/order", symbol=symbol, side=side, type="LIMIT", quantity=qty, price=price)
    )


def market_maker(env: Env) -> Signer:
    """An account that prices MX at 2.5 USDT (a trade with itself, ``AVERAGING_MS`` ago: a
    reference with no history prices no fee, ``domain.reference_price.settled``) and quotes BTC."""
    mm = env.signer(env.open_account(USDT="1000000", BTC="10", MX="100000"))
    with backdated(env.platform.engine):
        order(mm, "SELL", "10", "2.5", "MXUSDT")
        order(mm, "BUY", "10", "2.5", "MXUSDT")
    return mm


def envelope(body: Any, enabled: bool) -> None:
    assert set(body) == {"data", "code", "msg", "timestamp"}
    assert body["data"] == {"mxDeductEnable": enabled}
    assert (body["code"], body["msg"]) == (0, "success") and isinstance(body["timestamp"], int)


def test_envelope_and_permissions(env: Env) -> None:
    acc = env.open_account()
    s = env.signer(acc, ["SPOT_DEAL_READ", "SPOT_DEAL_WRITE"])
    envelope(ok(s.get(PATH)), False)
    envelope(ok(s.post(PATH, mxDeductEnable="true")), True)
    envelope(ok(s.get(PATH)), True)
    envelope(ok(s.post(PATH, mxDeductEnable="True")), True)  # pymexc sends Python's True
    envelope(ok(s.post(PATH, mxDeductEnable="FALSE")), False)
    envelope(ok(s.get(PATH)), False)
    err(s.post(PATH, mxDeductEnable="yes"), PARAM_ERROR)
    err(s.post(PATH), 44444)
    reader = env.signer(acc, ["SPOT_DEAL_READ"])
    err(reader.post(PATH, mxDeductEnable="true"), 700007, 401)
    envelope(ok(reader.get(PATH)), False)
    err(env.signer(acc, ["SPOT_ACCOUNT_READ"]).get(PATH), 700007, 401)


def test_fees_paid_in_mx_both_sides_and_fallback(env: Env) -> None:
    mm = market_maker(env)
    alice = env.open_account(USDT="1000", MX="1")
    bob = env.open_account(USDT="1000", MX="0.05")  # less than one MX fee
    a, b = env.signer(alice), env.signer(bob)
    ok(a.post(PATH, mxDeductEnable="true"))
    ok(b.post(PATH, mxDeductEnable="true"))
    revenue_mx = balance(env, FEE_REVENUE, "MX")

    # alice buys as taker: the whole BTC arrives, the fee is 0.096 MX
    order(mm, "SELL", "0.01", "60000")
    order(a, "BUY", "0.01")
    assert balance(env, alice, "BTC") == UNIT // 100
    assert balance(env, alice, "MX") == UNIT - MX_FEE
    assert balance(env, alice, "USDT") == 400 * UNIT
    # alice sells as taker: the whole 600 USDT arrives, the fee is 0.096 MX again
    order(mm, "BUY", "0.01", "60000")
    order(a, "SELL", "0.01")
    assert balance(env, alice, "USDT") == 1000 * UNIT
    assert balance(env, alice, "MX") == UNIT - 2 * MX_FEE
    assert balance(env, FEE_REVENUE, "MX") == revenue_mx + 2 * MX_FEE

    # bob holds too little MX: the usual fee, in BTC
    order(mm, "SELL", "0.01", "60000")
    order(b, "BUY", "0.01")
    assert balance(env, bob, "BTC") == UNIT // 100 - BTC_FEE
    assert balance(env, bob, "MX") == 5 * UNIT // 100

    mine = ok(a.get("/api/v3/myTrades", symbol="BTCUSDT"))
    assert [(x["isBuyer"], x["commission"], x["commissionAsset"]) for x in mine] == [
        (True, "0.096", "MX"),
        (False, "0.096", "MX"),
    ]
    theirs = ok(b.get("/api/v3/myTrades", symbol="BTCUSDT"))
    assert [(x["commission"], x["commissionAsset"]) for x in theirs] == [("0.000005", "BTC")]

    # switched off: the usual fee again
    ok(a.post(PATH, mxDeductEnable="false"))
    order(mm, "SELL", "0.01", "60000")
    order(a, "BUY", "0.01")
    assert balance(env, alice, "BTC") == UNIT // 100 - BTC_FEE
    assert balance(env, alice, "MX") == UNIT - 2 * MX_FEE
    assert_ledger_balanced(env.platform.config.database_url)


def test_a_fill_on_mxusdt_is_priced_within_its_band(env: Env) -> None:
    """On MXUSDT the fill's own price is MX's last price, and MX is valued at the lower of it
    and its reference price (2.5: the market maker's trade): 10 MX at 2.6 is 26 USDT, a fee
    worth 0.013 USDT, 80 % of it at 2.5 USDT per MX is 0.00416 MX (out of the MX just bought).
    At 3 USDT, 20 % from the reference, the fill pays the usual fee: 0.05 % of the 10 MX."""
    mm = market_maker(env)
    alice = env.open_account(USDT="100")
    a = env.signer(alice)
    ok(a.post(PATH, mxDeductEnable="true"))
    order(mm, "SELL", "10", "2.6", "MXUSDT")
    order(a, "BUY", "10", None, "MXUSDT")
    assert balance(env, alice, "MX") == 10 * UNIT - 416_000
    assert balance(env, alice, "USDT") == 74 * UNIT
    order(mm, "SELL", "10", "3", "MXUSDT")
    order(a, "BUY", "10", None, "MXUSDT")
    assert balance(env, alice, "MX") == 20 * UNIT - 416_000 - 500_000
    assert balance(env, alice, "USDT") == 44 * UNIT
    mine = ok(a.get("/api/v3/myTrades", symbol="MXUSDT"))
    assert [(x["commission"], x["commissionAsset"]) for x in mine] == [
        ("0.00416", "MX"),
        ("0.005", "MX"),
    ]
    assert_ledger_balanced(env.platform.config.database_url)


def test_no_mx_price_means_the_usual_fee(env: Env) -> None:
    mm = env.signer(env.open_account(BTC="1"))
    alice = env.open_account(USDT="1000", MX="100")
    a = env.signer(alice)
    ok(a.post(PATH, mxDeductEnable="true"))
    order(mm, "SELL", "0.01", "60000")
    order(a, "BUY", "0.01")  # MXUSDT never traded: MX has no price
    assert balance(env, alice, "BTC") == UNIT // 100 - BTC_FEE
    assert balance(env, alice, "MX") == 100 * UNIT


def test_concurrent_orders_never_overdraw_mx(env: Env) -> None:
    """MX for two fees, six orders at once: exactly two pay in MX, the others in BTC."""
    mm = market_maker(env)
    carol = env.open_account(USDT="10000", MX="0.2")
    c = env.signer(carol)
    ok(c.post(PATH, mxDeductEnable="true"))
    order(mm, "SELL", "0.06", "60000")
    buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}

    def one(i: int) -> Any:  # six distinct requests: the same one twice would be a replay
        return ok(c.request("POST", "/api/v3/order", buy, recv_window=5000 + i))

    with ThreadPoolExecutor(6) as pool:
        done = list(pool.map(one, range(6)))
    assert all(x["orderId"] for x in done)
    trades = ok(c.get("/api/v3/myTrades", symbol="BTCUSDT"))
    assets = sorted(x["commissionAsset"] for x in trades)
    assert assets == ["BTC"] * 4 + ["MX"] * 2
    assert balance(env, carol, "MX") == 20_000_000 - 2 * MX_FEE
    assert balance(env, carol, "BTC") == 6 * UNIT // 100 - 4 * BTC_FEE
    assert_ledger_balanced(env.platform.config.database_url)


def test_setting_and_prices_survive_a_restart(env: Env) -> None:
    market_maker(env)
    alice = env.open_account(MX="1")
    ok(env.signer(alice).post(PATH, mxDeductEnable="true"))
    db = make_engine(env.platform.config.database_url)
    try:
        snap = SqlStore(db).load()
    finally:
        db.dispose()
    assert {a.id for a in snap.accounts if a.mx_deduct} == {alice}
    assert snap.last_prices == {"MXUSDT": 25_000}  # 2.5 at 4 price decimals
