"""The database schema (SQLAlchemy Core). Migrations in ``store/migrations`` create exactly this.

Amounts are BIGINT counts of smallest units (the domain refuses anything above 2**63 - 1), times
are BIGINT milliseconds since the epoch. Nothing is stored as a float.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
)

from bourse.domain.orders import OrderStatus

metadata = MetaData()

#: a BIGINT primary key that SQLite keeps as its rowid (declared INTEGER there): the table is
#: one B-tree keyed by it, where a BIGINT primary key is a rowid table and an index of its key,
#: two B-trees to write for every row (migration 0026)
Id = BigInteger().with_variant(Integer(), "sqlite")

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

#: small operator settings as text (e.g. the URL the server was last started on)
settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

assets = Table(
    "assets",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("scale", SmallInteger, nullable=False),
    Column("name", String(128), nullable=False, default=""),
)

symbols = Table(
    "symbols",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("base", String(32), nullable=False),
    Column("quote", String(32), nullable=False),
    Column("price_scale", SmallInteger, nullable=False),
    Column("qty_scale", SmallInteger, nullable=False),
    Column("min_qty", BigInteger, nullable=False),
    Column("max_qty", BigInteger, nullable=False),
    Column("min_notional", BigInteger, nullable=False),
    Column("max_notional", BigInteger, nullable=False),
    Column("trading", Boolean, nullable=False, default=True),
    #: comma-separated ``OrderType`` names allowed on the symbol (``Symbol.order_types``)
    Column("order_types", String(160), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("parent_id", BigInteger, nullable=True),
    Column("frozen", Boolean, nullable=False, default=False),
    Column("name", String(128), nullable=False, default=""),
    Column("mx_deduct", Boolean, nullable=False, default=False),
)

balances = Table(
    "balances",
    metadata,
    Column("account_id", BigInteger, primary_key=True),
    Column("asset", String(32), primary_key=True),
    Column("available", BigInteger, nullable=False),
    Column("locked", BigInteger, nullable=False),
)

postings = Table(
    "postings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("from_account", BigInteger, nullable=False),
    Column("from_bucket", SmallInteger, nullable=False),
    Column("to_account", BigInteger, nullable=False),
    Column("to_bucket", SmallInteger, nullable=False),
    Column("asset", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("ref", BigInteger, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", SmallInteger, nullable=False),
    Column("type", String(24), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("quote_qty", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("filled_qty", BigInteger, nullable=False),
    Column("filled_quote", BigInteger, nullable=False),
    Column("locked", BigInteger, nullable=False),
    Column("status", String(24), nullable=False),
    Column("client_id", String(64), nullable=False, default=""),
    Column("stp", String(16), nullable=False),
    Column("source", String(64), nullable=False, default=""),
    Column("broker_id", BigInteger, nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("cancel_reason", String(32), nullable=False, default=""),
    Index("ix_orders_account_symbol", "account_id", "symbol", "id"),
    Index("ix_orders_client", "account_id", "client_id"),
)

#: the statuses of an open order (``domain.orders.OPEN_STATUSES``), in the order
#: ``ix_orders_open`` names them
OPEN_ORDER_STATUSES = (OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)

#: ``WHERE`` of a query for open orders, the predicate of ``ix_orders_open`` as its constants:
#: SQLite uses a partial index only for a query that repeats its predicate, the same constants
#: in the same order (bound parameters do not count), and PostgreSQL's planner must see them too
OPEN_ORDER = orders.c.status.in_(
    bindparam("open_statuses", OPEN_ORDER_STATUSES, expanding=True, literal_execute=True)
)

# open orders only (what the engine loads on start and the ledger check holds): most orders
# close within their batch (an IMMEDIATE_OR_CANCEL, a market order), and a closed order's row
# then writes no page of this index (migration 0026; a full ``status`` index before)
Index(
    "ix_orders_open",
    orders.c.status,
    sqlite_where=orders.c.status.in_(OPEN_ORDER_STATUSES),
    postgresql_where=orders.c.status.in_(OPEN_ORDER_STATUSES),
)

trades = Table(
    "trades",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("symbol", String(64), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("quote_qty", BigInteger, nullable=False),
    Column("buyer_order", BigInteger, nullable=False),
    Column("seller_order", BigInteger, nullable=False),
    Column("buyer_account", BigInteger, nullable=False),
    Column("seller_account", BigInteger, nullable=False),
    Column("taker_side", SmallInteger, nullable=False),
    Column("buyer_fee", BigInteger, nullable=False),
    Column("seller_fee", BigInteger, nullable=False),
    Column("buyer_broker", BigInteger, nullable=True),
    Column("seller_broker", BigInteger, nullable=True),
    Column("time", BigInteger, nullable=False),
    # the asset a side paid its fee in when not base (buyer) / quote (seller): "MX" or NULL
    Column("buyer_fee_asset", String(32), nullable=True),
    Column("seller_fee_asset", String(32), nullable=True),
    Index("ix_trades_symbol_time", "symbol", "time"),
    Index("ix_trades_buyer", "buyer_account", "symbol", "id"),
    Index("ix_trades_seller", "seller_account", "symbol", "id"),
)

fee_overrides = Table(
    "fee_overrides",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("maker", Integer, nullable=False),
    Column("taker", Integer, nullable=False),
)

withdrawals = Table(
    "withdrawals",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("asset", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("address", String(256), nullable=False),
    Column("network", String(64), nullable=False),
    Column("memo", String(256), nullable=False, default=""),
    Column("client_id", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("txid", String(128), nullable=False, default=""),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    # the client's remark, written with the reserve (migration 0019 moved it here)
    Column("remark", String(256), nullable=False, default=""),
    Index("ix_withdrawals_account", "account_id", "id"),
    Index("ix_withdrawals_status", "status"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("from_account", BigInteger, nullable=False),
    Column("to_account", BigInteger, nullable=False),
    Column("asset", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("client_id", String(64), nullable=False, default=""),
    Column("time", BigInteger, nullable=False),
    Index("ix_transfers_from", "from_account", "id"),
    Index("ix_transfers_to", "to_account", "id"),
)

deposits = Table(
    "deposits",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tx_ref", String(160), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("asset", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("time", BigInteger, nullable=False),
    UniqueConstraint("tx_ref", name="uq_deposits_tx_ref"),
    Index("ix_deposits_account", "account_id", "id"),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("scope", String(16), primary_key=True),
    Column("account_id", BigInteger, primary_key=True),
    Column("client_id", String(160), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("result_id", BigInteger, nullable=False),
    Column("time", BigInteger, nullable=False),
    # SQLite: one B-tree keyed by the primary key, not a rowid table and an index of its key
    sqlite_with_rowid=False,
)

#: replay keys of signed requests the engine accepted lately (``engine.replays``): refused again
#: until ``expires`` (ms); older rows are dropped as batches commit
replays = Table(
    "replays",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("expires", BigInteger, nullable=False),
    Index("ix_replays_expires", "expires"),
    sqlite_with_rowid=False,  # as ``idempotency``
)

#: API keys. The secret is encrypted at rest (Fernet, key from the server's key file) because
#: HMAC verification needs the plain secret; it is shown to the user exactly once.
api_keys = Table(
    "api_keys",
    metadata,
    Column("api_key", String(64), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("label", String(128), nullable=False, default=""),
    Column("permissions", Text, nullable=False),  # comma-separated MEXC permission names
    Column("ip_whitelist", Text, nullable=False, default=""),  # comma-separated; empty = any
    Column("symbols", Text, nullable=False, default=""),  # comma-separated; empty = all
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=True),  # ms; NULL = never
    Column("revoked", Boolean, nullable=False, default=False),
    Index("ix_api_keys_account", "account_id"),
)


#: STP groups (``domain.stp_groups``): written by the engine; a deleted group keeps its row
stp_groups = Table(
    "stp_groups",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("owner_account", BigInteger, nullable=False),
    Column("name", String(64), nullable=False),
    Column("members", Text, nullable=False, default=""),  # comma-separated account ids
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Index("ix_stp_groups_owner", "owner_account"),
)


#: dust conversions to MX (``domain.dust``): one row per converted asset, written by the engine
dust_conversions = Table(
    "dust_conversions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("line", SmallInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("asset", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("convert", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("time", BigInteger, nullable=False),
    Index("ix_dust_conversions_account_time", "account_id", "time"),
)


#: each traded symbol's reference price (``domain.reference_price``), written by the engine with
#: the batch of the trades that moved it: ``price + fraction / 10**9`` price units, as of the
#: trade at ``last`` price units at ``time``; ``since`` is the symbol's first trade's time (0: it
#: traded before that was kept, migration 0023)
reference_prices = Table(
    "reference_prices",
    metadata,
    Column("symbol", String(64), primary_key=True),
    Column("price", BigInteger, nullable=False),
    Column("fraction", BigInteger, nullable=False),
    Column("last", BigInteger, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("since", BigInteger, nullable=False),
)
