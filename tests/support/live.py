"""A real Bourse server with the demo accounts, as the real-client tests see it.

``LiveServer`` holds the served platform's URL, the accounts and their API credentials;
``mexc(role)`` is ccxt's ``mexc`` class, unmodified except that its API URLs point at the
server. The demo market maker is NOT running unless a test calls ``start_market_maker()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import ccxt
from starlette.applications import Starlette

from bourse.app import create_app
from bourse.bootstrap import open_platform
from bourse.config import AuthLimits, Config, RateLimits
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
from tests.support.mexc import point_at
from tests.support.server import ServerThread

#: a second trader, so tests can trade against their own counter-orders deterministically
COUNTERPARTY = DemoAccount(
    role="counterparty",
    name="test:counterparty",
    funds=(("USDT", "1000000"), ("BTC", "20"), ("ETH", "500"), ("MX", "1000000")),
    api_key=True,
)
TEST_ACCOUNTS = (*DEMO_ACCOUNTS, COUNTERPARTY)


@dataclass
class LiveServer:
    url: str
    platform: Services
    accounts: dict[str, int]
    credentials: dict[str, dict[str, str]]
    _maker: MarketMaker | None = field(default=None, repr=False)

    def mexc(self, role: str | None = "user", **options: Any) -> Any:
        """ccxt's ``mexc`` pointed at this server, with ``role``'s key (None: no key)."""
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


L = TypeVar("L", bound=LiveServer)


@contextmanager
def serve_live(
    database_url: str,
    kind: Callable[[str, Services, dict[str, int], dict[str, dict[str, str]]], L],
    app: Callable[[Services], Starlette] = create_app,
    **settings: Any,
) -> Iterator[L]:
    """Open a platform on ``database_url`` (rate limits off; ``settings``: further ``Config``
    fields), seed the demo and test accounts, serve ``app(platform)`` on loopback and yield
    ``kind(url, platform, accounts, keys)``; the market maker (if started), the server and the
    platform are stopped afterwards."""
    config = Config(
        database_url=database_url,
        secret_key=generate_server_key(),
        rate_limits=RateLimits.off(),
        auth_limits=AuthLimits.off(),
        **settings,
    )
    platform = open_platform(config)
    try:
        seeded = seed_demo(platform, TEST_ACCOUNTS)
        server = ServerThread(app(platform))
        remember_url(platform, server.url)
        creds = demo_credentials(platform, TEST_ACCOUNTS)
        with server:
            live = kind(server.url, platform, seeded.accounts, creds["accounts"])
            try:
                yield live
            finally:
                live.stop_market_maker()
    finally:
        platform.close()
