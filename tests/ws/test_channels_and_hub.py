"""Channel names as MEXC writes them, and the hub's behaviour when it falls behind the engine."""

from __future__ import annotations

import asyncio

import pytest

from bourse.api.ws import channels as ch
from bourse.api.ws.hub import StreamHub
from bourse.bus import InProcessBus
from bourse.domain.accounts import AccountKind
from bourse.domain.orders import BUY, OrderRequest, OrderType
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.services.marketdata import MarketData
from bourse.store.memory import MemoryStore

LISTED = {"BTCUSDT", "ETHUSDT"}


@pytest.mark.parametrize(
    ("name", "kind", "field", "value"),
    [
        ("spot@public.aggre.deals.v3.api.pb@10ms@BTCUSDT", ch.DEALS, "window", 10),
        ("spot@public.aggre.depth.v3.api.pb@100ms@ETHUSDT", ch.DEPTH, "window", 100),
        ("spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT", ch.BOOK_TICKER, "window", 100),
        ("spot@public.limit.depth.v3.api.pb@BTCUSDT@20", ch.LIMIT_DEPTH, "levels", 20),
        (
            "spot@public.bookTicker.batch.v3.api.pb@BTCUSDT",
            ch.BOOK_TICKER_BATCH,
            "symbol",
            "BTCUSDT",
        ),
        ("spot@public.kline.v3.api.pb@BTCUSDT@Hour8", ch.KLINE, "interval", "Hour8"),
        ("spot@public.miniTicker.v3.api.pb@BTCUSDT@UTC+8", ch.MINI_TICKER, "tz_minutes", 480),
        ("spot@public.miniTickers.v3.api.pb@UTC-5:30", ch.MINI_TICKERS, "tz_minutes", -330),
        ("spot@private.orders.v3.api.pb", ch.ORDERS, "symbol", None),
    ],
)
def test_channel_names(name: str, kind: str, field: str, value: object) -> None:
    parsed = ch.parse(name, LISTED)
    assert parsed.kind == kind and getattr(parsed, field) == value
    assert parsed.private == (kind in ch.PRIVATE)


@pytest.mark.parametrize(
    "name",
    [
        "spot@public.aggre.deals.v3.api.pb@1s@BTCUSDT",
        "spot@public.aggre.deals.v3.api.pb@100ms@btcusdt",  # symbols are upper case
        "spot@public.limit.depth.v3.api.pb@BTCUSDT@50",
        "spot@public.kline.v3.api.pb@BTCUSDT@1m",
        "spot@public.miniTickers.v3.api.pb@UTC+15",
        "spot@public.deals.v3.api@BTCUSDT",  # the retired JSON channels
        "spot@private.orders.v3.api.pb@BTCUSDT",
        "futures@public.aggre.deals.v3.api.pb@100ms@BTCUSDT",
        "",
    ],
)
def test_refused_channel_names(name: str) -> None:
    with pytest.raises(ch.ChannelError):
        ch.parse(name, LISTED)


class _Sink:
    account = None

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.dropped: str | None = None

    def push(self, frame: bytes) -> None:
        self.frames.append(frame)

    def drop(self, reason: str, last_words: str | None = None) -> None:
        self.dropped = reason


def test_a_hub_that_falls_behind_closes_its_streams_and_starts_over() -> None:
    engine = Engine(MemoryStore())
    engine.apply_batch_now([c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS])
    (acc,) = engine.apply_batch_now([c.OpenAccount(AccountKind.USER)])
    engine.apply_batch_now([c.CreditDeposit(acc.id, "USDT", 10**15, "x")])
    hub = StreamHub(engine, MarketData(), InProcessBus())
    hub.backlog = 3

    def buy(price: int) -> None:
        req = OrderRequest(acc.id, "BTCUSDT", BUY, OrderType.LIMIT, 10_000, price)
        engine.apply_batch_now([c.PlaceOrder(req)])

    async def run() -> _Sink:
        hub.ensure_started()
        sink = _Sink()
        hub.add(sink, ch.parse("spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT", {"BTCUSDT"}))
        for i in range(10):  # more batches than the backlog, before the hub gets a turn
            buy(5_000_000 + i)
        await asyncio.sleep(0.05)
        assert sink.dropped == "server overloaded" and not hub.subscribers
        buy(4_000_000)
        await asyncio.sleep(0.05)
        assert hub.version == engine.batches  # folding again, with a fresh version chain
        assert hub._start_version == engine.batches - 1
        await hub.close()
        return sink

    sink = asyncio.run(run())
    assert sink.frames == []
