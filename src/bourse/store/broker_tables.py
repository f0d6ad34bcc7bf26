"""Tables of the broker program, on ``bourse.store.tables.metadata``.

Migration ``0002_brokers`` creates exactly these. Amounts are BIGINT smallest units, rates are
INTEGER parts per million, times BIGINT milliseconds since the epoch.

* ``brokers``: one row per broker application (one per main account);
* ``broker_rate_history``: every rebate rate a broker ever had and from when it applies; the
  rate in force at a trade's time is the latest row with ``effective_from <= trade time``;
* ``key_bindings``: API key -> broker. ``api_key`` is UNIQUE: a key is bound at most once, ever;
  unbinding closes the row (``unbound_at``) and the key cannot be bound again;
* ``order_attributions``: the attribution decision of an order whose ``source`` was refused
  (unknown or not-approved broker), for audit; attributed orders carry ``orders.broker_id``;
* ``rebates``: one accrued rebate per (trade, side), the projection of ``trades``;
* ``rebate_settlements``: one row per payout (broker, asset) with its idempotent engine key;
* ``broker_cursors``: projection watermarks (the last trade id accrued).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bourse.store.tables import Id, metadata

brokers = Table(
    "brokers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),  # the broker's main account (UID)
    Column("rebate_account_id", BigInteger, nullable=False),  # receives rebates (may differ)
    Column("type", String(16), nullable=False),  # API / INDEPENDENT / OAUTH
    Column("status", String(16), nullable=False),  # PENDING / APPROVED / REJECTED / SUSPENDED
    Column("name", String(128), nullable=False),
    Column("code", String(64), nullable=True),  # optional ``source`` alias, unique
    Column("logo_url", String(512), nullable=False, default=""),
    Column("callback_url", String(512), nullable=False, default=""),  # as applied; informative
    # the OAuth scopes an OAUTH broker's clients may hold (set by the operator at approval)
    Column("oauth_scopes", String(64), nullable=False, default="read trade"),
    Column("note", Text, nullable=False, default=""),
    Column("reason", String(256), nullable=False, default=""),  # last reject/suspend reason
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    UniqueConstraint("account_id", name="uq_brokers_account"),
    UniqueConstraint("code", name="uq_brokers_code"),
)

broker_rate_history = Table(
    "broker_rate_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("broker_id", BigInteger, nullable=False),
    Column("rate_ppm", Integer, nullable=False),
    Column("effective_from", BigInteger, nullable=False),
    Column("set_at", BigInteger, nullable=False),
    Column("note", String(128), nullable=False, default=""),
    Index("ix_broker_rate_history_broker", "broker_id", "effective_from"),
)

key_bindings = Table(
    "key_bindings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("api_key", String(64), nullable=False),
    Column("account_id", BigInteger, nullable=False),  # the key's owner
    Column("broker_id", BigInteger, nullable=False),
    Column("bound_at", BigInteger, nullable=False),
    Column("unbound_at", BigInteger, nullable=True),  # NULL = bound
    Column("unbound_by", String(16), nullable=False, default=""),  # user/broker/admin/key_deleted
    UniqueConstraint("api_key", name="uq_key_bindings_api_key"),
    Index("ix_key_bindings_broker", "broker_id", "unbound_at"),
)

order_attributions = Table(
    "order_attributions",
    metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("api_key", String(64), nullable=False, default=""),
    Column("source", String(64), nullable=False, default=""),  # the raw header
    Column("broker_id", BigInteger, nullable=True),
    Column("status", String(24), nullable=False),  # domain.brokers.AttributionStatus
    Column("time", BigInteger, nullable=False),
    Index("ix_order_attributions_status", "status", "time"),
)

rebates = Table(
    "rebates",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("trade_id", BigInteger, nullable=False),
    Column("side", SmallInteger, nullable=False),  # 0 = buyer, 1 = seller
    Column("order_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),  # the trading account
    Column("broker_id", BigInteger, nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("asset", String(32), nullable=False),  # fee asset = rebate asset
    Column("fee", BigInteger, nullable=False),
    Column("rebate", BigInteger, nullable=False),
    Column("rate_ppm", Integer, nullable=False),  # the rate in force at trade time
    Column("maker", Boolean, nullable=False),
    Column("trade_time", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # domain.brokers.RebateStatus
    Column("settlement_key", String(160), nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("settled_at", BigInteger, nullable=True),
    UniqueConstraint("trade_id", "side", name="uq_rebates_trade_side"),
    Index("ix_rebates_broker_time", "broker_id", "trade_time"),
    Index("ix_rebates_status", "status", "broker_id", "asset"),
    Index("ix_rebates_settlement", "settlement_key"),
)

rebate_settlements = Table(
    "rebate_settlements",
    metadata,
    Column("key", String(160), primary_key=True),  # the engine PayRebates settlement_key
    Column("broker_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),  # the payee (rebate account)
    Column("asset", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # settling / settled / failed
    Column("error", String(256), nullable=False, default=""),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Index("ix_rebate_settlements_broker", "broker_id", "created"),
    Index("ix_rebate_settlements_status", "status"),
)

broker_cursors = Table(
    "broker_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

__all__ = [
    "broker_cursors",
    "broker_rate_history",
    "brokers",
    "key_bindings",
    "order_attributions",
    "rebate_settlements",
    "rebates",
]
