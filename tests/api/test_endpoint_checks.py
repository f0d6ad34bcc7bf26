"""Endpoints MEXC clients call, checked against the reference on SQLite and PostgreSQL: ``uid``,
``DELETE openOrders`` over several comma-separated symbols (MEXC takes up to 5),
``historicalTrades`` (shape, clamped ``limit``, ``fromId``) and the bounded ``page`` of every
paged history (``capital/transfer/internal`` and the others)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bourse.api.mexc.errors import PARAM_ERROR
from bourse.api.mexc.params import MAX_PAGE
from bourse.domain.money import Asset, to_units
from bourse.domain.symbols import Symbol
from bourse.engine import commands as c
from tests.support.mexc import err, ok
from tests.support.platforms import Env, open_env

USDT = Asset("USDT", 8, "Tether USD")
EXTRA = ("AAA", "BBB")  # two more symbols, so a cancel can name five


@pytest.fixture
def env(migrated_url: str, tmp_path: Any) -> Iterator[Env]:
    yield from open_env(migrated_url, tmp_path)


def list_extra_symbols(env: Env) -> list[str]:
    engine = env.platform.engine
    names = []
    for code in EXTRA:
        asset = Asset(code, 8, code)
        engine.execute(c.AddAsset(asset))
        sym = Symbol(
            name=code + "USDT",
            base=asset,
            quote=USDT,
            price_scale=2,
            qty_scale=2,
            min_qty=1,
            max_qty=to_units("1000000", 2),
            min_notional=to_units("1", 8),
            max_notional=to_units("5000000", 8),
        )
        engine.execute(c.AddSymbol(sym))
        names.append(sym.name)
    return names


def test_uid_is_the_account_as_a_string(env: Env) -> None:
    a, b = env.open_account(), env.open_account()
    assert ok(env.signer(a).get("/api/v3/uid")) == {"uid": str(a)}
    assert ok(env.signer(b, ["SPOT_ACCOUNT_READ"]).get("/api/v3/uid")) == {"uid": str(b)}
    err(env.http.get("/api/v3/uid"), 400, 401)  # signed only: "api key required"


def test_cancel_open_orders_on_five_symbols(env: Env) -> None:
    symbols = ["BTCUSDT", "ETHUSDT", "MXUSDT", *list_extra_symbols(env)]
    acc = env.open_account(USDT="100000")
    other = env.open_account(USDT="100000")
    s, o = env.signer(acc), env.signer(other)
    for name in symbols:
        for price in ("2", "3"):
            ok(
                s.post(
                    "/api/v3/order",
                    symbol=name,
                    side="BUY",
                    type="LIMIT",
                    quantity="1",
                    price=price,
                )
            )
    ok(o.post("/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="1", price="2"))

    # six symbols: refused, nothing cancelled
    err(s.delete("/api/v3/openOrders", symbol=",".join([*symbols, "BTCUSDT"])), PARAM_ERROR)
    assert len(ok(s.get("/api/v3/openOrders"))) == 10
    # an unknown one among five: refused before anything is cancelled
    err(s.delete("/api/v3/openOrders", symbol="BTCUSDT,NOPEUSDT"), -1121)
    assert len(ok(s.get("/api/v3/openOrders"))) == 10

    # four of them at once, a fifth and a repeat in the same request on another thread
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(s.delete, "/api/v3/openOrders", symbol=",".join(symbols[:4]))
        second = pool.submit(s.delete, "/api/v3/openOrders", symbol=f"{symbols[4]},{symbols[0]}")
        canceled = ok(first.result()) + ok(second.result())
    assert sorted(x["symbol"] for x in canceled) == sorted(symbols * 2)
    assert {x["status"] for x in canceled} == {"CANCELED"}
    assert len({x["orderId"] for x in canceled}) == 10
    keys = {
        "symbol", "origClientOrderId", "orderId", "clientOrderId", "price", "origQty",
        "executedQty", "cummulativeQuoteQty", "status", "timeInForce", "type", "side",
        "orderListId",
    }  # fmt: skip
    assert keys <= set(canceled[0])
    assert ok(s.get("/api/v3/openOrders")) == []
    assert env.platform.engine.read(lambda e: e.wallet.ledger.locked(acc, "USDT")) == 0
    # the other account's order is untouched
    assert len(ok(o.get("/api/v3/openOrders", symbol="BTCUSDT"))) == 1
    # nothing left: an empty list, not an error
    assert ok(s.delete("/api/v3/openOrders", symbol=",".join(symbols))) == []


def test_historical_trades(env: Env) -> None:
    maker, taker = env.open_account(BTC="10"), env.open_account(USDT="1000000")
    m, t = env.signer(maker), env.signer(taker)
    for i in range(5):
        price = str(60000 + i)
        ok(
            m.post(
                "/api/v3/order",
                symbol="BTCUSDT",
                side="SELL",
                type="LIMIT",
                quantity="0.01",
                price=price,
            )
        )
        ok(t.post("/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"))

    newest = ok(env.http.get("/api/v3/historicalTrades", params={"symbol": "BTCUSDT"}))
    assert [x["price"] for x in newest] == ["60004", "60003", "60002", "60001", "60000"]
    assert set(newest[0]) == {
        "id",
        "price",
        "qty",
        "quoteQty",
        "time",
        "isBuyerMaker",
        "isBestMatch",
        "tradeType",
    }
    assert newest == ok(env.http.get("/api/v3/trades", params={"symbol": "BTCUSDT"}))
    # a limit above the maximum (1000) is clamped, as MEXC does; below 1 refused
    assert (
        len(
            ok(
                env.http.get(
                    "/api/v3/historicalTrades", params={"symbol": "BTCUSDT", "limit": 12000}
                )
            )
        )
        == 5
    )
    err(
        env.http.get("/api/v3/historicalTrades", params={"symbol": "BTCUSDT", "limit": 0}),
        PARAM_ERROR,
    )
    # fromId: from that trade on, oldest first
    ids = [int(x["id"]) for x in reversed(newest)]
    page = ok(
        env.http.get(
            "/api/v3/historicalTrades", params={"symbol": "BTCUSDT", "fromId": ids[1], "limit": 2}
        )
    )
    assert [int(x["id"]) for x in page] == ids[1:3]
    beyond = {"symbol": "BTCUSDT", "fromId": 2**63 - 1}
    assert ok(env.http.get("/api/v3/historicalTrades", params=beyond)) == []
    err(
        env.http.get("/api/v3/historicalTrades", params={"symbol": "BTCUSDT", "fromId": 2**63}),
        PARAM_ERROR,
    )
    err(env.http.get("/api/v3/historicalTrades", params={"symbol": "NOPEUSDT"}), -1121)
    err(env.http.get("/api/v3/historicalTrades"), 44444)


PAGED = (
    ("/api/v3/capital/transfer/internal", {}),
    ("/api/v3/capital/transfer", {"fromAccountType": "SPOT", "toAccountType": "FUTURES"}),
    ("/api/v3/capital/withdraw/address", {}),
)


@pytest.mark.parametrize(("path", "params"), PAGED)
def test_page_is_bounded(env: Env, path: str, params: dict[str, str]) -> None:
    """A page far past the end is refused (33333) rather than overflowing the database's
    OFFSET; the last allowed page answers an empty page with the real total."""
    alice = env.open_account(USDT="10")
    bob = env.open_account()
    s = env.signer(
        alice,
        ["SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE", "SPOT_TRANSFER_READ", "SPOT_ACCOUNT_READ"],
    )
    ok(
        s.post(
            "/api/v3/capital/transfer/internal",
            toAccountType="UID",
            toAccount=str(bob),
            asset="USDT",
            amount="1",
        )
    )
    for page in (MAX_PAGE + 1, 2**62, 2**63 - 1):
        err(s.get(path, page=page, **params), PARAM_ERROR)
    body = ok(s.get(path, page=MAX_PAGE, **params))
    rows = body if isinstance(body, list) else [body]
    for r in rows:
        assert r.get("data", r.get("rows", [])) == []
    if path.endswith("/internal"):
        assert body == {"page": MAX_PAGE, "totalRecords": 1, "totalPageNum": 1, "data": []}
        assert ok(s.get(path, page=1))["totalRecords"] == 1
