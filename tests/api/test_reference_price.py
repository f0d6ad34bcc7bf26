"""The attack of the attacker pass, through the API on SQLite and PostgreSQL: one attacker's two
accounts walk MXUSDT with tiny trades between them, each at the price band's limit (0.2x or 5x
the last price), then convert dust to MX or pay a trading fee in MX (``mxDeduct``). Both value
MX at its reference price too (``domain.reference_price``), which such a burst barely moves: the
conversion is refused while the last price is far from it (and paid at the reference once the
price is back), and the fee is not shrunk (the usual fee is charged instead)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_UP, Decimal
from typing import Any

import pytest

from bourse.domain.accounts import DUST_DESK
from bourse.engine import commands as c
from tests.support.clock import backdated, moved_on
from tests.support.ledger import assert_ledger_balanced
from tests.support.mexc import Signer, err, ok
from tests.support.platforms import Env, open_env

UNIT = 10**8
TICK = Decimal("0.0001")  # MXUSDT's price step
LOT = Decimal("0.01")  # MXUSDT's quantity step
PERMS = ["SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]


@pytest.fixture
def env(migrated_url: str, tmp_path: Any) -> Iterator[Env]:
    yield from open_env(migrated_url, tmp_path)


def balance(env: Env, account: int, asset: str) -> int:
    return int(env.platform.engine.read(lambda e: e.wallet.ledger.available(account, asset)))


def limit(s: Signer, symbol: str, side: str, qty: Decimal | str, price: Decimal | str) -> Any:
    return ok(
        s.post("/api/v3/order", symbol=symbol, side=side, type="LIMIT", quantity=qty, price=price)
    )


def market(env: Env) -> Signer:
    """A market maker: MX last traded at 2.5 USDT, BTC at 60000 (trades with itself),
    ``AVERAGING_MS`` ago (``backdated``), so the references have history."""
    mm = env.signer(env.open_account(USDT="1000000", BTC="10", MX="100000"))
    with backdated(env.platform.engine):
        for symbol, qty, price in (("MXUSDT", "10", "2.5"), ("BTCUSDT", "0.01", "60000")):
            limit(mm, symbol, "SELL", qty, price)
            limit(mm, symbol, "BUY", qty, price)
    return mm


def walk(buyer: Signer, seller: Signer, start: str, factor: str, steps: int) -> Decimal:
    """``steps`` trades on MXUSDT between the attacker's two accounts, each at ``factor`` x the
    last price (on the tick, never past the band, at least the minimum order value of 1 USDT).
    Returns the last price."""
    price = Decimal(start)
    for _ in range(steps):
        rounding = ROUND_UP if Decimal(factor) < 1 else "ROUND_DOWN"
        price = max(TICK, (price * Decimal(factor)).quantize(TICK, rounding=rounding))
        qty = max(LOT, (1 / price).quantize(LOT, rounding=ROUND_UP))
        limit(buyer, "MXUSDT", "BUY", qty, price)
        limit(seller, "MXUSDT", "SELL", qty, price)
    return price


def test_walking_mx_down_then_converting_dust(env: Env) -> None:
    """From 2.5 to 0.0001 in 7 trades, then 4.99 USDT of dust: it made 49,800 MX (~124,000
    USDT at the real price). Now refused (26) while MXUSDT is far from its reference; once the
    price is walked back, the same dust pays at 2.5 USDT per MX, as before the attack."""
    market(env)
    env.platform.engine.execute(c.CreditDeposit(DUST_DESK, "MX", 200_000 * UNIT, "desk"))
    buyer = env.open_account(USDT="100")
    seller = env.open_account(MX="30000")
    a, b = env.signer(buyer, PERMS), env.signer(seller, PERMS)
    dusty = env.open_account(USDT="4.99")
    d = env.signer(dusty, PERMS)

    assert walk(a, b, "2.5", "0.2", 7) == TICK
    last = ok(d.get("/api/v3/ticker/price", symbol="MXUSDT"))
    assert last["price"] == "0.0001"

    (row,) = ok(d.get("/api/v3/capital/convert/list"))
    assert (row["asset"], row["code"]) == ("USDT", "30044")
    body = err(d.post("/api/v3/capital/convert", asset="USDT"), 26)
    assert "MXUSDT" in body["msg"] and "reference" in body["msg"]
    assert balance(env, dusty, "MX") == 0 and balance(env, dusty, "USDT") == 499_000_000
    assert ok(d.get("/api/v3/capital/convert"))["totalRecords"] == 0

    # walked back (5x a step) to 2.5: the last price is the reference again, and MX is valued
    # at the higher of the two (the reference dipped a little while the price stood low)
    assert walk(a, b, "0.0001", "5", 6) == Decimal("1.5625")
    assert walk(a, b, "1.5625", "1.6", 1) == Decimal("2.5")
    done = ok(d.post("/api/v3/capital/convert", asset="USDT"))
    # 4.99 USDT at 2.5 is 1.996 MX; the 0.2 % fee 0.003992 MX
    assert (done["totalConvert"], done["convertFee"]) == ("1.992008", "0.003992")
    assert balance(env, dusty, "MX") == 199_200_800
    assert_ledger_balanced(env.platform.config.database_url)


def test_a_pair_that_has_only_just_traded_prices_no_dust(env: Env) -> None:
    """Whoever makes a newly listed pair's first trade sets its reference: MXUSDT traded just
    now (at 250 USDT per MX, one account with itself) prices no dust (26) until the reference
    is ``AVERAGING_MS`` old; then the same request converts."""
    mm = env.signer(env.open_account(USDT="10000", MX="100"))
    limit(mm, "MXUSDT", "SELL", "1", "250")
    limit(mm, "MXUSDT", "BUY", "1", "250")
    env.platform.engine.execute(c.CreditDeposit(DUST_DESK, "MX", 200_000 * UNIT, "desk"))
    dusty = env.open_account(USDT="4.99")
    d = env.signer(dusty, PERMS)
    (row,) = ok(d.get("/api/v3/capital/convert/list"))
    assert (row["asset"], row["code"]) == ("USDT", "30044")
    body = err(d.post("/api/v3/capital/convert", asset="USDT"), 26)
    assert "MXUSDT" in body["msg"] and "reference" in body["msg"]
    assert balance(env, dusty, "USDT") == 499_000_000 and balance(env, dusty, "MX") == 0
    with moved_on(env.platform.engine):
        done = ok(d.post("/api/v3/capital/convert", asset="USDT"))
    # 4.99 USDT at 250 is 0.01996 MX; the 0.2 % fee 0.00003992 MX
    assert (done["totalConvert"], done["convertFee"]) == ("0.01992008", "0.00003992")
    assert balance(env, dusty, "USDT") == 0
    assert_ledger_balanced(env.platform.config.database_url)


def test_walking_mx_up_does_not_shrink_an_mx_fee(env: Env) -> None:
    """From 2.5 to 39062.5 in 6 trades, an mxDeduct fee worth 0.24 USDT cost 0.00000615 MX
    (0.096 MX at the real price). Now MXUSDT is far from its reference, so the fill pays the
    usual fee, in the asset it receives."""
    mm = market(env)
    buyer = env.open_account(USDT="1000")
    seller = env.open_account(MX="100")
    walk(env.signer(buyer), env.signer(seller), "2.5", "5", 6)
    assert ok(env.http.get("/api/v3/ticker/price", params={"symbol": "MXUSDT"}))["price"] == (
        "39062.5"
    )
    payer = env.open_account(USDT="1000", MX="10")
    p = env.signer(payer)
    ok(p.post("/api/v3/mxDeduct/enable", mxDeductEnable="true"))
    limit(mm, "BTCUSDT", "SELL", "0.01", "60000")
    ok(p.post("/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"))
    (fill,) = ok(p.get("/api/v3/myTrades", symbol="BTCUSDT"))
    assert (fill["commission"], fill["commissionAsset"]) == ("0.000005", "BTC")
    assert balance(env, payer, "MX") == 10 * UNIT
    assert balance(env, payer, "BTC") == UNIT // 100 - 500
    assert_ledger_balanced(env.platform.config.database_url)
