"""Public data frames: ``PushDataV3ApiWrapper`` messages built from bus events and the market
data projections, serialized once per channel and sent to every subscriber of it.

Prices and quantities are strings in the symbol's precision (as REST), times are ms except the
kline window bounds (seconds, as MEXC). ``symbolId`` is a stable hex id derived from the name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import lru_cache

from bourse.api.ws import channels as ch
from bourse.api.ws.proto.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper
from bourse.domain.money import format_units
from bourse.domain.orders import BUY, Trade
from bourse.domain.symbols import Symbol
from bourse.engine.clock import now_ms
from bourse.services.marketdata import OPEN, OPEN_T, QVOL, VOL, C, H, L, MarketData, bucket

HOUR = 3_600_000
DAY = 24 * HOUR
Levels = Sequence[tuple[int, int]]


@lru_cache(maxsize=4096)
def symbol_id(name: str) -> str:
    """A stable 32-hex-digit id for a symbol (MEXC sends an opaque id of this shape)."""
    return hashlib.md5(name.encode()).hexdigest()  # noqa: S324 - an id, not a secret


def serialize(msg: PushDataV3ApiWrapper) -> bytes:
    data: bytes = msg.SerializeToString()
    return data


def wrapper(channel: str, symbol: str | None, create_time: int) -> PushDataV3ApiWrapper:
    msg = PushDataV3ApiWrapper(channel=channel, createTime=create_time, sendTime=now_ms())
    if symbol is not None:
        msg.symbol = symbol
        msg.symbolId = symbol_id(symbol)
    return msg


def _event_type(c: ch.Channel) -> str:
    """The channel name without the symbol (MEXC's ``eventType``)."""
    return c.name.rsplit("@", 1)[0]


def deals(c: ch.Channel, sym: Symbol, trades: Iterable[Trade], create_time: int) -> bytes:
    msg = wrapper(c.name, sym.name, create_time)
    body = msg.publicAggreDeals
    body.eventType = _event_type(c)
    ps, qs = sym.price_scale, sym.qty_scale
    for t in trades:
        body.deals.add(
            price=format_units(t.price, ps),
            quantity=format_units(t.qty, qs),
            tradeType=1 if t.taker_side == BUY else 2,
            time=t.time,
            tradeId=str(t.id),
        )
    return serialize(msg)


def depth_diff(
    c: ch.Channel,
    sym: Symbol,
    bids: Levels,
    asks: Levels,
    from_version: int,
    to_version: int,
    last_order_time: int,
    create_time: int,
) -> bytes:
    msg = wrapper(c.name, sym.name, create_time)
    body = msg.publicAggreDepths
    _levels(body.bids, bids, sym)
    _levels(body.asks, asks, sym)
    body.eventType = _event_type(c)
    body.fromVersion = str(from_version)
    body.toVersion = str(to_version)
    body.lastOrderCreateTime = last_order_time
    return serialize(msg)


def limit_depth(
    c: ch.Channel, sym: Symbol, bids: Levels, asks: Levels, version: int, last: int, now: int
) -> bytes:
    msg = wrapper(c.name, sym.name, now)
    body = msg.publicLimitDepths
    _levels(body.bids, bids[: c.levels], sym)
    _levels(body.asks, asks[: c.levels], sym)
    body.eventType = c.name.rsplit("@", 2)[0]
    body.version = str(version)
    body.lastOrderCreateTime = last
    return serialize(msg)


def _levels(field: object, levels: Levels, sym: Symbol) -> None:
    ps, qs = sym.price_scale, sym.qty_scale
    add = field.add  # type: ignore[attr-defined]
    for price, qty in levels:
        add(price=format_units(price, ps), quantity=format_units(qty, qs))


def _top(levels: Levels, sym: Symbol) -> tuple[str, str]:
    if not levels:
        return "", ""
    return format_units(levels[0][0], sym.price_scale), format_units(levels[0][1], sym.qty_scale)


def book_ticker(
    c: ch.Channel, sym: Symbol, bids: Levels, asks: Levels, version: int, last: int, now: int
) -> bytes:
    msg = wrapper(c.name, sym.name, now)
    body = msg.publicAggreBookTicker
    body.bidPrice, body.bidQuantity = _top(bids, sym)
    body.askPrice, body.askQuantity = _top(asks, sym)
    body.version = str(version)
    body.lastOrderCreateTime = last
    return serialize(msg)


def book_ticker_batch(
    c: ch.Channel, sym: Symbol, bids: Levels, asks: Levels, version: int, last: int, now: int
) -> bytes:
    msg = wrapper(c.name, sym.name, now)
    body = msg.publicBookTickerBatch
    item = body.items.add()
    item.bidPrice, item.bidQuantity = _top(bids, sym)
    item.askPrice, item.askQuantity = _top(asks, sym)
    body.version = str(version)
    body.lastOrderCreateTime = last
    return serialize(msg)


def candle(md: MarketData, symbol: str, interval: str, now: int) -> list[int] | None:
    """The current candle of ``interval`` (MEXC name) as the projections keep it, or None."""
    iv = ch.KLINE_INTERVALS[interval]
    if iv != "8h":
        got = md.klines(symbol, iv, limit=1)
        return got[0] if got else None
    start = now - now % (8 * HOUR)
    hours = md.klines(symbol, "60m", start=start, end=start + 8 * HOUR - 1, limit=8)
    if not hours:
        return None
    out = list(hours[0])
    for h in hours[1:]:
        out[H], out[L], out[C] = max(out[H], h[H]), min(out[L], h[L]), h[C]
        out[VOL] += h[VOL]
        out[QVOL] += h[QVOL]
    out[OPEN_T] = start
    return out


def kline(c: ch.Channel, sym: Symbol, k: list[int], now: int) -> bytes:
    iv = ch.KLINE_INTERVALS[c.interval]
    end = k[OPEN_T] + 8 * HOUR if iv == "8h" else bucket(iv, k[OPEN_T])[1] + 1
    msg = wrapper(c.name, sym.name, now)
    body = msg.publicSpotKline
    ps = sym.price_scale
    body.interval = c.interval
    body.windowStart = k[OPEN_T] // 1000
    body.windowEnd = end // 1000
    body.openingPrice = format_units(k[OPEN], ps)
    body.closingPrice = format_units(k[C], ps)
    body.highestPrice = format_units(k[H], ps)
    body.lowestPrice = format_units(k[L], ps)
    body.volume = format_units(k[VOL], sym.qty_scale)
    body.amount = format_units(k[QVOL], sym.quote.scale)
    return serialize(msg)


def _rate(last: int | None, base: int | None) -> str:
    if not last or not base:
        return "0"
    return str((Decimal(last - base) / Decimal(base)).quantize(Decimal("0.0001")).normalize())


def mini_ticker_fields(md: MarketData, sym: Symbol, tz_minutes: int, now: int) -> dict[str, str]:
    """PublicMiniTickerV3Api's fields: rolling 24 h, and since midnight in the time zone."""
    day = md.rolling(sym.name, now)
    local = now + tz_minutes * 60_000
    zone = md.rolling(sym.name, now, window=max(1, local % DAY))
    last = day["last"]
    ps = sym.price_scale

    def price(units: int | None) -> str:
        return format_units(units, ps) if units is not None else "0"

    return {
        "symbol": sym.name,
        "price": price(last),
        "rate": _rate(last, day["open"]),
        "zonedRate": _rate(last, zone["open"]),
        "high": price(day["high"]),
        "low": price(day["low"]),
        "volume": format_units(day["quote_volume"], sym.quote.scale),
        "quantity": format_units(day["volume"], sym.qty_scale),
        "lastCloseRate": _rate(last, day["prev_close"] or day["open"]),
        "lastCloseZonedRate": _rate(last, zone["prev_close"] or zone["open"]),
        "lastCloseHigh": price(day["high"]),
        "lastCloseLow": price(day["low"]),
    }


def mini_ticker(c: ch.Channel, sym: Symbol, md: MarketData, now: int) -> bytes:
    msg = wrapper(c.name, sym.name, now)
    for k, v in mini_ticker_fields(md, sym, c.tz_minutes, now).items():
        setattr(msg.publicMiniTicker, k, v)
    return serialize(msg)


def mini_tickers(c: ch.Channel, syms: Iterable[Symbol], md: MarketData, now: int) -> bytes:
    msg = wrapper(c.name, None, now)
    for sym in syms:
        item = msg.publicMiniTickers.items.add()
        for k, v in mini_ticker_fields(md, sym, c.tz_minutes, now).items():
            setattr(item, k, v)
    return serialize(msg)
