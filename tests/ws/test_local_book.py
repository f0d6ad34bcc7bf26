"""A client keeping a local book by MEXC's documented procedure (mexc-api.md 4.3: subscribe to
aggre.depth, fetch ``GET /api/v3/depth``, apply the pushes by version) ends with exactly the
server's book after a stretch of market-maker activity, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx

from bourse.domain.money import format_units

from .live import LiveWs, WsClient, live_ws

SYMBOL = "BTCUSDT"
CHANNEL = f"spot@public.aggre.depth.v3.api.pb@10ms@{SYMBOL}"
#: seconds of market-maker activity (longer soak: BOURSE_LOCAL_BOOK_SECONDS=300)
ACTIVITY_S = float(os.environ.get("BOURSE_LOCAL_BOOK_SECONDS", "6"))


class LocalBook:
    """MEXC's procedure. ``fromVersion`` of the first push applied may be at most the snapshot's
    ``lastUpdateId + 1`` (a push starting right after the snapshot needs no resync)."""

    def __init__(self) -> None:
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.version: int | None = None  # toVersion of the last push applied
        self.snapshot: int | None = None
        self.applied = 0
        self.resyncs = 0

    def load(self, snap: dict[str, Any]) -> None:
        self.bids = {p: q for p, q in snap["bids"]}
        self.asks = {p: q for p, q in snap["asks"]}
        self.snapshot = snap["lastUpdateId"]
        self.version = None

    def on_push(self, body: Any) -> bool:
        """Apply one push; False when the book must be fetched again."""
        start, end = int(body.fromVersion), int(body.toVersion)
        if self.version is None:
            assert self.snapshot is not None
            if end < self.snapshot:
                return True  # older than the snapshot: drop
            if start > self.snapshot + 1:
                return False  # a gap between the snapshot and the first push
        elif start != self.version + 1:
            return False  # the chain broke
        for side, levels in ((self.bids, body.bids), (self.asks, body.asks)):
            for level in levels:
                if level.quantity in ("0", ""):
                    side.pop(level.price, None)
                else:
                    side[level.price] = level.quantity
        self.version = end
        self.applied += 1
        return True


def server_book(live: LiveWs) -> tuple[dict[str, str], dict[str, str]]:
    def snap(engine: Any) -> Any:
        book = engine.exchange.books[SYMBOL]
        return book.bids.depth(10**6), book.asks.depth(10**6)

    sym = live.platform.engine.exchange.symbols[SYMBOL]
    bids, asks = live.platform.engine.read(snap)

    def fmt(levels: Any) -> dict[str, str]:
        return {format_units(p, sym.price_scale): format_units(q, sym.qty_scale) for p, q in levels}

    return fmt(bids), fmt(asks)


async def keep_local_book(live: LiveWs, ws_url: str, rest_url: str) -> LocalBook:
    """Keep a local book of ``SYMBOL`` from the server at ``ws_url`` / ``rest_url`` while
    ``live``'s market maker runs for ``ACTIVITY_S`` seconds, until the pushes stop."""
    loop = asyncio.get_running_loop()
    ws = await WsClient.connect(ws_url)
    await ws.send("SUBSCRIPTION", CHANNEL)
    assert (await ws.recv())["msg"] == CHANNEL
    live.start_market_maker(interval=0.02)
    book = LocalBook()
    http = httpx.AsyncClient(base_url=rest_url)

    async def resync() -> None:
        book.resyncs += 1
        r = await http.get("/api/v3/depth", params={"symbol": SYMBOL, "limit": 5000})
        book.load(r.json())

    await resync()
    stop_at = loop.time() + ACTIVITY_S
    stopped = False
    while True:
        if not stopped and loop.time() > stop_at:
            await loop.run_in_executor(None, live.stop_market_maker)
            stopped = True
        try:
            frame = await ws.recv(1.0 if stopped else 5.0)
        except TimeoutError:
            assert stopped, "no depth push while the market maker ran"
            break  # a quiet second after the maker stopped: all pushes are in
        assert frame is not None, "the server closed the connection"
        if isinstance(frame, dict | str) or frame.channel != CHANNEL:
            continue
        if not book.on_push(frame.publicAggreDepths):
            await resync()
    await http.aclose()
    await ws.close()
    return book


def check_book(book: LocalBook, live: LiveWs) -> None:
    """The local book is the server's (the writer's engine), after enough pushes."""
    assert book.applied >= 20, book.applied
    assert book.resyncs <= 3, book.resyncs
    bids, asks = server_book(live)
    assert bids and asks
    assert book.bids == bids
    assert book.asks == asks


def test_local_book_follows_the_server(migrated_url: str) -> None:
    with live_ws(migrated_url) as live:
        book = asyncio.run(keep_local_book(live, live.ws_url, live.url))
        check_book(book, live)
