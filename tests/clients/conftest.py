"""A real Bourse server on loopback for real-client tests.

``live_server`` opens a platform on ``migrated_url`` (so every test runs on SQLite and on
PostgreSQL), seeds the demo accounts plus a ``counterparty`` account with its own API key, and
serves ``bourse.app.create_app(platform)`` with uvicorn on ``127.0.0.1`` and a free port, in a
thread of the test process (so tests can also look at the engine directly). The demo market
maker is NOT running, so books, balances and trades only move when a test moves them;
``live_server.start_market_maker()`` turns it on for tests that want a live market.

``live_server.mexc(role)`` is ccxt's ``mexc`` class, unmodified except that its API URLs point
at the server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.sandbox.demo import (
    DEMO_ACCOUNTS,
    MARKET_MAKER_ROLE,
    DemoAccount,
    demo_credentials,
    remember_url,
    seed_demo,
)
from bourse.sandbox.market_maker import MarketMaker
from bourse.services.apikeys import generate_server_key
from bourse.services.bundle import Services

#: a second trader, so tests can trade against their own counter-orders deterministically
COUNTERPARTY = DemoAccount(
    role="counterparty",
    name="test:counterparty",
    funds=(("USDT", "1000000"), ("BTC", "20"), ("ETH", "500"), ("MX", "1000000")),
    api_key=True,
)
TEST_ACCOUNTS = (*DEMO_ACCOUNTS, COUNTERPARTY)
START_TIMEOUT = 15.0


@dataclass
class LiveServer:
    url: str
    platform: Services
    accounts: dict[str, int]
    credentials: dict[str, dict[str, str]]
    _maker: MarketMaker | None = field(default=None, repr=False)

    def mexc(self, role: str | None = "user", **options: Any) -> Any:
        """ccxt's ``mexc`` pointed at this server, with ``role``'s key (None: no key)."""
        import ccxt

        config: dict[str, Any] = {"enableRateLimit": False, "timeout": 15_000}
        if role is not None:
            creds = self.credentials[role]
            config["apiKey"] = creds["api_key"]
            config["secret"] = creds["secret"]
        config.update(options)
        exchange = ccxt.mexc(config)
        point_at(exchange, self.url)
        return exchange

    def start_market_maker(self, seed: int = 1, interval: float = 0.2) -> MarketMaker:
        if self._maker is None:
            self._maker = MarketMaker(
                self.platform.engine,
                self.accounts[MARKET_MAKER_ROLE],
                seed=seed,
                interval=interval,
                jitter=interval / 4,
            ).start()
        return self._maker

    def stop_market_maker(self) -> None:
        if self._maker is not None:
            self._maker.stop()
            self._maker = None


def point_at(exchange: Any, url: str) -> None:
    """Point every API URL of a ccxt ``mexc`` instance at ``url`` (nothing else changes)."""
    api = exchange.urls["api"]
    api["spot"] = {"public": url, "private": url}
    api["spot2"] = {"public": f"{url}/open/api/v2", "private": f"{url}/open/api/v2"}
    api["contract"] = {"public": f"{url}/api/v1/contract", "private": f"{url}/api/v1/private"}
    api["broker"] = {"private": f"{url}/api/v3/broker"}


class _ServerThread:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="auto", access_log=False)
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(START_TIMEOUT)
        self.sock.close()


@pytest.fixture
def live_server(migrated_url: str) -> Iterator[LiveServer]:
    from bourse.app import create_app

    config = Config(
        database_url=migrated_url,
        secret_key=generate_server_key(),
        rate_limits=RateLimits.off(),
    )
    platform = open_platform(config)
    try:
        seeded = seed_demo(platform, TEST_ACCOUNTS)
        server = _ServerThread(create_app(platform))
        url = f"http://127.0.0.1:{server.port}"
        remember_url(platform, url)
        creds = demo_credentials(platform, TEST_ACCOUNTS)
        server.start()
        live = LiveServer(url, platform, seeded.accounts, creds["accounts"])
        try:
            yield live
        finally:
            live.stop_market_maker()
            server.stop()
    finally:
        platform.close()
