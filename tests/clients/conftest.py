"""A real Bourse server on loopback for real-client tests.

``live_server`` opens a platform on ``migrated_url`` (so every test runs on SQLite and on
PostgreSQL), seeds the demo accounts plus a ``counterparty`` account with its own API key, and
serves ``bourse.app.create_app(platform)`` with uvicorn on ``127.0.0.1`` and a free port, in a
thread of the test process (so tests can also look at the engine directly). See
``tests.support.live.LiveServer`` for what a test gets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import Config, RateLimits
from bourse.sandbox.demo import demo_credentials, remember_url, seed_demo
from bourse.services.apikeys import generate_server_key
from tests.support.live import TEST_ACCOUNTS, LiveServer
from tests.support.server import ServerThread


@pytest.fixture
def live_server(migrated_url: str) -> Iterator[LiveServer]:
    config = Config(
        database_url=migrated_url,
        secret_key=generate_server_key(),
        rate_limits=RateLimits.off(),
    )
    platform = open_platform(config)
    try:
        seeded = seed_demo(platform, TEST_ACCOUNTS)
        server = ServerThread(create_app(platform))
        remember_url(platform, server.url)
        creds = demo_credentials(platform, TEST_ACCOUNTS)
        with server:
            live = LiveServer(server.url, platform, seeded.accounts, creds["accounts"])
            try:
                yield live
            finally:
                live.stop_market_maker()
    finally:
        platform.close()
