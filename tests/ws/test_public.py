"""``/ws`` public streams against a live server: MEXC's control frames and replies, refusals,
and each public channel's binary frames carrying what the engine committed."""

from __future__ import annotations

import asyncio

import httpx

from bourse.domain.orders import BUY, SELL

from .live import WsClient, live_ws

P, Q = 5_000_000, 10_000  # 50,000.00 USDT, 0.01 BTC
DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
DEPTH10 = "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"
DEPTH100 = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
TICKER = "spot@public.aggre.bookTicker.v3.api.pb@10ms@BTCUSDT"
BATCH = "spot@public.bookTicker.batch.v3.api.pb@BTCUSDT"
LIMIT5 = "spot@public.limit.depth.v3.api.pb@BTCUSDT@5"


def test_control_frames_and_refusals(migrated_url: str) -> None:
    with live_ws(migrated_url) as live:

        async def run() -> None:
            ws = await WsClient.connect(live.ws_url)
            await ws.send("PING")
            assert await ws.recv() == {"id": 0, "code": 0, "msg": "PONG"}
            await ws.send("ping", id=7)  # ccxt sends it in lower case
            assert await ws.recv() == {"id": 7, "code": 0, "msg": "PONG"}
            await ws.send("SUBSCRIPTION", DEALS, DEPTH100)
            assert await ws.recv() == {"id": 0, "code": 0, "msg": f"{DEALS},{DEPTH100}"}
            for bad, why in (
                ("spot@public.nonsense.v3.api.pb@BTCUSDT", "unknown channel"),
                ("spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT", "unknown symbol"),
                ("spot@public.aggre.deals.v3.api.pb@5ms@BTCUSDT", "unknown channel"),
                ("spot@private.orders.v3.api.pb", "listenKey"),
            ):
                await ws.send("SUBSCRIPTION", bad)
                reply = await ws.recv()
                assert reply["msg"].startswith(f"Not Subscribed successfully! [{bad}]")
                assert why in reply["msg"]
            await ws.send("UNSUBSCRIPTION", DEALS)
            assert await ws.recv() == {"id": 0, "code": 0, "msg": DEALS}
            await ws.send("NOPE")
            assert (await ws.recv())["code"] != 0
            await ws.close()

        asyncio.run(run())


def test_public_channels_carry_committed_data(migrated_url: str) -> None:
    with live_ws(migrated_url) as live:

        async def run() -> None:
            ws = await WsClient.connect(live.ws_url)
            await ws.send("SUBSCRIPTION", DEALS, DEPTH10, TICKER, BATCH, LIMIT5)
            assert (await ws.recv())["msg"].count("@BTCUSDT") == 5
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, live.place, "user", BUY, P, 3 * Q)
            depth = await ws.until(lambda f: f.channel == DEPTH10)
            assert depth.symbol == "BTCUSDT" and depth.symbolId and depth.sendTime
            assert depth.createTime > 0
            body = depth.publicAggreDepths
            assert [(b.price, b.quantity) for b in body.bids] == [("50000", "0.03")]
            assert body.eventType == "spot@public.aggre.depth.v3.api.pb@10ms"
            first_to = int(body.toVersion)
            ticker = await ws.until(lambda f: f.channel == TICKER)
            assert ticker.publicAggreBookTicker.bidPrice == "50000"
            assert ticker.publicAggreBookTicker.bidQuantity == "0.03"
            batch = await ws.until(lambda f: f.channel == BATCH)
            assert batch.publicBookTickerBatch.items[0].bidPrice == "50000"
            limit = await ws.until(lambda f: f.channel == LIMIT5)
            assert [b.price for b in limit.publicLimitDepths.bids] == ["50000"]

            await loop.run_in_executor(None, live.place, "counterparty", SELL, P, Q)
            depth = await ws.until(lambda f: f.channel == DEPTH10)  # 10 ms: before the deals
            body = depth.publicAggreDepths
            assert int(body.fromVersion) == first_to + 1  # the pushes chain
            assert [(b.price, b.quantity) for b in body.bids] == [("50000", "0.02")]
            deals = await ws.until(lambda f: f.channel == DEALS)
            (deal,) = deals.publicAggreDeals.deals
            assert (deal.price, deal.quantity, deal.tradeType) == ("50000", "0.01", 2)
            assert deal.tradeId and deal.time > 0
            async with httpx.AsyncClient(base_url=live.url) as http:
                snap = (await http.get("/api/v3/depth", params={"symbol": "BTCUSDT"})).json()
            assert snap["lastUpdateId"] == int(body.toVersion)  # the same version counter
            await ws.close()

        asyncio.run(run())


def test_klines_for_every_interval_and_mini_tickers(migrated_url: str) -> None:
    intervals = ["Min1", "Min5", "Min15", "Min30", "Min60", "Hour4", "Hour8", "Day1", "Week1"]
    intervals.append("Month1")
    klines = [f"spot@public.kline.v3.api.pb@BTCUSDT@{iv}" for iv in intervals]
    mini = "spot@public.miniTicker.v3.api.pb@BTCUSDT@UTC+8"
    minis = "spot@public.miniTickers.v3.api.pb@UTC+8"
    with live_ws(migrated_url) as live:

        async def run() -> None:
            ws = await WsClient.connect(live.ws_url)
            await ws.send("SUBSCRIPTION", *klines, mini, minis)
            assert (await ws.recv())["msg"] == ",".join([*klines, mini, minis])
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, live.place, "user", BUY, P, Q)
            await loop.run_in_executor(None, live.place, "counterparty", SELL, P, Q)
            seen: dict[str, object] = {}
            while len(seen) < len(klines) + 2:
                frame = await ws.until(lambda f: not isinstance(f, dict | str), timeout=5)
                seen[frame.channel] = frame
            for name, iv in zip(klines, intervals, strict=True):
                k = seen[name].publicSpotKline  # type: ignore[attr-defined]
                assert k.interval == iv and k.closingPrice == "50000" and k.volume == "0.01"
                assert k.windowEnd > k.windowStart > 1_600_000_000
                assert k.amount == "500"
            t = seen[mini].publicMiniTicker  # type: ignore[attr-defined]
            assert (t.symbol, t.price, t.quantity, t.volume) == ("BTCUSDT", "50000", "0.01", "500")
            items = seen[minis].publicMiniTickers.items  # type: ignore[attr-defined]
            assert "BTCUSDT" in {i.symbol for i in items}
            await ws.close()

        asyncio.run(run())
