"""The running platform: database, durable store, engine, API keys and market data, from a config.

``Platform.open(Config(...))`` migrates the database, loads the engine from it, starts the
engine thread, builds the market-data projections from the stored trades and subscribes them to
the engine; ``close()`` stops everything. ``bourse.app.create_app(platform)`` serves it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine as SAEngine

from bourse.apikeys import ApiKeys, load_server_key
from bourse.domain.fees import FeeSchedule
from bourse.domain.orders import StpMode
from bourse.engine import Engine
from bourse.engine import commands as c

log = logging.getLogger("bourse.platform")


@dataclass(slots=True)
class RateLimits:
    """Request budgets (MEXC: 500 per 10 s per endpoint, per UID for keyed endpoints and per IP).

    ``special`` maps a path to ``(requests, window_ms)`` for endpoints with their own cap
    (MEXC: ``batchOrders`` and ``account`` at 2 requests per second).
    """

    enabled: bool = True
    requests: int = 500
    window_ms: int = 10_000
    special: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {
            "/api/v3/batchOrders": (2, 1000),
            "/api/v3/account": (2, 1000),
        }
    )

    @classmethod
    def off(cls) -> RateLimits:
        return cls(enabled=False)


@dataclass(slots=True)
class Config:
    """Everything ``Platform.open`` needs.

    * ``database_url``: SQLAlchemy URL (``sqlite:///path.db`` or ``postgresql://...``);
    * ``secret_key``: Fernet key encrypting API secrets at rest (else ``BOURSE_SECRET_KEY``,
      else a key file in ``key_dir`` / next to the SQLite file, created once);
    * ``rate_limits``: see ``RateLimits`` (``RateLimits.off()`` for tests and benches);
    * ``maker_fee_ppm`` / ``taker_fee_ppm``: default fee rates in parts per million;
    * ``stp_default``: self-trade prevention applied when an order sends no ``stpMode``;
    * ``default_listings``: on an empty database, list the default assets and symbols of
      ``bourse.sandbox.listings`` so a fresh exchange is usable;
    * ``trust_forwarded_for``: take the client IP from ``X-Forwarded-For`` (behind a proxy).
    """

    database_url: str = "sqlite:///./bourse.db"
    secret_key: str | None = None
    key_dir: str | None = None
    rate_limits: RateLimits = field(default_factory=RateLimits)
    maker_fee_ppm: int = 0
    taker_fee_ppm: int = 500
    stp_default: StpMode = StpMode.CANCEL_TAKER
    default_listings: bool = True
    trust_forwarded_for: bool = False
    #: the externally visible base URL (OAuth issuer, links); else BOURSE_PUBLIC_URL
    public_url: str | None = None
    #: run the daily broker rebate accrual + settlement job at this UTC time (None: off)
    rebate_settle_at: str | None = "00:05"
    #: wallet rules (review thresholds, sandbox endpoints); see ``bourse.wallet.WalletSettings``
    wallet: Any = None
    #: simulated chain: seconds per block, share of broadcasts that fail or get stuck
    chain_block_interval: float = 2.0
    chain_failure_rate: float = 0.0
    chain_stuck_rate: float = 0.0


class Platform:
    """Owns the database engine, the store, the matching engine, API keys and market data."""

    def __init__(
        self,
        config: Config,
        db: SAEngine,
        engine: Engine,
        apikeys: ApiKeys,
        marketdata: Any,
        queries: Any,
        store: Any = None,
    ) -> None:
        self.config = config
        self.db = db
        self.store = store
        self.engine = engine
        self.apikeys = apikeys
        self.marketdata = marketdata
        self.queries = queries
        self.brokers: Any = None
        self.wallet: Any = None
        self.chain: Any = None
        self._closed = False

    @classmethod
    def open(cls, config: Config | None = None) -> Platform:
        """Migrate the database, load and start the engine, build the projections."""
        from bourse.marketdata import MarketData
        from bourse.store.db import make_engine, migrate
        from bourse.store.queries import Queries
        from bourse.store.sql import SqlStore

        config = config or Config()
        db = make_engine(config.database_url)
        migrate(db)
        store = SqlStore(db)
        engine = Engine(
            store,
            fees=FeeSchedule(maker=config.maker_fee_ppm, taker=config.taker_fee_ppm),
            stp_default=config.stp_default,
        )
        if config.default_listings and not engine.wallet.assets:
            from bourse.sandbox.listings import ASSETS, SYMBOLS

            engine.apply_batch_now(
                [c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS]
            )
        queries = Queries(db)
        marketdata = MarketData.from_store(queries, engine)
        engine.start()
        server_key = load_server_key(config.secret_key, config.key_dir, config.database_url)
        keys = ApiKeys(db, server_key)
        platform = cls(config, db, engine, keys, marketdata, queries, store)
        from bourse.brokers import Brokers
        from bourse.wallet import build_wallet

        platform.wallet = build_wallet(
            engine,
            db,
            server_key,
            config.wallet,
            block_interval=config.chain_block_interval,
            failure_rate=config.chain_failure_rate,
            stuck_rate=config.chain_stuck_rate,
        )
        platform.chain = platform.wallet.chain

        platform.brokers = Brokers.create(db, engine)
        if config.rebate_settle_at:
            platform.brokers.start_scheduler(config.rebate_settle_at)
        return platform

    def close(self) -> None:
        """Stop the engine (finishing queued commands) and release the database."""
        if self._closed:
            return
        self._closed = True
        if self.brokers is not None:
            self.brokers.close()
        if self.chain is not None:
            self.chain.stop()
        self.engine.stop()
        if self.store is not None and hasattr(self.store, "close"):
            self.store.close()
        self.db.dispose()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
