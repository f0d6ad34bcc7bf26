"""The channel names ``/ws`` understands, parsed into ``Channel`` values (mexc-api.md 4.3, 4.4).

Public: ``spot@public.aggre.deals.v3.api.pb@(100ms|10ms)@SYM``,
``spot@public.aggre.depth.v3.api.pb@(100ms|10ms)@SYM``, ``spot@public.limit.depth.v3.api.pb@SYM@
(5|10|20)``, ``spot@public.aggre.bookTicker.v3.api.pb@(100ms|10ms)@SYM``,
``spot@public.bookTicker.batch.v3.api.pb@SYM``, ``spot@public.kline.v3.api.pb@SYM@<Min1..Month1>``,
``spot@public.miniTicker.v3.api.pb@SYM@UTC+8``, ``spot@public.miniTickers.v3.api.pb@UTC+8``.
Private (with ``?listenKey=``): ``spot@private.(account|orders|deals).v3.api.pb``.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

DEALS = "public.aggre.deals.v3.api.pb"
DEPTH = "public.aggre.depth.v3.api.pb"
LIMIT_DEPTH = "public.limit.depth.v3.api.pb"
BOOK_TICKER = "public.aggre.bookTicker.v3.api.pb"
BOOK_TICKER_BATCH = "public.bookTicker.batch.v3.api.pb"
KLINE = "public.kline.v3.api.pb"
MINI_TICKER = "public.miniTicker.v3.api.pb"
MINI_TICKERS = "public.miniTickers.v3.api.pb"
ACCOUNT = "private.account.v3.api.pb"
ORDERS = "private.orders.v3.api.pb"
MY_DEALS = "private.deals.v3.api.pb"
PRIVATE = frozenset({ACCOUNT, ORDERS, MY_DEALS})

WINDOWS = {"10ms": 10, "100ms": 100}
LIMIT_LEVELS = (5, 10, 20)
#: MEXC's stream interval names -> our kline intervals ("8h" is folded from 60m candles)
KLINE_INTERVALS = {
    "Min1": "1m",
    "Min5": "5m",
    "Min15": "15m",
    "Min30": "30m",
    "Min60": "60m",
    "Hour4": "4h",
    "Hour8": "8h",
    "Day1": "1d",
    "Week1": "1W",
    "Month1": "1M",
}
_TZ = re.compile(r"^UTC([+-])(\d{1,2})(?::?(\d{2}))?$")


class ChannelError(ValueError):
    """Why a channel name was refused (the text goes into the refusal)."""


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    kind: str
    symbol: str | None = None
    #: aggregation window in ms (deals, depth, bookTicker)
    window: int = 0
    #: MEXC interval name (kline)
    interval: str = ""
    #: levels (limit.depth)
    levels: int = 0
    #: minutes east of UTC (mini tickers)
    tz_minutes: int = 0

    @property
    def private(self) -> bool:
        return self.kind in PRIVATE


def _timezone(text: str) -> int:
    m = _TZ.match(text)
    if m is None:
        raise ChannelError(f"unknown time zone {text!r} (e.g. UTC+8)")
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    if minutes > 14 * 60:
        raise ChannelError(f"unknown time zone {text!r}")
    return -minutes if m.group(1) == "-" else minutes


def _symbol(name: str, symbols: Container[str]) -> str:
    if name not in symbols:
        raise ChannelError(f"unknown symbol {name!r}")
    return name


def parse(name: str, symbols: Container[str]) -> Channel:
    """The ``Channel`` named ``name``; ``ChannelError`` says why not."""
    parts = name.split("@")
    if len(parts) < 2 or parts[0] != "spot":
        raise ChannelError("unknown channel")
    kind, args = parts[1], parts[2:]
    n = len(args)
    if kind in PRIVATE and n == 0:
        return Channel(name, kind)
    if kind in (DEALS, DEPTH, BOOK_TICKER) and n == 2 and args[0] in WINDOWS:
        return Channel(name, kind, _symbol(args[1], symbols), window=WINDOWS[args[0]])
    if kind == LIMIT_DEPTH and n == 2 and args[1] in {str(x) for x in LIMIT_LEVELS}:
        return Channel(name, kind, _symbol(args[0], symbols), levels=int(args[1]))
    if kind == BOOK_TICKER_BATCH and n == 1:
        return Channel(name, kind, _symbol(args[0], symbols))
    if kind == KLINE and n == 2 and args[1] in KLINE_INTERVALS:
        return Channel(name, kind, _symbol(args[0], symbols), interval=args[1])
    if kind == MINI_TICKER and n == 2:
        return Channel(name, kind, _symbol(args[0], symbols), tz_minutes=_timezone(args[1]))
    if kind == MINI_TICKERS and n == 1:
        return Channel(name, kind, tz_minutes=_timezone(args[0]))
    raise ChannelError("unknown channel")
