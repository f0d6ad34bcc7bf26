"""Initial schema: exactly ``bourse.store.tables`` as of this revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: an auto-incrementing BIGINT that SQLite also treats as its rowid
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "assets",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("scale", sa.SmallInteger, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
    )
    op.create_table(
        "symbols",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("base", sa.String(32), nullable=False),
        sa.Column("quote", sa.String(32), nullable=False),
        sa.Column("price_scale", sa.SmallInteger, nullable=False),
        sa.Column("qty_scale", sa.SmallInteger, nullable=False),
        sa.Column("min_qty", sa.BigInteger, nullable=False),
        sa.Column("max_qty", sa.BigInteger, nullable=False),
        sa.Column("min_notional", sa.BigInteger, nullable=False),
        sa.Column("max_notional", sa.BigInteger, nullable=False),
        sa.Column("trading", sa.Boolean, nullable=False),
        sa.Column("order_types", sa.String(160), nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parent_id", sa.BigInteger, nullable=True),
        sa.Column("frozen", sa.Boolean, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
    )
    op.create_table(
        "balances",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("asset", sa.String(32), primary_key=True),
        sa.Column("available", sa.BigInteger, nullable=False),
        sa.Column("locked", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "postings",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("from_account", sa.BigInteger, nullable=False),
        sa.Column("from_bucket", sa.SmallInteger, nullable=False),
        sa.Column("to_account", sa.BigInteger, nullable=False),
        sa.Column("to_bucket", sa.SmallInteger, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("ref", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.SmallInteger, nullable=False),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("qty", sa.BigInteger, nullable=False),
        sa.Column("quote_qty", sa.BigInteger, nullable=False),
        sa.Column("remaining", sa.BigInteger, nullable=False),
        sa.Column("filled_qty", sa.BigInteger, nullable=False),
        sa.Column("filled_quote", sa.BigInteger, nullable=False),
        sa.Column("locked", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("stp", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("broker_id", sa.BigInteger, nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.Column("cancel_reason", sa.String(32), nullable=False),
    )
    op.create_index("ix_orders_account_symbol", "orders", ["account_id", "symbol", "id"])
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_index("ix_orders_client", "orders", ["account_id", "client_id"])
    op.create_table(
        "trades",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("qty", sa.BigInteger, nullable=False),
        sa.Column("quote_qty", sa.BigInteger, nullable=False),
        sa.Column("buyer_order", sa.BigInteger, nullable=False),
        sa.Column("seller_order", sa.BigInteger, nullable=False),
        sa.Column("buyer_account", sa.BigInteger, nullable=False),
        sa.Column("seller_account", sa.BigInteger, nullable=False),
        sa.Column("taker_side", sa.SmallInteger, nullable=False),
        sa.Column("buyer_fee", sa.BigInteger, nullable=False),
        sa.Column("seller_fee", sa.BigInteger, nullable=False),
        sa.Column("buyer_broker", sa.BigInteger, nullable=True),
        sa.Column("seller_broker", sa.BigInteger, nullable=True),
        sa.Column("time", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_trades_symbol_time", "trades", ["symbol", "time"])
    op.create_index("ix_trades_buyer", "trades", ["buyer_account", "symbol", "id"])
    op.create_index("ix_trades_seller", "trades", ["seller_account", "symbol", "id"])
    op.create_table(
        "fee_overrides",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("maker", sa.Integer, nullable=False),
        sa.Column("taker", sa.Integer, nullable=False),
    )
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("fee", sa.BigInteger, nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("memo", sa.String(256), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("txid", sa.String(128), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_withdrawals_account", "withdrawals", ["account_id", "id"])
    op.create_index("ix_withdrawals_status", "withdrawals", ["status"])
    op.create_table(
        "transfers",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("from_account", sa.BigInteger, nullable=False),
        sa.Column("to_account", sa.BigInteger, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_transfers_from", "transfers", ["from_account", "id"])
    op.create_index("ix_transfers_to", "transfers", ["to_account", "id"])
    op.create_table(
        "deposits",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("tx_ref", sa.String(160), nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("tx_ref", name="uq_deposits_tx_ref"),
    )
    op.create_index("ix_deposits_account", "deposits", ["account_id", "id"])
    op.create_table(
        "idempotency",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("client_id", sa.String(160), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("result_id", sa.BigInteger, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("api_key", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("secret_enc", sa.LargeBinary, nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("permissions", sa.Text, nullable=False),
        sa.Column("ip_whitelist", sa.Text, nullable=False),
        sa.Column("symbols", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_index("ix_api_keys_account", "api_keys", ["account_id"])


def downgrade() -> None:
    for name in (
        "api_keys",
        "idempotency",
        "deposits",
        "transfers",
        "withdrawals",
        "fee_overrides",
        "trades",
        "orders",
        "postings",
        "balances",
        "accounts",
        "symbols",
        "assets",
        "settings",
        "meta",
    ):
        op.drop_table(name)
