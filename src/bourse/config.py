"""Configuration of a running Bourse: rate limits, database, fees, wallet and chain settings.

Plain values only; ``bourse.bootstrap`` turns a ``Config`` into a running platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bourse.domain.orders import StpMode


@dataclass(slots=True)
class RateLimits:
    """Request budgets, as MEXC counts them: 500 per 10 s per endpoint, per account (UID) for
    signed endpoints and per IP for public ones.

    ``special`` maps a path to ``(requests, window_ms)`` for endpoints with their own cap
    (MEXC: ``batchOrders`` and ``account`` at 2 requests per second). An endpoint is a method
    and a path. A client that keeps sending after its 429s (``ban_after`` refused requests of
    its own in one window) is banned with HTTP 418 for ``ban_ms`` (MEXC: 2 minutes and up): its
    IP on public endpoints, its credential (API key, OAuth grant) on signed ones, never the
    account's other keys; 0 turns bans off.
    """

    enabled: bool = True
    requests: int = 500
    window_ms: int = 10_000
    ban_after: int = 100
    ban_ms: int = 120_000
    special: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {
            "/api/v3/batchOrders": (2, 1000),
            "/api/v3/account": (2, 1000),
        }
    )

    @classmethod
    def off(cls) -> RateLimits:
        return cls(enabled=False)

    def describe(self) -> str:
        """One line for banners and logs."""
        if not self.enabled:
            return "off"
        caps = ", ".join(
            f"{p} {n}/{w // 1000 or w}{'s' if w >= 1000 else 'ms'}"
            for p, (n, w) in self.special.items()
        )
        ban = (
            f"; 418 ban {self.ban_ms // 1000}s after {self.ban_after} refusals"
            if self.ban_after
            else ""
        )
        return f"{self.requests} per {self.window_ms // 1000}s per endpoint (per UID signed, per IP public); {caps}{ban}"


@dataclass(slots=True)
class AuthLimits:
    """Budgets of credential checks (``bourse.services.throttle``) and the log-in back-off
    (``bourse.services.users``); docs/security.md explains each.

    * ``per_ip``, ``per_account``: ``(failures, window_ms)`` of log-ins (``/login``) and of
      OAuth client authentications (``/oauth/token``, ``/oauth/revoke``,
      ``/oauth/introspect``) and of sub-account fund passwords per client IP and per account
      (e-mail, client id or sub-account); the next
      attempt gets HTTP 429 with ``Retry-After`` and no password or secret is checked;
    * ``signups``: ``(sign-ups, window_ms)`` per client IP;
    * ``enabled``: ``False`` switches these three off (tests, load tests);
    * ``backoff_after``, ``backoff_ms``, ``backoff_max_ms``: the lock per (e-mail, client IP):
      after ``backoff_after`` failures in a row that pair must wait ``backoff_ms``, doubled at
      each further failure up to ``backoff_max_ms``. It is kept in the database and is not
      switched off by ``enabled``.
    """

    enabled: bool = True
    per_ip: tuple[int, int] = (30, 60_000)
    per_account: tuple[int, int] = (100, 600_000)
    signups: tuple[int, int] = (20, 3_600_000)
    backoff_after: int = 5
    backoff_ms: int = 30_000
    backoff_max_ms: int = 900_000

    @classmethod
    def off(cls) -> AuthLimits:
        return cls(enabled=False)

    def describe(self) -> str:
        """One line for banners and logs."""

        def per(budget: tuple[int, int]) -> str:
            return f"{budget[0]}/{budget[1] // 1000}s"

        backoff = (
            f"back-off per e-mail+IP after {self.backoff_after} failures: "
            f"{self.backoff_ms // 1000}s doubling to {self.backoff_max_ms // 1000}s"
        )
        if not self.enabled:
            return f"credential throttle off; {backoff}"
        return (
            f"failed log-ins and OAuth client checks {per(self.per_ip)} per IP, "
            f"{per(self.per_account)} per account; sign-ups {per(self.signups)} per IP; " + backoff
        )


@dataclass(slots=True)
class Config:
    """Everything ``bourse.bootstrap.open_platform`` needs.

    * ``database_url``: SQLAlchemy URL (``sqlite:///path.db`` or ``postgresql://...``);
    * ``secret_key`` / ``secret_key_file`` / ``key_dir``: the server key encrypting API and
      TOTP secrets at rest (else ``BOURSE_SECRET_KEY`` / ``BOURSE_SECRET_KEY_FILE`` / the
      configuration directory; never beside the database: ``bourse.services.serverkey``);
    * ``require_secret_key``: production rules (``bourse serve`` without ``--demo``): the key
      must exist already, apart from the data, and open the stored secrets; else the platform
      does not start;
    * ``rate_limits``: see ``RateLimits`` (``RateLimits.off()`` for tests and benches);
    * ``auth_limits``: see ``AuthLimits`` (log-in, sign-up and OAuth client throttles and
      the log-in back-off; ``AuthLimits.off()`` switches the throttles off);
    * ``maker_fee_ppm`` / ``taker_fee_ppm``: default fee rates in parts per million;
    * ``stp_default``: self-trade prevention applied when an order sends no ``stpMode``
      (default none, as MEXC; ``stpMode=""`` always means none);
    * ``default_listings``: on an empty database, list the default assets and symbols of
      ``bourse.sandbox.listings`` so a fresh exchange is usable;
    * ``trust_forwarded_for``: take the client IP from ``X-Forwarded-For``'s last hop, the one
      a proxy appends (behind a proxy you run: ``services.throttle.client_ip``);
    * ``unsigned_broker_bodies``: take a JSON body outside the signature on the broker writes
      ccxt sends that way (``api.mexc.auth.BODY_OUTSIDE_SIGNATURE``, each signature once), as
      MEXC does; off, those writes need the body signed too (docs/security.md).
    """

    database_url: str = "sqlite:///.bourse/bourse.db"
    secret_key: str | None = None
    secret_key_file: str | None = None
    key_dir: str | None = None
    require_secret_key: bool = False
    rate_limits: RateLimits = field(default_factory=RateLimits)
    auth_limits: AuthLimits = field(default_factory=AuthLimits)
    maker_fee_ppm: int = 0
    taker_fee_ppm: int = 500
    stp_default: StpMode = StpMode.NONE
    default_listings: bool = True
    trust_forwarded_for: bool = False
    unsigned_broker_bodies: bool = True
    #: the externally visible base URL (OAuth issuer, links); else BOURSE_PUBLIC_URL
    public_url: str | None = None
    #: run the daily broker rebate settlement job at this UTC time "HH:MM" (None: off)
    rebate_settle_at: str | None = "00:05"
    #: user referrals: the inviter's share of an invitee's trading fees, and the invitee's own
    #: kickback, in ppm of the fee (``bourse.domain.referrals``)
    referral_rate_ppm: int = 200_000
    referral_kickback_ppm: int = 0
    #: accrue and pay referral kickbacks live, by a follower of the engine's change feed (else
    #: only when ``Referrals.accrue_pending`` is called)
    referrals_live: bool = True
    #: accrue broker rebates live, by a follower of the engine's change feed (else only when
    #: ``bourse brokers accrue``/``settle`` or the daily job runs)
    rebates_live: bool = True
    #: build the market-data projections (tickers, klines, recent trades) by replaying every
    #: stored trade: a server needs them; a command that runs one operation and exits does
    #: not, and on a long-running exchange the replay is most of its time
    market_data: bool = True
    #: after an OAuth client secret is rotated, the old one keeps working this long (seconds)
    oauth_secret_grace_s: int = 86_400
    #: how long an order's ``newClientOrderId`` stays reserved after the order closed
    #: (seconds, at least 65; an open order keeps it): a retry within it returns the order, a
    #: reuse after it places a new one (``bourse.engine.idempotency``). None: the environment's
    #: ``BOURSE_CLIENT_ORDER_ID_RETENTION``, else 86400 (24 hours)
    client_order_id_retention_s: int | None = None
    #: wallet rules (review thresholds, sandbox endpoints); see ``bourse.services.wallet.WalletSettings``
    wallet: Any = None
    #: NATS server of the bus (``nats://host:4222``; the CLI also reads ``BOURSE_BUS_URL``):
    #: committed batches are published there, so several processes serve the same streams.
    #: None: the streams stay in this process
    bus_url: str | None = None
    #: names the bus's JetStream stream and subject: one name per exchange on a NATS server
    bus_name: str = "bourse"
    #: with a bus: "writer" owns the engine, "follower" serves /ws and market data from the
    #: bus, "auto" is the writer if no other process writes the database, else a follower
    role: str = "auto"
    #: simulated chain: seconds per block, share of broadcasts that fail or get stuck
    chain_block_interval: float = 2.0
    chain_failure_rate: float = 0.0
    chain_stuck_rate: float = 0.0
    #: bound every lock wait on PostgreSQL to this many ms (the ``bourse`` command sets it, so
    #: nothing it runs can hang behind a server's locks; None: wait as long as it takes)
    lock_timeout_ms: int | None = None
