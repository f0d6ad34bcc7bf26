"""Inbound ``/ws`` messages are capped (``StreamLimits.max_message_bytes``; MEXC's largest
legitimate one, 30 channels in one SUBSCRIPTION, is about 2 KB): a larger one closes the
connection with 1009 (message too big), by the app under any server and by uvicorn itself
under ``bourse serve``'s stack (``cli.serve.server_config``), and no reply echoes more than a
short prefix of what the client sent."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp

from bourse.api.ws.channels import KLINE_INTERVALS
from bourse.api.ws.limits import StreamLimits
from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.cli.serve import server_config
from bourse.config import AuthLimits, Config, RateLimits
from tests.support.server import ServerThread

from .live import WsClient, live_ws

CAP = 8192  # bytes: StreamLimits.max_message_bytes
SHORT = 300  # characters: the longest reply to a client's long name or method
SYMBOLS = ("BTCUSDT", "ETHUSDT", "MXUSDT")


async def _oversized(url: str, size: int = 5_000_000) -> tuple[list[Any], int | None]:
    """Send one SUBSCRIPTION of ``size`` bytes; the frames that came back and the close code."""
    huge = json.dumps({"method": "SUBSCRIPTION", "params": ["x" * size]})
    async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0) as ws:
        await ws.send_str(huge)
        frames = []
        while True:
            msg = await ws.receive(10)
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                frames.append(msg.data)
                continue
            return frames, ws.close_code


def test_oversized_messages_close_with_1009_and_replies_echo_a_prefix(migrated_url: str) -> None:
    with live_ws(migrated_url) as live:

        async def run() -> None:
            # MEXC's largest real message (30 channels) still fits, beside oversized ones
            # sent at the same moment from other connections
            names = [
                f"spot@public.kline.v3.api.pb@{sym}@{interval}"
                for sym in SYMBOLS
                for interval in KLINE_INTERVALS
            ]
            assert len(names) == 30
            assert 2 * len(json.dumps({"method": "SUBSCRIPTION", "params": names})) < CAP
            real = await WsClient.connect(live.ws_url)
            floods = [_oversized(live.ws_url) for _ in range(4)]
            results = await asyncio.gather(real.send("SUBSCRIPTION", *names), *floods)
            for frames, code in results[1:]:
                assert (frames, code) == ([], 1009)
            ack = await real.until(lambda f: isinstance(f, dict))
            assert ack == {"id": 0, "code": 0, "msg": ",".join(names)}

            # under the cap: a long unknown channel, method and unsubscription reply with a
            # prefix of it only
            chatty = await WsClient.connect(live.ws_url)
            long = "y" * (CAP - 100)
            await chatty.send("SUBSCRIPTION", long)
            assert len((await chatty.recv())["msg"]) < SHORT
            await chatty.ws.send_str(json.dumps({"method": long}))
            assert len((await chatty.recv())["msg"]) < SHORT
            await chatty.send("UNSUBSCRIPTION", long)
            assert len((await chatty.recv())["msg"]) < SHORT
            # many channels in one message: one refusal for those past the 30, not one each
            await chatty.send("SUBSCRIPTION", *[""] * 1000)
            frames = []
            with contextlib.suppress(TimeoutError):
                while (frame := await chatty.recv(2)) is not None:
                    frames.append(frame)
            assert len(frames) == StreamLimits().max_streams + 1, len(frames)
            await chatty.close()
            await real.close()

        asyncio.run(run())


def test_bourse_serves_ws_with_uvicorns_cap_at_the_same_size(migrated_url: str) -> None:
    config = Config(
        database_url=migrated_url,
        rate_limits=RateLimits.off(),
        auth_limits=AuthLimits.off(),
        rebate_settle_at=None,
    )
    with open_platform(config) as platform:
        app = create_app(platform)
        served = server_config(app, "warning", access_log=False)
        assert served.ws_max_size == StreamLimits().max_message_bytes == CAP
        with ServerThread(app, config=served) as srv:
            url = srv.url.replace("http://", "ws://") + "/ws"

            async def run() -> list[tuple[list[Any], int | None]]:
                # small enough to be sent whole before uvicorn refuses it (5 MB would meet a
                # reset while still sending)
                return await asyncio.gather(*[_oversized(url, 64 * 1024) for _ in range(3)])

            assert asyncio.run(run()) == [([], 1009)] * 3
