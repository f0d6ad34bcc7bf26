"""ccxt's ``mexc`` (pinned 4.5.90, unmodified; only its API URLs point at us) against a live server.

Every test gets a fresh server (SQLite and PostgreSQL) with the demo ``user`` key and a
``counterparty`` key; the market maker is off unless a test starts it, so every book, balance and
trade here is made by the test itself. Balances are checked exactly with ``Decimal`` from the
wire strings (``info``), never with ccxt's floats.
"""

from __future__ import annotations

import time
from decimal import ROUND_CEILING, Decimal

import ccxt
import pytest

BTC = "BTC/USDT"
TAKER = Decimal("0.0005")  # platform default taker rate; makers pay 0
D = Decimal


def test_ccxt_is_pinned() -> None:
    assert ccxt.__version__ == "4.5.90"


# --- helpers ------------------------------------------------------------------------------------
def raw_balances(ex) -> dict[str, tuple[Decimal, Decimal]]:  # type: ignore[no-untyped-def]
    """{asset: (free, locked)} from the wire strings of GET /api/v3/account."""
    info = ex.fetch_balance()["info"]
    return {b["asset"]: (D(b["free"]), D(b["locked"])) for b in info["balances"]}


def total(balances: dict[str, tuple[Decimal, Decimal]], asset: str) -> Decimal:
    free, locked = balances.get(asset, (D(0), D(0)))
    return free + locked


def fee_up(amount: Decimal, rate: Decimal, places: int = 8) -> Decimal:
    return (amount * rate).quantize(D(1).scaleb(-places), rounding=ROUND_CEILING)


def deltas(trades: list[dict]) -> tuple[Decimal, Decimal]:
    """(base, quote) balance change implied by ``trades`` (wire strings, fees included)."""
    base = quote = D(0)
    for t in trades:
        info = t["info"]
        qty, cost, fee = D(info["qty"]), D(info["quoteQty"]), D(info["commission"])
        if info["isBuyer"]:
            base += qty
            quote -= cost
        else:
            base -= qty
            quote += cost
        if info["commissionAsset"] == "BTC":
            base -= fee
        else:
            quote -= fee
    return base, quote


def wait_until(predicate, timeout: float = 20.0, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@pytest.fixture
def user(live_server):  # type: ignore[no-untyped-def]
    ex = live_server.mexc("user")
    ex.load_markets()
    return ex


@pytest.fixture
def cp(live_server):  # type: ignore[no-untyped-def]
    """The counterparty's client: places the resting orders the user trades against."""
    ex = live_server.mexc("counterparty")
    ex.load_markets()
    return ex


# --- public ------------------------------------------------------------------------------------
def test_load_markets_and_time(live_server) -> None:  # type: ignore[no-untyped-def]
    public = live_server.mexc(None)
    markets = public.load_markets()
    assert {BTC, "ETH/USDT", "MX/USDT"} <= set(markets)
    btc = markets[BTC]
    assert btc["spot"] and btc["active"] and btc["id"] == "BTCUSDT"
    assert (btc["base"], btc["quote"]) == ("BTC", "USDT")
    assert btc["precision"]["amount"] == 1e-6 and btc["precision"]["price"] == 0.01
    assert btc["limits"]["cost"]["min"] == 1
    assert not any(m["swap"] for m in markets.values())
    server = public.fetch_time()
    assert abs(server - int(time.time() * 1000)) < 5_000
    # with a key, ccxt also loads currencies from the private capital/config/getall
    keyed = live_server.mexc("user")
    assert BTC in keyed.load_markets()


def test_market_data_after_trades(live_server, user, cp) -> None:  # type: ignore[no-untyped-def]
    cp.create_order(BTC, "limit", "buy", 0.1, 59000)
    cp.create_order(BTC, "limit", "buy", 0.2, 58900.5)
    cp.create_order(BTC, "limit", "sell", 0.3, 61000)
    book = user.fetch_order_book(BTC, limit=5)
    assert book["bids"][:2] == [[59000.0, 0.1], [58900.5, 0.2]]
    assert book["asks"][:1] == [[61000.0, 0.3]]

    user.create_order(BTC, "market", "sell", 0.05)  # hits the 59000 bid
    user.create_order(BTC, "limit", "buy", 0.01, 61000)  # lifts the 61000 ask
    trades = wait_until(lambda: len(user.fetch_trades(BTC)) >= 2 and user.fetch_trades(BTC))
    assert sorted((t["price"], t["amount"]) for t in trades[-2:]) == [(59000, 0.05), (61000, 0.01)]
    assert {t["side"] for t in trades[-2:]} == {"buy", "sell"}

    ticker = user.fetch_ticker(BTC)
    assert ticker["symbol"] == BTC
    assert ticker["last"] == 61000
    assert ticker["bid"] == 59000 and ticker["ask"] == 61000
    assert ticker["high"] == 61000 and ticker["low"] == 59000
    assert D(ticker["info"]["volume"]) == D("0.06")
    tickers = user.fetch_tickers()
    assert {BTC, "ETH/USDT", "MX/USDT"} <= set(tickers)
    assert tickers[BTC]["last"] == 61000

    candles = user.fetch_ohlcv(BTC, "1m", limit=10)
    assert candles, "a traded minute must have a candle"
    assert all(ts % 60_000 == 0 for ts, *_ in candles)
    # both trades are in the last candle, or (across a minute boundary) in the last two
    o, c = candles[0][1], candles[-1][4]
    h, low = max(k[2] for k in candles), min(k[3] for k in candles)
    assert (o, h, low, c) == (59000, 61000, 59000, 61000)
    assert sum(D(str(k[5])) for k in candles) == D("0.06")


# --- trading -----------------------------------------------------------------------------------
def test_limit_order_lifecycle(live_server, user) -> None:  # type: ignore[no-untyped-def]
    before = raw_balances(user)
    assert before["USDT"] == (D("100000"), D(0)) and before["BTC"] == (D("2"), D(0))

    order = user.create_order(BTC, "limit", "buy", 0.01, 50000, {"clientOrderId": "cid-1"})
    assert order["id"]
    fetched = user.fetch_order(order["id"], BTC)
    assert fetched["status"] == "open"
    assert fetched["amount"] == 0.01 and fetched["price"] == 50000 and fetched["filled"] == 0
    assert fetched["clientOrderId"] == "cid-1"
    assert fetched["side"] == "buy" and fetched["type"] == "limit"
    assert [o["id"] for o in user.fetch_open_orders(BTC)] == [order["id"]]
    by_client = user.fetch_order(None, BTC, {"clientOrderId": "cid-1"})
    assert by_client["id"] == order["id"]

    locked = raw_balances(user)
    assert locked["USDT"] == (D("99500"), D("500"))

    cancelled = user.cancel_order(order["id"], BTC)
    assert cancelled["id"] == order["id"]
    assert user.fetch_order(order["id"], BTC)["status"] == "canceled"
    assert user.fetch_open_orders(BTC) == []
    assert raw_balances(user)["USDT"] == (D("100000"), D(0))
    assert order["id"] in [o["id"] for o in user.fetch_orders(BTC)]


def test_fills_and_fees_move_balances_exactly(live_server, user, cp) -> None:  # type: ignore[no-untyped-def]
    u0, c0 = raw_balances(user), raw_balances(cp)
    cp.create_order(BTC, "limit", "sell", 0.1, 60000)
    cp.create_order(BTC, "limit", "sell", 0.2, 60100)
    cp.create_order(BTC, "limit", "buy", 0.3, 59000)

    # limit buy that crosses two levels (taker), then rests nothing
    taker = user.create_order(BTC, "limit", "buy", 0.15, 60100)
    # market buy by cost: both ways ccxt sends quoteOrderQty
    by_cost = user.create_market_buy_order_with_cost(BTC, 1000)
    by_price = user.create_order(BTC, "market", "buy", 0.001, 60100)  # cost = 0.001 x 60100
    # market sell by quantity
    sold = user.create_order(BTC, "market", "sell", 0.02)

    done = {o: user.fetch_order(o, BTC) for o in (taker["id"], by_cost["id"], by_price["id"])}
    assert done[taker["id"]]["status"] == "closed"
    assert done[taker["id"]]["filled"] == 0.15
    assert (
        D(done[taker["id"]]["info"]["cummulativeQuoteQty"]) == D("0.1") * 60000 + D("0.05") * 60100
    )
    for oid in (by_cost["id"], by_price["id"]):
        assert done[oid]["type"] == "market" and done[oid]["status"] == "closed"
    assert D(done[by_cost["id"]]["info"]["cummulativeQuoteQty"]) <= D(1000)
    assert D(done[by_price["id"]]["info"]["cummulativeQuoteQty"]) <= D("60.1")
    assert user.fetch_order(sold["id"], BTC)["status"] == "closed"

    trades = user.fetch_my_trades(BTC)
    assert len(trades) >= 4
    for t in trades:
        info = t["info"]
        assert t["takerOrMaker"] == "taker" and not info["isMaker"]
        assert D(str(t["amount"])) == D(info["qty"])
        assert t["fee"]["currency"] == info["commissionAsset"]
        received = D(info["qty"]) if info["isBuyer"] else D(info["quoteQty"])
        assert D(info["commission"]) == fee_up(received, TAKER)
    d_btc, d_usdt = deltas(trades)
    u1 = raw_balances(user)
    assert total(u1, "BTC") == total(u0, "BTC") + d_btc
    assert total(u1, "USDT") == total(u0, "USDT") + d_usdt
    assert u1["BTC"][1] == 0 and u1["USDT"][1] == 0  # nothing of the user's rests

    # the counterparty was maker on every fill: no fee, and the opposite side of each trade
    c_trades = cp.fetch_my_trades(BTC)
    assert len(c_trades) == len(trades)
    assert all(t["info"]["isMaker"] and D(t["info"]["commission"]) == 0 for t in c_trades)
    c_btc, c_usdt = deltas(c_trades)
    c1 = raw_balances(cp)
    assert total(c1, "BTC") == total(c0, "BTC") + c_btc
    assert total(c1, "USDT") == total(c0, "USDT") + c_usdt
    fees_btc = sum((D(t["info"]["commission"]) for t in trades if t["info"]["isBuyer"]), D(0))
    fees_usdt = sum((D(t["info"]["commission"]) for t in trades if not t["info"]["isBuyer"]), D(0))
    assert d_btc + c_btc == -fees_btc and d_usdt + c_usdt == -fees_usdt


def test_fetch_closed_orders(live_server, user, cp) -> None:  # type: ignore[no-untyped-def]
    # ccxt 4.5.90 sends fetch_closed_orders as GET /api/v3/allOrders with an extra `states=3`
    # (a contract-API parameter) and does not filter the result by state itself
    cp.create_order(BTC, "limit", "sell", 0.1, 60000)
    filled = user.create_order(BTC, "limit", "buy", 0.05, 60000)
    resting = user.create_order(BTC, "limit", "buy", 0.05, 50000)
    closed = user.fetch_closed_orders(BTC)
    by_id = {o["id"]: o["status"] for o in closed}
    assert by_id[filled["id"]] == "closed"
    assert by_id.get(resting["id"], "open") == "open"


def test_post_only(live_server, user, cp) -> None:  # type: ignore[no-untyped-def]
    cp.create_order(BTC, "limit", "sell", 0.1, 60000)
    maker = user.create_order(BTC, "limit", "buy", 0.01, 59990, {"postOnly": True})
    fetched = user.fetch_order(maker["id"], BTC)
    # ccxt only reports postOnly for timeInForce "PO", which MEXC never sends
    assert fetched["status"] == "open"
    assert fetched["info"]["type"] == "LIMIT_MAKER"
    with pytest.raises(ccxt.InvalidOrder):
        user.create_order(BTC, "limit", "buy", 0.01, 60000, {"postOnly": True})
    assert [o["id"] for o in user.fetch_open_orders(BTC)] == [maker["id"]]


def test_cancel_all_orders(live_server, user) -> None:  # type: ignore[no-untyped-def]
    ids = {user.create_order(BTC, "limit", "buy", 0.01, p)["id"] for p in (50000, 50100, 50200)}
    assert {o["id"] for o in user.fetch_open_orders(BTC)} == ids
    cancelled = user.cancel_all_orders(BTC)
    assert {o["id"] for o in cancelled} == ids
    assert user.fetch_open_orders(BTC) == []
    assert raw_balances(user)["USDT"] == (D("100000"), D(0))


def test_trading_fee(live_server, user) -> None:  # type: ignore[no-untyped-def]
    fee = user.fetch_trading_fee(BTC)
    assert fee["symbol"] == BTC
    assert fee["maker"] == 0 and fee["taker"] == 0.0005


# --- errors ------------------------------------------------------------------------------------
def test_errors_map_to_ccxt_exceptions(live_server, user) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ccxt.InsufficientFunds):
        user.create_order(BTC, "limit", "buy", 10, 60000)  # 600k USDT > 100k
    with pytest.raises(ccxt.InvalidOrder):
        user.create_order(BTC, "limit", "buy", 0.000001, 50000)  # 0.05 USDT < 1 USDT minimum
    # MEXC answers an unknown order with -2013 "Order does not exist."; ccxt 4.5.90's mexc has
    # no entry for -2013, so it raises its generic ExchangeError carrying MEXC's body
    with pytest.raises(ccxt.ExchangeError) as info:
        user.cancel_order("987654321", BTC)
    assert '"code":-2013' in str(info.value)
    with pytest.raises(ccxt.ExchangeError) as info:
        user.fetch_order("987654321", BTC)
    assert "Order does not exist." in str(info.value)
    bad = live_server.mexc("user", secret="0" * 32)
    bad.markets = user.markets
    bad.markets_by_id = user.markets_by_id
    bad.symbols = user.symbols
    with pytest.raises(ccxt.AuthenticationError):
        bad.fetch_balance()
    # no trade happened and nothing is locked
    assert raw_balances(user)["USDT"] == (D("100000"), D(0))


# --- with the demo market maker ----------------------------------------------------------------
def test_live_demo_market(live_server, user) -> None:  # type: ignore[no-untyped-def]
    live_server.start_market_maker()
    book = wait_until(
        lambda: (b := user.fetch_order_book(BTC)) and len(b["bids"]) >= 10 and len(b["asks"]) >= 10
    )
    assert book, "the market maker must populate both sides"
    assert wait_until(lambda: user.fetch_trades(BTC)), "the market maker must make trades"
    assert user.fetch_ohlcv(BTC, "1m")
    ticker = user.fetch_ticker(BTC)
    assert ticker["bid"] < ticker["ask"]
    spent = user.create_market_buy_order_with_cost(BTC, 100)
    assert user.fetch_order(spent["id"], BTC)["status"] == "closed"


def test_ioc_and_fok(live_server, user, cp) -> None:  # type: ignore[no-untyped-def]
    cp.create_order(BTC, "limit", "sell", 0.1, 60000)
    ioc = user.create_order(BTC, "limit", "buy", 0.3, 60000, {"timeInForce": "IOC"})
    got = user.fetch_order(ioc["id"], BTC)
    assert got["info"]["type"] == "IMMEDIATE_OR_CANCEL" and got["timeInForce"] == "IOC"
    assert got["filled"] == 0.1 and got["status"] == "canceled"  # PARTIALLY_CANCELED
    cp.create_order(BTC, "limit", "sell", 0.1, 60000)
    fok = user.create_order(BTC, "limit", "buy", 0.3, 60000, {"timeInForce": "FOK"})
    got = user.fetch_order(fok["id"], BTC)
    assert got["info"]["type"] == "FILL_OR_KILL"
    assert got["filled"] == 0 and got["status"] == "canceled"
    assert user.fetch_open_orders(BTC) == []
    assert raw_balances(user)["USDT"][1] == 0


def test_trades_window_and_limits(live_server, user, cp) -> None:  # type: ignore[no-untyped-def]
    start = user.milliseconds()
    for price in (60000, 60010, 60020):
        cp.create_order(BTC, "limit", "sell", 0.01, price)
        user.create_order(BTC, "limit", "buy", 0.01, price)
    end = user.milliseconds() + 1
    trades = user.fetch_trades(BTC, since=start, params={"endTime": end})
    assert [t["price"] for t in trades] == [60000, 60010, 60020]
    assert [t["price"] for t in user.fetch_trades(BTC, limit=2)] == [60010, 60020]
    mine = user.fetch_my_trades(BTC, limit=10)
    assert [t["price"] for t in mine] == [60000, 60010, 60020]
    assert all(t["side"] == "buy" and t["order"] for t in mine)
    candles = user.fetch_ohlcv(BTC, "1m", since=start - 60_000)
    assert candles and candles[-1][4] == 60020


def test_until_params(live_server, user, cp) -> None:  # type: ignore[no-untyped-def]
    # ccxt documents params.until; for aggTrades (and klines when `since` is given too) it
    # sends endTime AND leaves `until` itself in the query string
    start = user.milliseconds()
    cp.create_order(BTC, "limit", "sell", 0.01, 60000)
    user.create_order(BTC, "limit", "buy", 0.01, 60000)
    until = user.milliseconds() + 1
    trades = user.fetch_trades(BTC, since=start, params={"until": until})
    assert [t["price"] for t in trades] == [60000]
    candles = user.fetch_ohlcv(BTC, "1m", since=start - 60_000, params={"until": until})
    assert candles and candles[-1][4] == 60000
    mine = user.fetch_my_trades(BTC, since=start, params={"until": until})
    assert [t["price"] for t in mine] == [60000]


def test_key_restrictions(live_server, user) -> None:  # type: ignore[no-untyped-def]
    keys = live_server.platform.apikeys
    account = live_server.accounts["user"]

    def client(api_key: str, secret: str):  # type: ignore[no-untyped-def]
        ex = live_server.mexc(None, apiKey=api_key, secret=secret)
        ex.markets, ex.markets_by_id, ex.symbols = user.markets, user.markets_by_id, user.symbols
        return ex

    read_only = client(*keys.create_key(account, ["SPOT_ACCOUNT_READ"], expires=None))
    assert D(read_only.fetch_balance()["info"]["balances"][0]["free"]) >= 0
    with pytest.raises(ccxt.AuthenticationError):  # 700007: no permission
        read_only.create_order(BTC, "limit", "buy", 0.01, 50000)

    btc_only = client(
        *keys.create_key(
            account, ["SPOT_DEAL_READ", "SPOT_DEAL_WRITE"], symbols=["BTCUSDT"], expires=None
        )
    )
    order = btc_only.create_order(BTC, "limit", "buy", 0.01, 50000)
    with pytest.raises(ccxt.PermissionDenied):  # 70011: pair not enabled for this key
        btc_only.create_order("ETH/USDT", "limit", "buy", 0.1, 2000)
    btc_only.cancel_order(order["id"], BTC)

    stale = live_server.mexc("user")
    stale.markets, stale.markets_by_id, stale.symbols = (
        user.markets,
        user.markets_by_id,
        user.symbols,
    )
    stale.options["timeDifference"] = 120_000  # our clock 2 minutes behind
    with pytest.raises(ccxt.InvalidNonce):  # 700003
        stale.fetch_balance()

    revoked = keys.create_key(account, ["SPOT_ACCOUNT_READ"], expires=None)
    keys.delete_key(revoked[0])
    # MEXC's 10072 "invalid access key" is BadRequest in ccxt's table
    with pytest.raises((ccxt.AuthenticationError, ccxt.BadRequest)) as info:
        client(*revoked).fetch_balance()
    assert "10072" in str(info.value)


def test_more_unified_methods(live_server, user, cp) -> None:  # type: ignore[no-untyped-def]
    assert user.fetch_status()["status"] == "ok"
    assert {"BTC", "ETH", "MX", "USDT"} <= set(user.fetch_currencies())
    cp.create_order(BTC, "limit", "sell", 0.1, 60000)
    cp.create_order(BTC, "limit", "buy", 0.1, 59000)
    quotes = user.fetch_bids_asks()  # (with exactly one symbol ccxt 4.5.90 mis-parses the list)
    assert (quotes[BTC]["bid"], quotes[BTC]["ask"]) == (59000, 60000)
    assert user.create_order(BTC, "limit", "buy", 0.01, 50000, {"test": True})["id"] is None
    assert user.fetch_open_orders(BTC) == []
    batch = user.create_orders(
        [
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 50000},
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 50001},
        ]
    )
    assert {o["id"] for o in batch} == {o["id"] for o in user.fetch_open_orders()}
    taken = user.create_order(BTC, "market", "buy", 0.01)
    fills = user.fetch_order_trades(taken["id"], BTC)
    assert [(t["price"], t["amount"]) for t in fills] == [(60000, 0.01)]
    public = user.fetch_trades(BTC, params={"method": "spotPublicGetTrades"})
    assert [(t["price"], t["amount"]) for t in public] == [(60000, 0.01)]


def test_async_client(live_server) -> None:  # type: ignore[no-untyped-def]
    """ccxt.async_support.mexc (aiohttp) works the same way."""
    import asyncio

    import ccxt.async_support as accxt

    creds = live_server.credentials["user"]

    async def scenario() -> None:
        ex = accxt.mexc(
            {
                "apiKey": creds["api_key"],
                "secret": creds["secret"],
                "timeout": 15_000,
                "enableRateLimit": False,
            }
        )
        api = ex.urls["api"]
        url = live_server.url
        api["spot"] = {"public": url, "private": url}
        api["contract"] = {"public": f"{url}/api/v1/contract", "private": f"{url}/api/v1/private"}
        try:
            await ex.load_markets()
            order = await ex.create_order(BTC, "limit", "buy", 0.01, 50000)
            assert (await ex.fetch_order(order["id"], BTC))["status"] == "open"
            balance = await ex.fetch_balance()
            assert balance["used"]["USDT"] == 500
            await ex.cancel_order(order["id"], BTC)
            assert await ex.fetch_open_orders(BTC) == []
        finally:
            await ex.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
