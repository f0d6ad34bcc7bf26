"""Public market data: ping, time, exchangeInfo, depth, trades, klines, tickers (section 2.5).

Books come from the engine's committed in-memory state; trades, klines and 24h statistics from
``bourse.services.marketdata`` (fed by the engine after every commit); trades by time range from the
database. Values that do not exist yet (no trade, empty book side) are ``null``.
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import depth_snapshots, wire
from bourse.api.mexc import schemas as s
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.errors import ApiError, invalid
from bourse.api.mexc.params import MAX_TIME_MS, P
from bourse.domain.money import format_units
from bourse.domain.symbols import Symbol
from bourse.services.marketdata import INTERVALS, bucket

SYMBOL = P("symbol", "symbol", required=True, description="e.g. BTCUSDT")
OPT_SYMBOL = P("symbol", "symbol", description="e.g. BTCUSDT; all symbols when left out")


async def ping(ctx: Ctx) -> Any:
    return {}


async def server_time(ctx: Ctx) -> Any:
    return {"serverTime": ctx.now}


def _symbols(ctx: Ctx) -> list[Symbol]:
    syms = ctx.services.engine.exchange.symbols
    return [syms[k] for k in sorted(syms)]


async def default_symbols(ctx: Ctx) -> Any:
    return {"code": 200, "data": [x.name for x in _symbols(ctx) if x.trading], "msg": None}


async def exchange_info(ctx: Ctx) -> Any:
    p = ctx.params
    if "symbol" in p and "symbols" in p:
        raise ApiError(-1128, "Combination of optional parameters invalid.")
    if "symbol" in p:
        selected = [ctx.symbol(p["symbol"])]
    elif "symbols" in p:
        selected = [ctx.symbol(n) for n in p["symbols"]]
    else:
        selected = _symbols(ctx)
    fees = ctx.services.engine.exchange.fees
    return {
        "timezone": "UTC",
        "serverTime": ctx.now,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": [wire.symbol_info(x, fees.maker, fees.taker) for x in selected],
    }


async def depth(ctx: Ctx) -> Any:
    sym = ctx.symbol(ctx.params["symbol"])
    limit = ctx.params.get("limit", 100)
    update_id, bids, asks = await depth_snapshots.snapshot(
        ctx.services.engine, sym, limit, ctx.read
    )
    return {"lastUpdateId": update_id, "bids": bids, "asks": asks, "timestamp": ctx.now}


async def trades(ctx: Ctx) -> Any:
    sym = ctx.symbol(ctx.params["symbol"])
    rows = ctx.services.marketdata.recent_trades(sym.name, ctx.params.get("limit", 500))
    rows.reverse()  # newest first, as MEXC
    return [wire.public_trade(*r, sym) for r in rows]


async def historical_trades(ctx: Ctx) -> Any:
    """Older trades from the database: the newest ``limit`` (newest first, like ``trades``), or
    with ``fromId`` the ``limit`` trades from that id on, oldest first."""
    p = ctx.params
    sym = ctx.symbol(p["symbol"])
    from_id = p.get("fromId")
    rows = await ctx.db(
        ctx.services.queries.trades, sym.name, None, None, p.get("limit", 500), from_id
    )
    if from_id is None:
        rows.reverse()
    return [
        wire.public_trade(
            r["id"], r["price"], r["qty"], r["quote_qty"], r["taker_side"], r["time"], sym
        )
        for r in rows
    ]


async def agg_trades(ctx: Ctx) -> Any:
    p = ctx.params
    sym = ctx.symbol(p["symbol"])
    limit = p.get("limit", 500)
    start, end = p.get("startTime"), p.get("endTime")
    if (start is None) != (end is None):
        raise ApiError(-1128, "Combination of optional parameters invalid.")
    if start is not None:
        if end < start:
            raise invalid("endTime", "must not be before startTime")
        rows = await ctx.db(ctx.services.queries.trades, sym.name, start, end, limit)
        return [
            wire.agg_trade(r["id"], r["price"], r["qty"], r["taker_side"], r["time"], sym)
            for r in rows
        ]
    recent = ctx.services.marketdata.recent_trades(sym.name, limit)
    return [wire.agg_trade(t[0], t[1], t[2], t[4], t[5], sym) for t in recent]


def _periods(interval: str, first: int, last: int, limit: int, forward: bool) -> list[int]:
    """Open times of up to ``limit`` periods in ``[first, last]``, from ``first`` when
    ``forward``, else ending at ``last`` (both bounds are period open times)."""
    out: list[int] = []
    t = first if forward else last
    while first <= t <= last and len(out) < limit:
        out.append(t)
        t = bucket(interval, t)[1] + 1 if forward else bucket(interval, t - 1)[0]
    return out if forward else out[::-1]


def filled_klines(
    md: Any, name: str, interval: str, start: int | None, end: int | None, limit: int, now: int
) -> list[list[int]]:
    """Candles of every period from the symbol's first trade on, as MEXC sends them: a period
    without trades is a flat candle at the previous close with zero volumes and count.

    Selection as ``MarketData.klines``: periods opened in ``[start, end]`` (``end`` defaults to
    now), the first ``limit`` from ``start`` when it is given, else the newest ``limit``.
    """
    newest = md.klines(name, interval, None, None, 1)
    if not newest:
        return []
    last = bucket(interval, end if end is not None else max(now, newest[0][0]))[0]
    if start is not None:
        opens = _periods(interval, bucket(interval, start)[0], last, limit, True)
    else:
        opens = _periods(interval, 0, last, limit, False)
    if not opens:
        return []
    before = md.klines(name, interval, None, opens[0] - 1, 1)
    if not before:  # nothing traded before: start at the first traded period
        real_first = md.klines(name, interval, opens[0], last, 1)
        if not real_first:
            return []
        first_trade = real_first[0][0]
        if start is not None:
            opens = _periods(interval, first_trade, last, limit, True)
        else:
            opens = [t for t in opens if t >= first_trade]
    real = {c[0]: c for c in md.klines(name, interval, opens[0], opens[-1], len(opens))}
    prev = before[0][4] if before else None
    out = []
    for t in opens:
        c = real.get(t)
        if c is not None:
            out.append(c)
            prev = c[4]
        elif prev is not None:
            out.append([t, prev, prev, prev, prev, 0, 0, 0])
    return out


async def klines(ctx: Ctx) -> Any:
    p = ctx.params
    sym = ctx.symbol(p["symbol"])
    interval = p["interval"]
    start, end = p.get("startTime"), p.get("endTime")
    if start is not None and end is not None and end < start:
        raise invalid("endTime", "must not be before startTime")
    md = ctx.services.marketdata
    rows = filled_klines(md, sym.name, interval, start, end, p.get("limit", 500), ctx.now)
    ps, qs, qsc = sym.price_scale, sym.qty_scale, sym.quote.scale
    return [
        [
            c[0],
            format_units(c[1], ps),
            format_units(c[2], ps),
            format_units(c[3], ps),
            format_units(c[4], ps),
            format_units(c[5], qs),
            bucket(interval, c[0])[1],
            format_units(c[6], qsc),
        ]
        for c in rows
    ]


async def avg_price(ctx: Ctx) -> Any:
    sym = ctx.symbol(ctx.params["symbol"])
    md = ctx.services.marketdata
    avg = md.average_price(sym.name, ctx.now)
    if avg is None:
        price = md.last_price(sym.name)
    else:
        quote, qty = avg
        # quote ledger units / (qty units * notional_mult) = price units, rounded down
        price = quote // (qty * sym.notional_mult)
    return {"mins": 5, "price": wire.price_or_none(price, sym)}


def _best(engine: Any, names: list[str]) -> dict[str, tuple[Any, Any]]:
    out = {}
    for n in names:
        book = engine.exchange.books[n]
        b = book.bids.depth(1)
        a = book.asks.depth(1)
        out[n] = (b[0] if b else (None, None), a[0] if a else (None, None))
    return out


def _selected(ctx: Ctx) -> tuple[list[Symbol], bool]:
    if "symbol" in ctx.params:
        return [ctx.symbol(ctx.params["symbol"])], True
    return _symbols(ctx), False


def _pct(change: int, base: int) -> str:
    """change / base as a decimal fraction with 4 decimals, truncated toward zero."""
    neg = (change < 0) != (base < 0)
    q = abs(change) * 10_000 // abs(base)
    return format_units(-q if neg and q else q, 4)


def _ticker24(sym: Symbol, st: dict[str, Any], best: tuple[Any, Any]) -> dict[str, Any]:
    (bp, bq), (ap, aq) = best
    last, open_ = st["last"], st["open"]
    if open_ is None:  # no trade in the window
        open_ = last
    change = None if last is None or open_ is None else last - open_
    # MEXC fills prevClosePrice: the last price before the window, else the window's open
    prev_close = st["prev_close"] if st["prev_close"] is not None else open_
    ps = sym.price_scale
    return {
        "symbol": sym.name,
        "priceChange": None if change is None else format_units(change, ps),
        "priceChangePercent": None
        if change is None
        else ("0" if not open_ else _pct(change, open_)),
        "prevClosePrice": wire.price_or_none(prev_close, sym),
        "lastPrice": wire.price_or_none(last, sym),
        "lastQty": wire.qty_or_none(st["last_qty"], sym),
        "bidPrice": wire.price_or_none(bp, sym),
        "bidQty": wire.qty_or_none(bq, sym),
        "askPrice": wire.price_or_none(ap, sym),
        "askQty": wire.qty_or_none(aq, sym),
        "openPrice": wire.price_or_none(open_, sym),
        "highPrice": wire.price_or_none(st["high"] if st["high"] is not None else last, sym),
        "lowPrice": wire.price_or_none(st["low"] if st["low"] is not None else last, sym),
        "volume": format_units(st["volume"], sym.qty_scale),
        "quoteVolume": format_units(st["quote_volume"], sym.quote.scale),
        "openTime": st["open_time"],
        "closeTime": st["close_time"],
        "count": st["count"],
    }


async def ticker_24hr(ctx: Ctx) -> Any:
    syms, single = _selected(ctx)
    best = await ctx.read(lambda e: _best(e, [x.name for x in syms]))
    md = ctx.services.marketdata
    out = [_ticker24(x, md.rolling(x.name, ctx.now), best[x.name]) for x in syms]
    return out[0] if single else out


async def ticker_price(ctx: Ctx) -> Any:
    syms, single = _selected(ctx)
    md = ctx.services.marketdata
    out = [{"symbol": x.name, "price": wire.price_or_none(md.last_price(x.name), x)} for x in syms]
    return out[0] if single else out


async def book_ticker(ctx: Ctx) -> Any:
    syms, single = _selected(ctx)
    best = await ctx.read(lambda e: _best(e, [x.name for x in syms]))
    out = []
    for x in syms:
        (bp, bq), (ap, aq) = best[x.name]
        out.append(
            {
                "symbol": x.name,
                "bidPrice": wire.price_or_none(bp, x),
                "bidQty": wire.qty_or_none(bq, x),
                "askPrice": wire.price_or_none(ap, x),
                "askQty": wire.qty_or_none(aq, x),
            }
        )
    return out[0] if single else out


async def contract_detail(ctx: Ctx) -> Any:
    """Futures contracts: none. ccxt's load_markets asks for them; it reads ``data``."""
    return {"success": True, "code": 0, "data": []}


def _limit(default: int, maximum: int) -> P:
    return P(
        "limit", "int", minimum=1, maximum=maximum, description=f"default {default}, max {maximum}"
    )


_TIME = (
    P("startTime", "int", minimum=0, maximum=MAX_TIME_MS),
    P("endTime", "int", minimum=0, maximum=MAX_TIME_MS),
)
#: ccxt passes its ``until`` option through on klines/aggTrades; MEXC ignores it, so do we
_UNTIL = P("until", "int", minimum=0, description="ignored (sent by ccxt)")

ENDPOINTS = [
    Endpoint("GET", "/api/v3/ping", ping, summary="Test connectivity", response=s.EMPTY),
    Endpoint(
        "GET",
        "/api/v3/time",
        server_time,
        summary="Server time",
        response=s.obj({"serverTime": s.INT}),
    ),
    Endpoint(
        "GET",
        "/api/v3/defaultSymbols",
        default_symbols,
        summary="Symbols open to API trading",
        response=s.CODE200_LIST,
    ),
    Endpoint(
        "GET",
        "/api/v3/exchangeInfo",
        exchange_info,
        (OPT_SYMBOL, P("symbols", "symbols", description="comma-separated symbols")),
        summary="Exchange information",
        response=s.EXCHANGE_INFO,
        weight=10,
    ),
    Endpoint(
        "GET",
        "/api/v3/depth",
        depth,
        (SYMBOL, _limit(100, 5000)),
        summary="Order book",
        response=s.DEPTH,
    ),
    Endpoint(
        "GET",
        "/api/v3/trades",
        trades,
        (SYMBOL, _limit(500, 1000)),
        summary="Recent trades (newest first)",
        response=s.arr(s.TRADE),
        weight=5,
    ),
    Endpoint(
        "GET",
        "/api/v3/historicalTrades",
        historical_trades,
        (
            SYMBOL,
            _limit(500, 1000),
            P("fromId", "int", minimum=0, description="trade id to start from"),
        ),
        summary="Older trades: the newest, or from fromId on (oldest first)",
        response=s.arr(s.TRADE),
        weight=5,
    ),
    Endpoint(
        "GET",
        "/api/v3/aggTrades",
        agg_trades,
        (SYMBOL, *_TIME, _limit(500, 1000), _UNTIL),
        summary="Aggregate trades (startTime and endTime: both or neither)",
        response=s.arr(s.AGG_TRADE),
    ),
    Endpoint(
        "GET",
        "/api/v3/klines",
        klines,
        (
            SYMBOL,
            P("interval", "enum", required=True, enum=INTERVALS),
            *_TIME,
            _limit(500, 1000),
            _UNTIL,
        ),
        summary="Klines: [openTime, open, high, low, close, volume, closeTime, quoteVolume]",
        response=s.arr(s.KLINE),
    ),
    Endpoint(
        "GET",
        "/api/v3/avgPrice",
        avg_price,
        (SYMBOL,),
        summary="Average price over 5 minutes",
        response=s.AVG_PRICE,
    ),
    Endpoint(
        "GET",
        "/api/v3/ticker/24hr",
        ticker_24hr,
        (OPT_SYMBOL,),
        summary="24h rolling statistics (object with symbol, array without)",
        response=s.one_or_many(s.TICKER_24H),
    ),
    Endpoint(
        "GET",
        "/api/v3/ticker/price",
        ticker_price,
        (OPT_SYMBOL,),
        summary="Last price",
        response=s.one_or_many(s.TICKER_PRICE),
    ),
    Endpoint(
        "GET",
        "/api/v3/ticker/bookTicker",
        book_ticker,
        (OPT_SYMBOL,),
        summary="Best bid and ask",
        response=s.one_or_many(s.BOOK_TICKER),
    ),
    Endpoint(
        "GET",
        "/api/v1/contract/detail",
        contract_detail,
        (P("symbol", "str"),),
        summary="Futures contracts (none are listed)",
        response=s.CONTRACT_DETAIL,
    ),
]
