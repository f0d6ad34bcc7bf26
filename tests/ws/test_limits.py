"""MEXC's connection limits on ``/ws``, shortened through ``StreamLimits``: idle connections
without a subscription or without traffic are closed, PING keeps one open, a flood of messages
closes it, extra subscriptions are refused, the connection's life is bounded, and a consumer
that cannot keep up is dropped without blocking the hub."""

from __future__ import annotations

import asyncio
from typing import Any

from bourse.api.ws.connection import Connection
from bourse.api.ws.limits import StreamLimits, StreamStats

from .live import WsClient, live_ws

SHORT = StreamLimits(
    max_streams=3,
    max_inbound_per_s=20,
    idle_without_subscription_s=0.6,
    idle_without_traffic_s=1.0,
    max_life_s=4.0,
    listen_key_check_s=0.3,
)
DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@{}"


def test_limits(migrated_url: str) -> None:
    with live_ws(migrated_url, limits=SHORT) as live:

        async def run() -> None:
            idle = await WsClient.connect(live.ws_url)
            assert await idle.recv(3) is None  # closed: no subscription within 0.6 s
            await idle.close()

            quiet = await WsClient.connect(live.ws_url)
            await quiet.send("SUBSCRIPTION", DEALS.format("BTCUSDT"))
            assert (await quiet.recv())["code"] == 0
            assert await quiet.recv(3) is None  # closed: no traffic within 1 s
            await quiet.close()

            busy = await WsClient.connect(live.ws_url)
            names = [DEALS.format(s) for s in ("BTCUSDT", "ETHUSDT", "MXUSDT")]
            await busy.send(
                "SUBSCRIPTION", *names, "spot@public.bookTicker.batch.v3.api.pb@BTCUSDT"
            )
            assert (await busy.recv())["msg"].startswith("Not Subscribed successfully!")
            assert (await busy.recv())["msg"] == ",".join(names)
            for _ in range(4):  # PING every 0.5 s keeps it past the 1 s traffic limit
                await asyncio.sleep(0.5)
                await busy.send("PING")
                assert (await busy.recv())["msg"] == "PONG"
            assert await busy.recv(4) is None  # the 4 s life ends it
            await busy.close()

            flood = await WsClient.connect(live.ws_url)
            for _ in range(SHORT.max_inbound_per_s + 5):
                await flood.send("PING")
            frames = []
            while (frame := await flood.recv(3)) is not None:
                frames.append(frame)
            assert len(frames) <= SHORT.max_inbound_per_s
            await flood.close()

            key = await asyncio.get_running_loop().run_in_executor(None, live.listen_key)
            private = await WsClient.connect(f"{live.ws_url}?listenKey={key}")
            await private.send("SUBSCRIPTION", "spot@private.orders.v3.api.pb")
            assert (await private.recv())["code"] == 0
            deleting = asyncio.get_running_loop().run_in_executor(
                None, lambda: live.signed("DELETE", "/api/v3/userDataStream", listenKey=key)
            )
            while not deleting.done():  # traffic: on a busy machine the DELETE may take > 1 s
                await private.send("PING")
                await asyncio.sleep(0.3)
            assert await deleting == {"listenKey": key}
            await private.send("PING")  # the 1 s traffic limit must not close it first
            frames = []
            while (frame := await private.recv(2)) not in (None, "Invalid listen key"):
                frames.append(frame)  # PONGs
            assert frame == "Invalid listen key", frames  # the key went away
            assert all(f.get("msg") == "PONG" for f in frames), frames
            assert await private.recv(2) is None
            await private.close()

        asyncio.run(run())


class _StuckSocket:
    async def send_bytes(self, data: bytes) -> None:
        await asyncio.Event().wait()


class _Hub:
    def __init__(self) -> None:
        self.removed: list[Any] = []
        self.stats = StreamStats()

    def remove(self, sink: Any, channel: Any) -> None:
        self.removed.append(channel)


def test_a_slow_consumer_is_dropped_not_waited_for() -> None:
    async def run() -> None:
        hub = _Hub()
        conn = Connection(_StuckSocket(), hub, StreamLimits(send_queue=5))  # type: ignore[arg-type]
        conn.channels["x"] = "x"  # type: ignore[assignment]
        for _ in range(6):
            conn.push(b"frame")  # never blocks
        assert conn.closed and conn.close_reason == "slow consumer"
        assert hub.removed == ["x"]
        assert hub.stats.slow_dropped == 1  # the metrics' bourse_ws_slow_consumers_dropped

    asyncio.run(run())
