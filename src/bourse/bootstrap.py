"""Wire a running Bourse from a ``Config``: the one place that knows every part.

``open_platform(config)`` migrates the database, loads the engine from it (listing the default
assets and symbols on an empty database), starts the engine thread, builds the market-data
projections from the stored trades, the API keys, the wallet over its chain adapter, the
broker program (with its live rebate follower and daily settlement) and the sub-account service, and returns the typed ``Services`` the gateway
serves; ``services.close()`` stops everything.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import TYPE_CHECKING

from bourse.bus.followers import Followers
from bourse.config import Config
from bourse.domain.fees import FeeSchedule
from bourse.engine import Engine
from bourse.engine import commands as c
from bourse.engine.changes import BatchChanges
from bourse.engine.idempotency import DEFAULT_RETENTION_MS
from bourse.sandbox.chain import SimulatedChain, chain_secret
from bourse.sandbox.listings import ASSETS, SYMBOLS
from bourse.services.apikeys import ApiKeys
from bourse.services.brokers import Brokers
from bourse.services.brokers.rebates import has_attributed_trades
from bourse.services.bundle import Services
from bourse.services.listenkeys import ListenKeys
from bourse.services.marketdata import MarketData
from bourse.services.referrals import Referrals
from bourse.services.serverkey import ServerKeyError, load_server_keys
from bourse.services.signed_reads import SignedReads
from bourse.services.subaccounts import SubAccounts
from bourse.services.throttle import CredentialThrottle
from bourse.services.users import Users, engine_account_opener
from bourse.services.wallet import WalletService
from bourse.services.wallet.internal import InternalTransfers
from bourse.store.db import ensure_database, make_engine, migrate
from bourse.store.queries import Queries
from bourse.store.repositories.chain import ChainRepository
from bourse.store.repositories.internal_transfers import InternalTransferRepository
from bourse.store.repositories.oauth import OAuthRepository
from bourse.store.repositories.referrals import ReferralRepository
from bourse.store.repositories.users import UserRepository
from bourse.store.repositories.wallet import WalletRepository
from bourse.store.sql import SqlStore, StoreLocked

if TYPE_CHECKING:
    from bourse.bus.heartbeat import Listener, Publisher

log = logging.getLogger("bourse.bootstrap")


def open_platform(config: Config | None = None) -> Services:
    """Migrate the database, load and start the engine, build the services."""
    config = config or Config()
    keys = load_server_keys(
        config.secret_key,
        config.key_dir,
        config.database_url,
        key_file=config.secret_key_file,
        required=config.require_secret_key,
    )
    ensure_database(config.database_url)
    db = make_engine(config.database_url, lock_timeout_ms=config.lock_timeout_ms)
    migrate(db)
    if config.require_secret_key and not ApiKeys(db, keys).key_opens_secrets():
        db.dispose()
        raise ServerKeyError("the server key does not decrypt the stored API secrets: wrong key?")
    store = SqlStore(db)
    # the bus (NATS) is imported only by a process that uses one: a command that opens the
    # database to run one operation does not pay for it
    if config.role == "gateway":
        from bourse.bus.gateway import RemoteEngine

        engine_class: type[Engine] = RemoteEngine
    else:
        engine_class = Engine
    engine = engine_class(
        store,
        fees=FeeSchedule(maker=config.maker_fee_ppm, taker=config.taker_fee_ppm),
        stp_default=config.stp_default,
        order_id_retention_ms=client_order_id_retention_s(config) * 1000,
    )
    nats = None
    if config.bus_url:
        from bourse.bus.nats import NatsBus

        nats = NatsBus(config.bus_url, config.bus_name).start()
    queries = Queries(db)
    mirror = None
    try:
        follows = nats is not None and _follows(config.role, store, engine)
    except StoreLocked:  # a writer that cannot write: give back what it opened
        if nats is not None:
            nats.close()
        store.close()
        db.dispose()
        raise
    if follows:
        assert nats is not None
        from bourse.bus.mirror import Mirror

        marketdata = MarketData()
        mirror = Mirror(
            engine,
            nats,
            load_trades=partial(_load_trades, queries, marketdata),
            add_trades=lambda trades: marketdata.on_batch(BatchChanges(trades=trades)),
        )
    else:
        if config.default_listings and not engine.wallet.assets:
            engine.apply_batch_now(
                [c.AddAsset(a) for a in ASSETS] + [c.AddSymbol(s) for s in SYMBOLS]
            )
        marketdata = MarketData.from_store(queries, engine) if config.market_data else MarketData()
        if nats is not None:
            from bourse.bus.feed import announce

            announce(engine, nats)
        engine.start()
    commands = None
    if config.role == "engine" and config.bus_url:
        from bourse.bus.engine_server import CommandServer

        commands = CommandServer(engine, config.bus_url, config.bus_name).start()
    if config.bus_url and config.role == "gateway" and mirror is not None:
        from bourse.bus.gateway import CommandClient, RemoteEngine

        assert isinstance(engine, RemoteEngine)
        following = mirror
        engine.client = CommandClient(
            config.bus_url, config.bus_name, caught_up=lambda n: following.commits >= n
        ).start()
    # the writer's heartbeat (bus.heartbeat): `bourse engine` beats from its command server; a
    # `bourse serve --bus` writer from a thread of its own, and a plain follower listens to it
    heartbeat: Publisher | Listener | None = None
    if config.bus_url and commands is None and config.role != "gateway":
        from bourse.bus.heartbeat import Listener, Publisher

        if mirror is None:
            heartbeat = Publisher(engine, config.bus_url, config.bus_name).start()
        else:
            heartbeat = Listener(config.bus_url, config.bus_name).start()
    server_key = keys.key
    # the chain adapter: the sandbox simulator (a real chain connector would plug in here)
    chain = SimulatedChain(
        engine,
        ChainRepository(db),
        chain_secret(server_key),
        block_interval=config.chain_block_interval,
        failure_rate=config.chain_failure_rate,
        stuck_rate=config.chain_stuck_rate,
    )
    wallet = WalletService(engine, WalletRepository(db), chain, config.wallet)
    apikeys = ApiKeys(db, keys)
    users = Users(
        UserRepository(db),
        engine_account_opener(engine),
        fernet=apikeys.fernet,
        throttle=CredentialThrottle(config.auth_limits),
    )
    brokers = Brokers.create(db, engine)
    referrals = Referrals(
        ReferralRepository(db),
        engine,
        inviter_ppm=config.referral_rate_ppm,
        invitee_ppm=config.referral_kickback_ppm,
    )
    # followers of the engine's committed change feed: live rebate and referral accrual
    # (a follower process writes nothing: the writer's process does this work)
    followers = Followers().attach(engine)
    if config.rebates_live and mirror is None:
        followers.add("rebates", brokers.accrue, wants=has_attributed_trades)
    if config.referrals_live and mirror is None:
        followers.add("referrals", referrals.accrue_pending, wants=referrals.wants)
    followers.start()
    if config.rebate_settle_at and mirror is None:
        brokers.start_scheduler(config.rebate_settle_at)
    # a listenKey ends with the credential that created it: every API key change, OAuth
    # revocation, broker suspension and web session ended (here; another process's arrive
    # below) has the open streams look again
    listen_keys = ListenKeys(db)
    users.on_sessions_ended = listen_keys.recheck
    oauth = OAuthRepository(db)
    oauth.on_revoke = listen_keys.recheck
    brokers.registry.on_suspend = listen_keys.recheck
    apikeys.watchers.append(lambda _key: listen_keys.recheck(announce=False))
    caches = None
    signed_reads = SignedReads()
    if config.bus_url:  # a key changed here is dropped from every process's cache at once
        from bourse.bus.cache_events import CacheEvents

        caches = CacheEvents(config.bus_url, config.bus_name)
        caches.on("apikey", partial(apikeys.forget, announce=False))
        caches.on("binding", brokers.bindings.forget)
        caches.on("broker", brokers.registry.forget)
        caches.on("listenkeys", lambda _key: listen_keys.recheck(announce=False))
        apikeys.on_forget = partial(caches.publish, "apikey")
        brokers.bindings.on_forget = partial(caches.publish, "binding")
        brokers.registry.on_forget = partial(caches.publish, "broker")
        listen_keys.on_recheck = partial(caches.publish, "listenkeys", "")
        # a read's signature seen by one gateway is refused on a write by the others too
        caches.on("read", signed_reads.add_shared)
        signed_reads.on_add = partial(caches.publish, "read")
        caches.start()
    internal = InternalTransfers(engine, InternalTransferRepository(db), wallet, UserRepository(db))
    subaccounts = SubAccounts(
        db, engine, apikeys, wallet, brokers.registry, brokers.bindings, throttle=users.throttle
    )
    return Services(
        config=config,
        db=db,
        store=store,
        engine=engine,
        apikeys=apikeys,
        marketdata=marketdata,
        queries=queries,
        brokers=brokers,
        followers=followers,
        subaccounts=subaccounts,
        wallet=wallet,
        internal_transfers=internal,
        users=users,
        referrals=referrals,
        oauth=oauth,
        chain=chain,
        listen_keys=listen_keys,
        nats=nats,
        mirror=mirror.start() if mirror is not None else None,
        commands=commands,
        heartbeat=heartbeat,
        caches=caches,
        signed_reads=signed_reads,
    )


#: the environment variable of ``Config.client_order_id_retention_s`` (seconds)
RETENTION_ENV = "BOURSE_CLIENT_ORDER_ID_RETENTION"


def client_order_id_retention_s(config: Config) -> int:
    """``config``'s retention of an order's client id (seconds), else the environment's, else
    24 hours: every process that opens the database (a server, ``bourse engine``, a command
    with no server running) reads the same variable."""
    if config.client_order_id_retention_s is not None:
        return config.client_order_id_retention_s
    raw = os.environ.get(RETENTION_ENV, "").strip()
    if not raw:
        return DEFAULT_RETENTION_MS // 1000
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{RETENTION_ENV}={raw!r}: expected a whole number of seconds") from None


def _follows(role: str, store: SqlStore, engine: Engine) -> bool:
    """Whether this process follows another one's engine (``Config.role``); a writer takes the
    database's writer lock now, so a second process started with ``auto`` becomes a follower."""
    if role in ("follower", "gateway"):
        return True
    if role not in ("writer", "engine", "auto"):
        raise ValueError(f"role {role!r}: expected writer, follower, engine, gateway or auto")
    try:
        if not store.ensure_writer():
            engine.reload()  # another writer committed since we loaded
    except StoreLocked:
        if role in ("writer", "engine"):
            raise
        log.info("another process writes this database: following it over the bus")
        return True
    return False


def _load_trades(queries: Queries, marketdata: MarketData, after: int) -> int:
    """Fold the stored trades past id ``after`` into ``marketdata``; the last id folded."""
    fresh = [row for row in queries.iter_trades() if row["id"] > after]
    marketdata.add_trades(fresh)
    return fresh[-1]["id"] if fresh else after
