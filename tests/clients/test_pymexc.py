"""pymexc (pinned 1.3.0, unmodified) against a live server.

pymexc takes no base URL argument; its spot client keeps the host in the instance attribute
``base_url`` (``pymexc.base.SPOT`` by default), so the tests set that attribute and nothing else.
pymexc signs every call (market data included, ``klines`` and ``avgPrice`` with ``auth=True``),
sorts the parameters, encodes spaces as ``%20`` and sends ``Content-Type: application/json`` with
no body. Values are checked exactly from the wire strings.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pymexc
import pytest
from pymexc.base import MexcAPIError

from bourse.domain.orders import BUY

from ._harness import seed_market

D = Decimal


def test_pymexc_is_pinned() -> None:
    from importlib.metadata import version

    assert version("pymexc") == "1.3.0"


def client(live_server: Any, role: str | None = "user") -> Any:
    creds = live_server.credentials[role] if role else {}
    spot = pymexc.spot.HTTP(api_key=creds.get("api_key"), api_secret=creds.get("secret"))
    spot.base_url = live_server.url
    return spot


def balances(spot: Any) -> dict[str, tuple[Decimal, Decimal]]:
    info = spot.account_information()
    return {b["asset"]: (D(b["free"]), D(b["locked"])) for b in info["balances"]}


def test_market_data(live_server) -> None:  # type: ignore[no-untyped-def]
    seed_market(live_server)
    public, spot = client(live_server, None), client(live_server)
    assert public.ping() == {}
    assert abs(public.time()["serverTime"] - int(time.time() * 1000)) < 5_000
    info = public.exchange_info(symbols=["BTCUSDT", "ETHUSDT"])
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    btc = public.exchange_info(symbol="BTCUSDT")["symbols"][0]
    assert btc["quoteAsset"] == "USDT"
    # the one filter MEXC documents, with its documented multipliers
    assert btc["filters"] == [
        {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "askMultiplierDown": "0.2"}
    ]

    book = public.order_book("BTCUSDT", limit=5)
    assert book["bids"][0] == ["60400", "0.1"] and book["asks"][0] == ["60600", "0.3"]
    assert isinstance(book["timestamp"], int)
    trades = public.trades("BTCUSDT")  # pymexc's default limit is 500
    assert [(t["price"], t["qty"]) for t in trades] == [("60500", "0.02"), ("60000", "0.01")]
    candles = spot.klines("BTCUSDT", "1m")  # signed by pymexc
    assert candles and candles[-1][4] == "60500"
    assert sum(D(c[5]) for c in candles) == D("0.03")
    assert spot.avg_price("BTCUSDT")["price"] == "60333.33"  # (600 + 1210) / 0.03, rounded down

    one = public.ticker_24h("BTCUSDT")
    assert (one["lastPrice"], one["volume"], one["count"]) == ("60500", "0.03", 2)
    assert one["prevClosePrice"] == "60000"  # no trade before the window: the window's open
    # pymexc sends `symbols=` here; MEXC ignores it and answers every symbol, so do we
    many = public.ticker_24h(symbols=["BTCUSDT", "ETHUSDT"])
    assert {"BTCUSDT", "ETHUSDT"} <= {t["symbol"] for t in many}
    prices = {t["symbol"]: t["price"] for t in public.ticker_price(symbols=["BTCUSDT"])}
    assert prices["BTCUSDT"] == "60500"
    assert public.ticker_price("BTCUSDT") == {"symbol": "BTCUSDT", "price": "60500"}
    bt = public.ticker_book_price("BTCUSDT")
    assert (bt["bidPrice"], bt["askPrice"]) == ("60400", "60600")
    assert isinstance(public.ticker_book_price(), list)
    aggs = public.agg_trades("BTCUSDT")
    assert [a["p"] for a in aggs] == ["60000", "60500"]
    # MEXC often sends null trade ids (trades `id`, aggTrades `a`/`f`/`l`); Bourse fills them
    # with the trade's id (clients accept both; ids let them de-duplicate)
    assert [t["id"] for t in trades] == [str(a["a"]) for a in reversed(aggs)]
    assert all(a["a"] == a["f"] == a["l"] for a in aggs)


def test_order_lifecycle(live_server) -> None:  # type: ignore[no-untyped-def]
    seed_market(live_server)
    spot = client(live_server)
    before = balances(spot)
    placed = spot.order("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price="50000")
    oid = placed["orderId"]
    assert placed["status"] == "NEW" and placed["price"] == "50000"
    after = balances(spot)
    assert after["USDT"] == (before["USDT"][0] - 500, before["USDT"][1] + 500)

    got = spot.query_order("BTCUSDT", order_id=oid)
    assert (got["orderId"], got["status"], got["origQty"]) == (oid, "NEW", "0.01")
    assert [o["orderId"] for o in spot.current_open_orders("BTCUSDT")] == [oid]
    assert oid in [o["orderId"] for o in spot.all_orders("BTCUSDT")]

    canceled = spot.cancel_order("BTCUSDT", order_id=oid)
    assert canceled["status"] == "CANCELED"
    assert balances(spot)["USDT"] == before["USDT"]
    assert spot.current_open_orders("BTCUSDT") == []
    with pytest.raises(MexcAPIError, match="-2013"):
        spot.query_order("BTCUSDT", order_id="123456789")


def test_fill_and_my_trades(live_server) -> None:  # type: ignore[no-untyped-def]
    seed_market(live_server)
    spot = client(live_server)
    before = balances(spot)
    filled = spot.order("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price="60600")
    assert spot.query_order("BTCUSDT", order_id=filled["orderId"])["status"] == "FILLED"
    mine = spot.account_trade_list("BTCUSDT")
    assert [(t["price"], t["qty"], t["isBuyer"]) for t in mine] == [("60600", "0.01", True)]
    fee = D(mine[0]["commission"])
    assert mine[0]["commissionAsset"] == "BTC" and fee > 0
    after = balances(spot)
    assert after["BTC"][0] == before["BTC"][0] + D("0.01") - fee
    assert after["USDT"][0] == before["USDT"][0] - 606
    by_order = spot.account_trade_list("BTCUSDT", order_id=filled["orderId"], limit=5)
    assert [t["orderId"] for t in by_order] == [filled["orderId"]]


def test_batch_orders_and_cancel_all(live_server) -> None:  # type: ignore[no-untyped-def]
    spot = client(live_server)
    before = balances(spot)
    # pymexc JSON-encodes batchOrders and signs it %20-encoded, commas and brackets escaped
    out = spot.batch_orders(
        [{"price": "40000", "newClientOrderId": "b_1:x/y"}, {"price": "41000"}],
        symbol="BTCUSDT",
        side="BUY",
        order_type="LIMIT",
        quantity=0.01,
        price=40000,
    )
    assert len(out) == 2 and all("orderId" in o for o in out)
    open_ = spot.current_open_orders("BTCUSDT")
    assert sorted(o["price"] for o in open_) == ["40000", "41000"]
    assert {o["clientOrderId"] for o in open_} >= {"b_1:x/y"}
    assert balances(spot)["USDT"][1] == before["USDT"][1] + 810
    canceled = spot.cancel_all_open_orders("BTCUSDT")
    assert len(canceled) == 2
    assert spot.current_open_orders("BTCUSDT") == []
    assert balances(spot)["USDT"] == before["USDT"]


def test_klines_fill_quiet_minutes(live_server) -> None:  # type: ignore[no-untyped-def]
    """A minute without trades is a flat candle at the previous close with zero volume (as MEXC
    sends it), from the symbol's first trade on; nothing before it."""
    now = int(time.time() * 1000)
    t0 = now - now % 60_000 - 5 * 60_000
    # MXUSDT: price scale 4, quantity scale 2; straight into the projection the endpoint reads
    live_server.platform.marketdata.add_trades(
        {
            "id": i,
            "symbol": "MXUSDT",
            "price": p,
            "qty": 100,
            "quote_qty": 0,
            "taker_side": BUY,
            "time": t,
        }
        for i, (p, t) in enumerate(((20000, t0 + 1_000), (21000, t0 + 3 * 60_000 + 5)), 1)
    )
    spot = client(live_server)
    candles = spot.klines("MXUSDT", "1m", start_time=t0 - 10 * 60_000)
    assert [c[0] for c in candles[:6]] == [t0 + i * 60_000 for i in range(6)]
    assert [c[1:6] for c in candles[:6]] == [
        ["2", "2", "2", "2", "1"],
        ["2", "2", "2", "2", "0"],
        ["2", "2", "2", "2", "0"],
        ["2.1", "2.1", "2.1", "2.1", "1"],
        ["2.1", "2.1", "2.1", "2.1", "0"],
        ["2.1", "2.1", "2.1", "2.1", "0"],
    ]
    # the current minute is the last one (a 7th only if the minute turned meanwhile)
    assert len(candles) in (6, 7) and all(c[1:6] == ["2.1"] * 4 + ["0"] for c in candles[4:])
    assert all(c[6] == c[0] + 59_999 and c[7] == "0" for c in candles)
    newest = spot.klines("MXUSDT", "1m", limit=3)
    assert newest[0][0] >= t0 + 3 * 60_000 and all(c[4] == "2.1" for c in newest)
    five = spot.klines("MXUSDT", "5m", start_time=t0)
    assert sum(D(c[5]) for c in five) == 2 and five[-1][4] == "2.1"
    assert spot.klines("MXUSDT", "1m", end_time=t0 - 1) == []  # before the first trade


def test_percent_price_by_side_is_enforced(live_server) -> None:  # type: ignore[no-untyped-def]
    seed_market(live_server)
    spot = client(live_server)
    # the band follows the last trade (other tests on this server may have moved it)
    last = Decimal(spot.ticker_price("BTCUSDT")["price"])
    top, bottom = last * 5, last / 5
    with pytest.raises(MexcAPIError, match="-1013"):
        spot.order("BTCUSDT", "BUY", "LIMIT", quantity="0.0001", price=str(top + 1))
    with pytest.raises(MexcAPIError, match="-1013"):
        spot.order(
            "BTCUSDT", "SELL", "IMMEDIATE_OR_CANCEL", quantity="0.001", price=str(bottom - 1)
        )
    # at the bounds, accepted (checked with order/test: a real order there would trade and move
    # the last price, and with it the band)
    assert spot.test_order("BTCUSDT", "BUY", "LIMIT", quantity="0.0001", price=str(top)) == {}
    assert spot.test_order("BTCUSDT", "SELL", "LIMIT", quantity="0.001", price=str(bottom)) == {}


def test_withdraw_with_a_contract_address(live_server) -> None:  # type: ignore[no-untyped-def]
    """pymexc's ``withdraw(contract_address=...)``: the coin's contract on the network is
    taken, another is refused (33333), and a retried ``withdraw_order_id`` must repeat it."""
    spot = client(live_server)
    trc20 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    usdt = next(c for c in spot.get_currency_info() if c["coin"] == "USDT")
    assert {n["netWork"]: n["contract"] for n in usdt["networkList"]}["TRX"] == trc20
    free = balances(spot)["USDT"][0]
    dest = "T" + "C" * 33
    kw: dict[str, Any] = dict(coin="USDT", address=dest, amount="20", network="TRX")
    first = spot.withdraw(contract_address=trc20, withdraw_order_id="pm-c-1", **kw)["id"]
    assert spot.withdraw(contract_address=trc20, withdraw_order_id="pm-c-1", **kw)["id"] == first
    with pytest.raises(MexcAPIError, match="33333"):
        spot.withdraw(withdraw_order_id="pm-c-1", **kw)  # no contract now: another request
    with pytest.raises(MexcAPIError, match="33333"):
        spot.withdraw(contract_address="0x" + "12" * 20, **kw)
    assert spot.withdraw(**kw)["id"] != first  # stock call without one: as before
    assert balances(spot)["USDT"][0] == free - 40
