"""``Services``: what the gateway (api, oauth, web) is handed by ``bourse.bootstrap``.

Every member is typed, so a reader of a handler knows what it can reach. Services themselves
never receive this bundle: each takes its collaborators as constructor arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine as SAEngine

from bourse.bus.followers import Followers
from bourse.config import Config
from bourse.engine import Engine
from bourse.services.apikeys import ApiKeys
from bourse.services.brokers import Brokers
from bourse.services.listenkeys import ListenKeys
from bourse.services.marketdata import MarketData
from bourse.services.referrals import Referrals
from bourse.services.signed_reads import SignedReads
from bourse.services.subaccounts import SubAccounts
from bourse.services.users import Users
from bourse.services.wallet import Chain, WalletService
from bourse.services.wallet.internal import InternalTransfers
from bourse.store.queries import Queries
from bourse.store.repositories.oauth import OAuthRepository
from bourse.store.sql import SqlStore

if TYPE_CHECKING:  # the bus's parts import NATS, which a process without a bus never needs
    from bourse.bus.cache_events import CacheEvents
    from bourse.bus.engine_server import CommandServer
    from bourse.bus.heartbeat import Heard, Listener, Publisher
    from bourse.bus.mirror import Mirror
    from bourse.bus.nats import NatsBus


@dataclass(slots=True, eq=False)
class Services:
    """The running platform as the gateway sees it; ``close()`` stops it."""

    config: Config
    db: SAEngine
    store: SqlStore
    engine: Engine
    apikeys: ApiKeys
    marketdata: MarketData
    queries: Queries
    brokers: Brokers
    #: background followers of the engine's change feed (live rebate accrual)
    followers: Followers
    subaccounts: SubAccounts
    wallet: WalletService
    #: transfers to other users (``capital/transfer/internal``)
    internal_transfers: InternalTransfers
    #: web users and their sessions (sign-up, log-in, 2FA)
    users: Users
    #: user referrals: refer codes, invitations, kickbacks (``accrue_pending`` pays them)
    referrals: Referrals
    #: the OAuth server's storage (clients, codes, tokens, consents)
    oauth: OAuthRepository
    #: the chain adapter behind the wallet (the sandbox simulator in demo and tests)
    chain: Chain
    #: the user-data stream keys, and the signal that tells open streams to check theirs
    listen_keys: ListenKeys
    #: the NATS bus the engine publishes its committed batches to (``Config.bus_url``), if any
    nats: NatsBus | None = None
    #: in a process that follows another one's engine over the bus: what keeps this process's
    #: read-only engine copy in step (``/ws`` and market data are served from it)
    mirror: Mirror | None = None
    #: the engine role's consumer of the gateways' command stream (``bourse engine``)
    commands: CommandServer | None = None
    #: the writer's heartbeat (``bus.heartbeat``): published by a ``bourse serve --bus`` writer
    #: (``Publisher``), heard by a follower (``Listener``, which its ``/readyz`` asks)
    heartbeat: Publisher | Listener | None = None
    #: API key and binding cache drops shared with the other processes (with a bus)
    caches: CacheEvents | None = None
    #: signatures of signed reads over the time window alone, which no write may spend
    #: (``bourse.api.mexc.replay``)
    signed_reads: SignedReads = field(default_factory=SignedReads)
    #: in demo mode (``bourse serve --demo``): the sandbox's controls, a
    #: ``bourse.sandbox.controls.Sandbox`` (faucet, market maker, faults, reset), which the
    #: ``sandbox.*`` operations drive; production code never looks at it
    sandbox: object | None = None
    _closed: bool = field(default=False, repr=False)

    def heard(self) -> tuple[str, Heard] | None:
        """Whose heartbeat this process counts on (``"engine"``: a gateway's, ``"writer"``: a
        follower's) and when it last heard it; None in the writer itself."""
        if self.nats is None and self.commands is None and self.heartbeat is None:
            return None  # no bus: nobody else's heartbeat to count on
        from bourse.bus.gateway import RemoteEngine
        from bourse.bus.heartbeat import Listener

        engine = self.engine
        client = engine.client if isinstance(engine, RemoteEngine) else None
        if client is not None:
            return "engine", client.heard
        if isinstance(self.heartbeat, Listener):
            return "writer", self.heartbeat.heard
        return None

    def close(self) -> None:
        """Stop the schedulers, the chain and the engine (finishing queued commands); release
        the database."""
        if self._closed:
            return
        self._closed = True
        if self.commands is not None:  # first: no new command, the replies already due go out
            self.commands.close()
        if self.heartbeat is not None:  # a writer shutting down beats no more
            self.heartbeat.close()
        stop = getattr(self.sandbox, "stop", None)
        if stop is not None:
            stop()
        self.followers.stop()
        if self.mirror is not None:
            self.mirror.close()
        self.brokers.close()
        self.chain.stop()
        self.engine.stop()
        if self.caches is not None:
            self.caches.close()
        if self.nats is not None:  # after the engine: its last batches are published too
            self.nats.close()
        self.store.close()
        self.db.dispose()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
