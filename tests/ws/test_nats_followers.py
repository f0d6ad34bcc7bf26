"""Several server processes on one database through the NATS bus: the test process is the
writer (its engine publishes every committed batch to a JetStream stream of its own), and a
second ``bourse serve`` process, started on the same database and bus, finds the database
taken and follows it. A client keeping a local book by MEXC's procedure from the FOLLOWER's
``/ws`` and ``GET /api/v3/depth`` ends with exactly the writer's book, on SQLite and
PostgreSQL; the follower answers orders with 503 (it never writes)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from bourse.bus.nats import NatsBus
from bourse.engine.clock import now_ms
from tests.support.nats import NATS_URL, unique_name

from .live import LiveWs, WsClient, live_ws
from .test_local_book import SYMBOL, check_book, keep_local_book, server_book

#: seconds a follower process may take to answer its first request
START_S = 40.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def follower_process(live: LiveWs, database_url: str, bus_name: str, home: Path) -> Iterator[str]:
    """``bourse serve`` on ``database_url`` and the bus (role ``auto``: the test's server
    already writes the database); yields its URL once it answers; terminated afterwards."""
    port = _free_port()
    env = {
        **os.environ,
        "BOURSE_SECRET_KEY": live.platform.config.secret_key or "",
        "BOURSE_HOME": str(home),
        "BOURSE_BUS_URL": NATS_URL,
    }
    log_path = home / "follower.log"
    cmd = [sys.executable, "-m", "bourse.cli", "serve", "--db", database_url, "--port", str(port)]
    cmd += ["--bus-name", bus_name, "--no-rate-limit", "--log-level", "warning"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            assert proc.poll() is None, f"the follower exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"no answer:\n{log_path.read_text()}"
            try:
                if httpx.get(f"{url}/api/v3/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        assert "follower" in log_path.read_text()  # the banner says which role it took
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _signed_order(live: LiveWs, url: str) -> httpx.Response:
    creds = live.credentials["user"]
    query = urlencode(
        {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "1000"}
        | {"timestamp": now_ms()}
    )
    sig = hmac.new(creds["secret"].encode(), query.encode(), hashlib.sha256).hexdigest()
    return httpx.post(
        f"{url}/api/v3/order?{query}&signature={sig}",
        headers={"X-MEXC-APIKEY": creds["api_key"]},
        timeout=10,
    )


async def _private_stream_on_the_follower(live: LiveWs, ws_url: str) -> None:
    """A listenKey made on the writer opens the follower's private channels, and an order the
    writer's engine takes is pushed there, from the bus."""
    loop = asyncio.get_running_loop()
    key = await loop.run_in_executor(None, live.listen_key)
    ws = await WsClient.connect(f"{ws_url}?listenKey={key}")
    try:
        channel = "spot@private.orders.v3.api.pb"
        await ws.send("SUBSCRIPTION", channel)
        assert (await ws.recv())["msg"] == channel
        order = await loop.run_in_executor(None, live.place, "user", 1, 3_000_000, 10_000)
        frame = await ws.until(lambda f: not isinstance(f, dict | str) and f.channel == channel)
        assert frame.privateOrders.id == str(order.id)
        assert (frame.privateOrders.price, frame.privateOrders.quantity) == ("30000", "0.01")
    finally:
        await ws.close()


def _depth(url: str) -> tuple[dict[str, str], dict[str, str]]:
    r = httpx.get(f"{url}/api/v3/depth", params={"symbol": SYMBOL, "limit": 5000}, timeout=10)
    body = r.json()
    return dict(map(tuple, body["bids"])), dict(map(tuple, body["asks"]))


@pytest.mark.slow
def test_a_follower_process_serves_the_writers_book(migrated_url: str, tmp_path: Path) -> None:
    name = unique_name()
    try:
        with live_ws(migrated_url, bus_url=NATS_URL, bus_name=name) as live:
            assert live.platform.nats is not None and live.platform.mirror is None
            live.place("counterparty", 1, 4_000_000, 10_000)  # a bid before the follower starts
            with follower_process(live, migrated_url, name, tmp_path) as url:
                assert _depth(url) == server_book(live)  # loaded from the store
                ws_url = url.replace("http://", "ws://") + "/ws"
                book = asyncio.run(keep_local_book(live, ws_url, url))
                check_book(book, live)
                assert _depth(url) == server_book(live)  # its REST book followed too
                trades = "/api/v3/trades?symbol=BTCUSDT&limit=100"
                assert httpx.get(url + trades).json() == httpx.get(live.url + trades).json()
                asyncio.run(_private_stream_on_the_follower(live, ws_url))
                r = _signed_order(live, url)  # a follower never writes: 503, nothing placed
                assert r.status_code == 503, r.text
                assert r.json()["msg"] == "service not available, please try again"
    finally:
        NatsBus(NATS_URL, name).delete_stream()
