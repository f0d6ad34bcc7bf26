"""A demo server as ``bourse serve --demo`` builds it: seeded accounts, listings and the demo
API broker, the sandbox (market maker and faucet) running, served on loopback by uvicorn."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.domain.money import format_units
from bourse.sandbox.controls import Sandbox, start_sandbox
from bourse.sandbox.demo import seed_demo
from bourse.services.apikeys import generate_server_key
from bourse.services.bundle import Services
from tests.support.server import ServerThread
from tests.web.operator_server import operated  # noqa: F401  (the operator console's server)

#: seconds to wait for the market maker's first trades
TRADES_TIMEOUT = 20.0


@dataclass
class Demo:
    platform: Services
    url: str
    broker_id: int

    def quiet_bid(self, symbol: str) -> str:
        """Pause the market maker and give a bid price one tick above the best bid (inside the
        spread, so an order there is the top of the book and nobody trades with it)."""
        sandbox = self.platform.sandbox
        assert isinstance(sandbox, Sandbox) and sandbox.maker is not None
        sandbox.maker.pause()

        def top(e: Any) -> tuple[int, int, int]:
            book = e.exchange.books[symbol]
            (bid, _), (ask, _) = book.bids.depth(1)[0], book.asks.depth(1)[0]
            return bid, ask, e.exchange.symbols[symbol].price_scale

        bid, ask, scale = self.platform.engine.read(top)
        assert ask - bid >= 2, "the demo spread is too narrow for a bid inside it"
        return format_units(bid + 1, scale)


@pytest.fixture
def demo(migrated_url: str) -> Iterator[Demo]:
    config = Config(
        database_url=migrated_url, secret_key=generate_server_key(), rate_limits=RateLimits.off()
    )
    with open_platform(config) as platform:
        seeded = seed_demo(platform)
        start_sandbox(platform, seeded.accounts, seed=7, interval=0.2, jitter=0.05)
        platform.wallet.settings.sandbox = True
        broker = platform.brokers.registry.by_source("demo-api-broker")
        assert broker is not None
        server = ServerThread(create_app(platform)).start()
        platform.config.public_url = server.url
        try:
            deadline = time.monotonic() + TRADES_TIMEOUT
            while platform.marketdata.last_price("BTCUSDT") is None:
                assert time.monotonic() < deadline, "the demo market maker made no trade"
                time.sleep(0.05)
            yield Demo(platform, server.url, broker.id)
        finally:
            server.stop()
