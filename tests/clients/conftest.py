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

from tests.support.live import LiveServer, serve_live


@pytest.fixture
def live_server(migrated_url: str) -> Iterator[LiveServer]:
    with serve_live(migrated_url, LiveServer) as live:
        yield live
